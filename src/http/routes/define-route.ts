import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { Errors } from '../../domain/errors.js';
import { ErrorEnvelope } from '../schemas.js';
import type { AuthKind, RouteConfig } from '../context.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Marks, in a route's schema and so in its OpenAPI operation, a body that may be left out. */
export const OPTIONAL_BODY = 'x-roomkv-optional-body';

export interface MethodSpec {
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  body?: TSchema;
  querystring?: TSchema;
  /** The body may be absent (get with no body means every attribute). */
  optionalBody?: boolean;
  summary: string;
  /** The 200 answer, for the OpenAPI document. */
  response: TSchema;
  /** Largest body in bytes, when this route takes less than the server's limit. */
  bodyLimit?: number;
}

const ALL: Method[] = ['GET', 'POST', 'PUT', 'DELETE'];
const TAGS: Record<AuthKind, string> = { attr: 'attributes', stream: 'events', admin: 'administration', none: 'tokens' };
const EXTRA: HTTPMethods[] = ['PATCH'];

/**
 * Registers one path with its methods, and a 405 for every other method so that a known path
 * with the wrong method is told apart from an unknown path (spec section 3). The 405 route only
 * resolves the app: the order of checks puts an unknown route before the token.
 */
export function defineRoute(f: FastifyInstance, url: string, auth: AuthKind, methods: Partial<Record<Method, MethodSpec>>): void {
  for (const [method, spec] of Object.entries(methods) as Array<[Method, MethodSpec]>) {
    const config: RouteConfig = { auth };
    f.route({
      method,
      url,
      config,
      ...(spec.bodyLimit !== undefined ? { bodyLimit: spec.bodyLimit } : {}),
      schema: {
        summary: spec.summary,
        tags: [TAGS[auth]],
        // Fastify's schema has no optional body; registerDocs reads this mark into the document.
        ...(spec.optionalBody === true ? { [OPTIONAL_BODY]: true } : {}),
        ...(spec.body ? { body: spec.body } : {}),
        ...(spec.querystring ? { querystring: spec.querystring } : {}),
        response: { 200: spec.response, '4xx': ErrorEnvelope, '5xx': ErrorEnvelope },
      },
      attachValidation: spec.optionalBody === true,
      // Not async: the handler's own promise goes to Fastify as it is, without a second one around
      // it; Fastify sends what a synchronous throw carries like a rejection.
      handler: (req, reply) => {
        // An absent body is allowed here; a present one must still match the schema.
        if (req.validationError && req.body !== undefined) throw req.validationError;
        return spec.handler(req, reply);
      },
    });
  }
  const others = [...ALL.filter((m) => !(m in methods)), ...EXTRA];
  const config: RouteConfig = { auth: 'none' };
  f.route({
    method: others,
    url,
    config,
    schema: { hide: true },
    handler: async () => {
      throw Errors.methodNotSupported();
    },
  });
}
