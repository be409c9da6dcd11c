import { Type, type Static } from '@sinclair/typebox';
import type { StoredEvent } from '../../domain/events.js';
import type { ApiError } from '../../domain/errors.js';
import type { EndReason } from '../../events/room-stream.js';
import type { Snapshot } from '../../store/types.js';
import { EventsQuery } from '../schemas.js';

/**
 * The WebSocket protocol of spec section 9: what a client sends (JSON text frames, one op each),
 * what the server sends back, and the close codes. The ops' bodies are the REST calls' bodies and
 * are validated with the same schemas (src/http/schemas.ts).
 */

/** Close codes: 4000-4999 are the application's (RFC 6455 section 7.4.2). */
export const CloseCode = {
  /** No token, a bad or expired token, a first message that is not `auth`; the token expired, or stopped serving. */
  unauthorized: 4401,
  /** The user or app already holds as many WebSocket connections as it may. */
  tooManyConnections: 4429,
  /** A binary frame: the protocol is JSON text only. */
  unsupportedData: 1003,
  /** The store failed while the connection was being authenticated. */
  internalError: 1011,
  /** The server is shutting down: reconnect (another instance, or this one once it is back). */
  serviceRestart: 1012,
} as const;

/** A client's id for an op, echoed in its reply: an integer or a short string; null when the message had none. */
export type MessageId = number | string | null;

export const OPS = ['subscribe', 'unsubscribe', 'set', 'delete', 'get', 'ping'] as const;
export type Op = (typeof OPS)[number];

/** The message fields that are not the REST call's body (the rest of a set/delete/get message is). */
export const ENVELOPE_FIELDS = ['op', 'id', 'room', 'user', 'forced'] as const;

const MAX_ID_CHARS = 64;

/** The id of a message, or undefined when it has none or one of the wrong kind. */
export function messageId(value: unknown): number | string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && value.length <= MAX_ID_CHARS) return value;
  return undefined;
}

export const BAD_ID = `message.id must be an integer or a string of at most ${MAX_ID_CHARS} characters`;
export const BAD_OP = `message.op must be one of ${OPS.join(', ')}`;

const Room = Type.String({ description: 'the chatroom id' });

/** A set or delete: the `{chatroom_id}`, `{username}` and `/forced` of the REST path. */
export const ActsAsFields = Type.Object({
  room: Room,
  user: Type.String({ minLength: 1 }),
  forced: Type.Optional(Type.Boolean()),
});
export type ActsAsFields = Static<typeof ActsAsFields>;

/** subscribe, unsubscribe and get name a room, as the REST path does. */
export const RoomFields = Type.Object({ room: Room });
export type RoomFields = Static<typeof RoomFields>;

/**
 * subscribe's resume point: `since` as the event stream's `?since=` (a seq, or an event id
 * `{seq}-{epoch}`), also as a JSON number; `epoch` as its `?epoch=`.
 */
export const ResumeFields = Type.Object({
  since: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 999_999_999_999_999 }), EventsQuery.properties.since])),
  epoch: EventsQuery.properties.epoch,
});
export interface ResumeFields {
  since?: number | string;
  epoch?: string;
}

/** The first message of a connection opened without a token. */
export interface AuthMessage {
  op: 'auth';
  token: string;
}

// ---- server messages

/** A successful reply; `dataJson` is the REST call's `data` as JSON text (a get's map is spliced in as the store wrote it). */
export function replyOk(id: MessageId, dataJson: string): string {
  return `{"type":"reply","id":${JSON.stringify(id)},"status":200,"data":${dataJson}}`;
}

/** An error reply: the REST call's status, `error` and `error_description`. */
export function replyError(id: MessageId, err: ApiError): string {
  return JSON.stringify({ type: 'reply', id, status: err.status, error: err.error, error_description: err.description });
}

/**
 * A change event: the stored event object (spec section 7) with `type` and the log's `epoch` in
 * front of its fields (with the seq, the epoch is a resume point, as an SSE event's id).
 */
export function eventMessage(e: StoredEvent, epoch: string): string {
  return `{"type":"event","epoch":${JSON.stringify(epoch)},${e.body.slice(1)}`;
}

/** A member's online state changed (spec section 9): the presence message's fields, with `type`. */
export function presenceMessage(body: string): string {
  return `{"type":"presence",${body.slice(1)}`;
}

/** A subscription's first word when it starts from a snapshot: the SSE snapshot's fields, with `type`. */
export function snapshotMessage(chatroomId: string, app: string, s: Snapshot, epoch: string): string {
  return JSON.stringify({ type: 'snapshot', chatroomId, seq: s.seq, epoch, app, attributes: s.attributes });
}

/**
 * Why a subscription ended on the server's side. The SSE `end` reasons are final (do not subscribe
 * again); `interrupted` is not: the server could not keep the subscription going (its store failed,
 * it fell too far behind its room), and a subscribe with `since` = the last seq received goes on
 * without a gap.
 */
export type WsEndReason = EndReason | 'interrupted';

export function endMessage(chatroomId: string, reason: WsEndReason): string {
  return JSON.stringify({ type: 'end', chatroomId, reason });
}

/**
 * A server's text frame of `text` (RFC 6455 section 5.2: FIN, opcode 1, unmasked, the length in 7,
 * 16 or 64 bits), as ws would send it: one buffer, made once and written to many sockets as it is.
 */
export function textFrame(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = n;
  else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.write(text, head);
  return frame;
}
