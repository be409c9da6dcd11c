import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { AppRegistry } from '../config/apps.js';
import { ApiError, Errors } from '../domain/errors.js';
import { pathOf } from './context.js';
import { errorBody } from './envelope.js';

function describeValidation(err: FastifyError): string {
  // With alternatives (anyOf), the deepest error names the field that is wrong.
  const v = [...(err.validation ?? [])].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  if (!v) return err.message;
  const missing = (v.params as { missingProperty?: string }).missingProperty;
  const where = `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`;
  return missing ? `${where}.${missing} is required` : `${where} ${v.message ?? 'is invalid'}`;
}

/** Maps anything thrown in a request to the catalogue; unknown errors become an opaque 500. */
export function toApiError(err: unknown, bodyLimit: number): ApiError | null {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError;
  if (fe.validation) return Errors.illegalArgument(describeValidation(fe));
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return Errors.unsupportedMediaType();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return Errors.bodyTooLarge(bodyLimit);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return Errors.illegalArgument(fe.message);
    default:
  }
  if (err instanceof SyntaxError) return Errors.jsonParse(err.message);
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return Errors.illegalArgument(fe.message);
  }
  return null;
}

export function errorHandler(bodyLimit: number) {
  return function handle(err: unknown, req: FastifyRequest, reply: FastifyReply) {
    // A route may take less than the server's limit (the token route): name the one that applied.
    const api = toApiError(err, req.routeOptions?.bodyLimit ?? bodyLimit);
    if (api === null) {
      req.log.error({ err }, 'unhandled error');
      return reply.code(500).type('application/json').send(errorBody(Errors.internal(), reply.elapsedTime));
    }
    if (api.status === 503) req.log.warn({ cause: api.description }, 'store unavailable');
    return reply.code(api.status).type('application/json').send(errorBody(api, reply.elapsedTime));
  };
}

/**
 * Unknown paths: an unknown app is reported first (spec's order of checks), then the path.
 * `/{org}/{app}/...` and `/app-id/{id}/...` are told apart by their first segment.
 */
export function notFoundHandler(apps: AppRegistry) {
  return function notFound(req: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(req);
    const seg = path.split('/').map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    let err: ApiError = Errors.serviceResourceNotFound();
    // split gives one segment at least, and a second exactly when seg.length >= 2.
    const [first = '', second] = seg;
    if (second !== undefined && first === 'app-id') {
      if (!apps.byAppId(second)) err = Errors.orgAppNotFound(`app-id/${second}`, path);
    } else if (second !== undefined && second !== '' && !apps.byOrgApp(first, second)) {
      err = Errors.orgAppNotFound(`${first}/${second}`, path);
    }
    return reply.code(err.status).type('application/json').send(errorBody(err, reply.elapsedTime));
  };
}
