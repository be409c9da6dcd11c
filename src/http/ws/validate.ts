import type { FastifySchemaCompiler } from 'fastify';
import type { Static, TSchema } from '@sinclair/typebox';
import { Errors } from '../../domain/errors.js';
import { toApiError } from '../errors.js';

type Validator = ((value: unknown) => unknown) & { errors?: unknown };

/**
 * Validates the parts of a WebSocket message with the validator Fastify compiles route schemas
 * with (same Ajv, same options), and refuses them with the message the REST error handler would
 * write: a set op's bad `metaData` is `body.metaData must be object`, word for word as over REST.
 * Fields that are the op's own (its room, user, resume point) are named `message.<field>`.
 */
export class MessageValidator {
  private readonly compiled = new Map<TSchema, Validator>();

  /** `compiler` is read when first needed: Fastify sets it up once the routes are registered. */
  constructor(
    private readonly compiler: () => FastifySchemaCompiler<TSchema> | undefined,
    private readonly bodyLimit: number,
  ) {}

  check<T extends TSchema>(schema: T, value: unknown, context: 'body' | 'message'): Static<T> {
    const validate = this.validator(schema);
    if (validate(value) === true) return value as Static<T>;
    throw (
      toApiError({ validation: validate.errors ?? [], validationContext: context, message: `${context} is invalid` }, this.bodyLimit) ??
      Errors.illegalArgument(`${context} is invalid`)
    );
  }

  private validator(schema: TSchema): Validator {
    let v = this.compiled.get(schema);
    if (v === undefined) {
      const compile = this.compiler();
      if (compile === undefined)
        throw new Error('the WebSocket routes have no validator compiler (no route with a schema in their scope?)');
      v = compile({ schema, method: 'GET', url: '/ws', httpPart: 'body' }) as Validator;
      this.compiled.set(schema, v);
    }
    return v;
  }
}
