import type {
  FastifyInstance,
  HTTPMethods,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteHandlerMethod,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema } from '@sinclair/typebox';
import { Errors } from '../../domain/errors.js';
import { ErrorEnvelope } from '../schemas.js';
import type { AuthKind, RouteConfig } from '../context.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Marks, in a route's schema and so in its OpenAPI operation, a body that may be left out. */
export const OPTIONAL_BODY = 'x-roomkv-optional-body';

/** What a method validates, and so what its handler's `req.body` and `req.query` are. */
export interface RequestSchemas {
  body?: TSchema;
  querystring?: TSchema;
}

/**
 * The `:name` segments of a route's path, as its `req.params`. Path params are not given a
 * schema: the prefix's own (`:org/:app` or `:appId`) differ, and the OpenAPI document takes
 * them from the path.
 */
export type PathParams<U extends string> = U extends `${string}:${infer P}/${infer Rest}`
  ? { [K in P]: string } & PathParams<`/${Rest}`>
  : U extends `${string}:${infer P}`
    ? { [K in P]: string }
    : unknown;

export interface MethodSpec<P, S extends RequestSchemas> {
  /** The body and query schemas, validated before the handler runs; `{}` when it reads neither. */
  schema: S;
  /** Its `req.params`, `req.body` and `req.query` typed by the TypeBox type provider. */
  handler: RouteHandlerMethod<
    RawServerDefault,
    RawRequestDefaultExpression,
    RawReplyDefaultExpression,
    { Params: P },
    RouteConfig,
    S,
    TypeBoxTypeProvider
  >;
  /** The body may be absent (get with no body means every attribute). */
  optionalBody?: boolean;
  summary: string;
  /** The 200 answer, for the OpenAPI document. */
  response: TSchema;
  /** Largest body in bytes, when this route takes less than the server's limit. */
  bodyLimit?: number;
}

/** A path's methods, each typed from its own schemas (hence one type parameter per method). */
export interface RouteMethods<P, G extends RequestSchemas, O extends RequestSchemas, U extends RequestSchemas, D extends RequestSchemas> {
  GET?: MethodSpec<P, G>;
  POST?: MethodSpec<P, O>;
  PUT?: MethodSpec<P, U>;
  DELETE?: MethodSpec<P, D>;
}

const ALL: Method[] = ['GET', 'POST', 'PUT', 'DELETE'];
const TAGS: Record<AuthKind, string> = { attr: 'attributes', stream: 'events', admin: 'administration', none: 'tokens' };
const EXTRA: HTTPMethods[] = ['PATCH'];

/**
 * Registers one path with its methods, and a 405 for every other method so that a known path
 * with the wrong method is told apart from an unknown path (spec section 3). The 405 route only
 * resolves the app: the order of checks puts an unknown route before the token.
 */
export function defineRoute<
  Url extends string,
  G extends RequestSchemas = RequestSchemas,
  O extends RequestSchemas = RequestSchemas,
  U extends RequestSchemas = RequestSchemas,
  D extends RequestSchemas = RequestSchemas,
>(f: FastifyInstance, url: Url, auth: AuthKind, methods: RouteMethods<PathParams<Url>, G, O, U, D>): void {
  const typed = f.withTypeProvider<TypeBoxTypeProvider>();
  const add = <S extends RequestSchemas>(method: Method, spec: MethodSpec<PathParams<Url>, S>) => {
    const config: RouteConfig = { auth };
    typed.route<{ Params: PathParams<Url> }, RouteConfig, S>({
      method,
      url,
      config,
      ...(spec.bodyLimit !== undefined ? { bodyLimit: spec.bodyLimit } : {}),
      schema: {
        summary: spec.summary,
        tags: [TAGS[auth]],
        // Fastify's schema has no optional body; registerDocs reads this mark into the document.
        ...(spec.optionalBody === true ? { [OPTIONAL_BODY]: true } : {}),
        ...spec.schema,
        response: { 200: spec.response, '4xx': ErrorEnvelope, '5xx': ErrorEnvelope },
      },
      attachValidation: spec.optionalBody === true,
      // Not async: the handler's own promise goes to Fastify as it is, without a second one around
      // it; Fastify sends what a synchronous throw carries like a rejection.
      handler(req, reply) {
        // An absent body is allowed here; a present one must still match the schema.
        if (req.validationError && req.body !== undefined) throw req.validationError;
        return spec.handler.call(this, req, reply);
      },
    });
  };
  // Each with its own schemas' types, in the order the methods are written (the document's order).
  const register = (m: Method) => {
    if (m === 'GET' && methods.GET) add(m, methods.GET);
    else if (m === 'POST' && methods.POST) add(m, methods.POST);
    else if (m === 'PUT' && methods.PUT) add(m, methods.PUT);
    else if (m === 'DELETE' && methods.DELETE) add(m, methods.DELETE);
  };
  for (const key of Object.keys(methods)) {
    const method = ALL.find((m) => m === key);
    if (method !== undefined) register(method);
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
