// The WebSocket protocol of spec section 9, as the client reads and writes it. Server messages are
// checked for the fields the client acts on; other fields pass through untouched, so a newer
// server's additions reach the application.
import type { ChangeEvent, PresenceChange } from './types.js';

/** Closing code the server uses for a refused token (spec section 9). */
export const CLOSE_UNAUTHORIZED = 4401;

export interface ReplyMessage {
  type: 'reply';
  id: number;
  status: number;
  data?: unknown;
  error?: string;
  error_description?: string;
}

export interface SnapshotMessage {
  type: 'snapshot';
  chatroomId: string;
  seq: number;
  /** The store history's name, when the server sends it: the SSE stream's ids carry it. */
  epoch?: string;
  /** Values, or (spec section 10's detail) objects with a `value`. */
  attributes: Record<string, unknown>;
}

export interface EventMessage extends ChangeEvent {
  type: 'event';
  epoch?: string;
}

export interface PresenceMessage extends PresenceChange {
  type: 'presence';
}

/** The server ended a room's stream (its token expired, its member left, the room is gone). */
export interface EndMessage {
  type: 'end';
  chatroomId: string;
  reason?: string;
}

export type RoomMessage = SnapshotMessage | EventMessage | PresenceMessage | EndMessage;
export type ServerMessage = ReplyMessage | RoomMessage;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown): v is string => typeof v === 'string';

function isAttributes(v: unknown): v is Record<string, string> | string[] {
  if (Array.isArray(v)) return v.every(isString);
  return isObject(v) && Object.values(v).every(isString);
}

/** The message a text frame holds, or null for one the client cannot act on (it is reported, not guessed at). */
export function parseServerMessage(text: string): ServerMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(m)) return null;
  switch (m.type) {
    case 'reply':
      return typeof m.id === 'number' && typeof m.status === 'number' ? (m as unknown as ReplyMessage) : null;
    case 'snapshot':
      return isString(m.chatroomId) && isSeq(m.seq) && isObject(m.attributes) && (m.epoch === undefined || isString(m.epoch))
        ? (m as unknown as SnapshotMessage)
        : null;
    case 'event':
      return isString(m.chatroomId) &&
        isSeq(m.seq) &&
        m.seq > 0 &&
        (m.operation === 'updateChatRoomAttributes' || m.operation === 'removeChatRoomAttributes') &&
        isAttributes(m.attributes) &&
        Array.isArray(m.attributes) === (m.operation === 'removeChatRoomAttributes') &&
        (m.epoch === undefined || isString(m.epoch))
        ? (m as unknown as EventMessage)
        : null;
    case 'presence':
      return isString(m.chatroomId) && isString(m.user) && (m.status === 'online' || m.status === 'offline')
        ? (m as unknown as PresenceMessage)
        : null;
    case 'end':
      return isString(m.chatroomId) ? (m as unknown as EndMessage) : null;
    default:
      return null;
  }
}

/** The event as the server streamed it, without the envelope's fields. */
export function eventOf(m: EventMessage): ChangeEvent {
  const { type: _type, epoch: _epoch, ...event } = m;
  return event;
}

/** The resume point a subscribe sends: the seq last applied, in the epoch it belongs to when known. */
export function sinceOf(seq: number, epoch: string | undefined): number | string {
  return epoch === undefined ? seq : `${seq}-${epoch}`;
}
