import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '../domain/errors.js';
import { appOf } from './context.js';
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

/**
 * Sends Agora's success envelope (spec section 3): the fields of envelopeHead, then `data`, then
 * `extra`'s top-level fields like `entities` or `count`. The envelope is written here as text (a
 * string with a JSON content type is sent as it is), and a store's JSON text (JsonText) is spliced
 * in without being parsed. Fields whose value JSON leaves out (undefined) are left out, as
 * JSON.stringify would.
 */
export function sendOk(
  req: FastifyRequest,
  reply: FastifyReply,
  resource: Resource,
  data: unknown,
  extra?: Record<string, unknown>,
): FastifyReply {
  let text = envelopeHead(req, reply, appOf(req), resource);
  const dataText = data instanceof JsonText ? data.text : JSON.stringify(data);
  if (dataText !== undefined) text += `,"data":${dataText}`;
  if (extra !== undefined) {
    for (const [key, value] of Object.entries(extra)) {
      const valueText = JSON.stringify(value);
      if (valueText !== undefined) text += `,${JSON.stringify(key)}:${valueText}`;
    }
  }
  return reply.code(200).type('application/json').send(`${text}}`);
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
