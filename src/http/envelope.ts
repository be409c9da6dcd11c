import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '../domain/errors.js';
import { ctx } from './context.js';

/** The resource segment named in `uri`: attribute calls say metadata/chatroom, others their first segment. */
export type Resource = 'metadata/chatroom' | 'users' | 'chatrooms' | 'webhooks';

/** `data` that is already JSON text (a store's attribute map): spliced into the envelope as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

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
  if (data instanceof JsonText) {
    if (extra) Object.assign(body, extra);
    // A string with a JSON content type is sent as it is; the body always has fields, so `head`
    // ends in `}` after at least one of them.
    const head = JSON.stringify(body);
    return reply.code(200).type('application/json').send(`${head.slice(0, -1)},"data":${data.text}}`);
  }
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
