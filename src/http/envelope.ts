import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '../domain/errors.js';
import { ctx } from './context.js';

/** The resource segment named in `uri`: attribute calls say metadata/chatroom, others their first segment. */
export type Resource = 'metadata/chatroom' | 'users' | 'chatrooms' | 'webhooks';

/** Sends Agora's success envelope (spec section 3); `extra` adds top-level fields like `entities` or `count`. */
export function sendOk(req: FastifyRequest, reply: FastifyReply, resource: Resource, data: unknown, extra?: Record<string, unknown>): FastifyReply {
  const app = ctx(req).app!;
  const body: Record<string, unknown> = {
    uri: `${req.protocol}://${req.headers.host ?? 'localhost'}/${app.org}/${app.app}/${resource}`,
    timestamp: Date.now(),
    organization: app.org,
    application: app.uuid,
    applicationName: app.app,
    action: req.method.toLowerCase(),
    duration: Math.round(reply.elapsedTime),
  };
  if (data !== undefined) body.data = data;
  if (extra) Object.assign(body, extra);
  return reply.code(200).type('application/json').send(body);
}

export function errorBody(err: ApiError, durationMs: number) {
  return {
    error: err.error,
    exception: err.exception,
    timestamp: Date.now(),
    duration: Math.round(durationMs),
    error_description: err.description,
  };
}
