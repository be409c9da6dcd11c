import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '../domain/errors.js';
import { ctx } from './context.js';
import type { AppRecord } from '../config/apps.js';

/** The resource segment named in `uri`: attribute calls say metadata/chatroom, others their first segment. */
export type Resource = 'metadata/chatroom' | 'users' | 'chatrooms' | 'webhooks';

/** `data` that is already JSON text (a store's attribute map): spliced into the envelope as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** `"action":"post"` and the like, for the methods the API answers. */
const ACTIONS: Record<string, string> = { GET: '"get"', POST: '"post"', PUT: '"put"', DELETE: '"delete"' };
/** An app's three envelope fields as JSON text, made once per app. */
const APP_FIELDS = new WeakMap<AppRecord, string>();

function appFields(app: AppRecord): string {
  let text = APP_FIELDS.get(app);
  if (text === undefined) {
    text = `,"organization":${JSON.stringify(app.org)},"application":${JSON.stringify(app.uuid)},"applicationName":${JSON.stringify(app.app)}`;
    APP_FIELDS.set(app, text);
  }
  return text;
}

/**
 * The envelope's fields before `data` as JSON text, without the closing brace: the same text as
 * JSON.stringify of { uri, timestamp, organization, application, applicationName, action, duration },
 * written out field by field (the app's fields made once per app).
 */
export function envelopeHead(req: FastifyRequest, reply: FastifyReply, app: AppRecord, resource: Resource): string {
  const uri = `${req.protocol}://${req.headers.host ?? 'localhost'}/${app.org}/${app.app}/${resource}`;
  const duration = Math.round(reply.elapsedTime);
  return `{"uri":${JSON.stringify(uri)},"timestamp":${Date.now()}${appFields(app)},"action":${ACTIONS[req.method] ?? JSON.stringify(req.method.toLowerCase())},"duration":${Number.isFinite(duration) ? duration : 0}`;
}

/** Sends Agora's success envelope (spec section 3); `extra` adds top-level fields like `entities` or `count`. */
export function sendOk(req: FastifyRequest, reply: FastifyReply, resource: Resource, data: unknown, extra?: Record<string, unknown>): FastifyReply {
  const app = ctx(req).app!;
  if (extra === undefined) {
    // A string with a JSON content type is sent as it is: the envelope is written here as text, and
    // a store's JSON text (JsonText) is spliced in without being parsed.
    const head = envelopeHead(req, reply, app, resource);
    const text = data instanceof JsonText ? data.text : data === undefined ? undefined : JSON.stringify(data);
    return reply.code(200).type('application/json').send(text === undefined ? `${head}}` : `${head},"data":${text}}`);
  }
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
    Object.assign(body, extra);
    // The body always has fields, so its text ends in `}` after at least one of them.
    const head = JSON.stringify(body);
    return reply.code(200).type('application/json').send(`${head.slice(0, -1)},"data":${data.text}}`);
  }
  if (data !== undefined) body.data = data;
  Object.assign(body, extra);
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
