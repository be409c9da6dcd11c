/**
 * Change events (one per call that stored or removed at least one key, plus a final one when a
 * room is destroyed). `operation`, `from` and `attributes` have the shape of the official SDK's
 * onChatroomEvent, so a client can pass them on unchanged.
 */
export type EventReason =
  | 'set'
  | 'forced_set'
  | 'delete'
  | 'forced_delete'
  | 'member_left'
  | 'user_deleted'
  | 'member_offline'
  | 'expired'
  | 'increment'
  | 'room_destroyed';
export type EventOperation = 'updateChatRoomAttributes' | 'removeChatRoomAttributes';

export const EVENT_REASONS: readonly EventReason[] = [
  'set',
  'forced_set',
  'delete',
  'forced_delete',
  'member_left',
  'user_deleted',
  'member_offline',
  'expired',
  'increment',
  'room_destroyed',
];

export interface EventFacts {
  roomId: string;
  appKey: string;
  timestamp: number;
  reason: EventReason;
  from: string;
  /** A map for updates, a key list for removals. */
  attributes: Record<string, string> | string[];
  /** Each key the event touched as it was before: its value and owner, null when it did not exist (spec section 10). */
  previous: Previous;
}

/** What a key was before an event touched it: null when it did not exist. */
export type PreviousValue = { value: string; owner: string } | null;
export type Previous = Record<string, PreviousValue>;

export function operationOf(reason: EventReason): EventOperation {
  return reason === 'set' || reason === 'forced_set' || reason === 'increment' ? 'updateChatRoomAttributes' : 'removeChatRoomAttributes';
}

/**
 * The event's JSON around its seq, its attributes and what they were before:
 *   body = pre + seq + mid + seq + post + attributesJson + ',"previous":' + previousJson + '}'
 * A store that draws the seq inside its own transaction or script (SQLite, a Redis Lua script)
 * splices it in there, so the event is written atomically with the change it describes; a Redis
 * script fills in the previous values it found (and, removing a leaving member's keys, the
 * attributes too).
 */
export interface EventTemplate {
  pre: string;
  mid: string;
  post: string;
}

export function eventTemplate(f: Omit<EventFacts, 'attributes' | 'previous'>): EventTemplate {
  // Written out rather than JSON.stringify of an object: this runs on every write, and only the
  // room id, the app key and the user can hold anything to escape.
  const room = JSON.stringify(f.roomId);
  return {
    pre: `{"id":${room.slice(0, -1)}:`,
    mid: '","seq":',
    post:
      `,"chatroomId":${room},"app":${JSON.stringify(f.appKey)},"timestamp":${f.timestamp},` +
      `"operation":"${operationOf(f.reason)}","from":${JSON.stringify(f.from)},"reason":"${f.reason}","attributes":`,
  };
}

export function renderEvent(t: EventTemplate, seq: number, attributes: EventFacts['attributes'], previous: Previous): string {
  return `${t.pre}${seq}${t.mid}${seq}${t.post}${JSON.stringify(attributes)},"previous":${JSON.stringify(previous)}}`;
}

/** What every store keeps per room: the event bodies in seq order. */
export interface StoredEvent {
  seq: number;
  body: string;
}

/** Webhook endpoints of an app, as far as a store needs them: which ones want an event. */
export interface EventRouting {
  appKey: string;
  endpointsFor(reason: EventReason): readonly string[];
}

/**
 * Feed messages with seq 0 carry no event: they tell a room's subscribers that a member left (its
 * body is the username; removed, deleted or gone offline, with or without keys to remove, so no
 * event need say so), and that that member's streams must check their rights again before
 * delivering what follows. Written in the same transaction or script as the change, so every
 * event after the change follows it on the feed.
 */
export function membershipEnded(username: string): StoredEvent {
  return { seq: 0, body: username };
}

export function isMembershipChange(e: StoredEvent): boolean {
  return e.seq === 0;
}

/**
 * Feed messages with seq -1 carry no event either: a member's online state in the room changed
 * (spec section 9, presence); the body is the presence message's JSON. They are not logged, carry
 * no seq and are never replayed: a stream passes them on as they come, apart from the events.
 */
export const PRESENCE_SEQ = -1;

export type PresenceStatus = 'online' | 'offline';

export function isPresenceMessage(e: StoredEvent): boolean {
  return e.seq === PRESENCE_SEQ;
}

/**
 * A room's presence message around the username, for `timestamp`:
 *   body = head + user + (online | offline)
 * A Redis script that finds who went offline (a dead instance's connections) splices the user in
 * there. Usernames are `a-z 0-9 _ - .` (spec section 6): nothing in them needs escaping.
 */
export interface PresenceTemplate {
  head: string;
  online: string;
  offline: string;
}

export function presenceTemplate(roomId: string, timestamp: number): PresenceTemplate {
  const tail = (status: PresenceStatus) => `","status":"${status}","timestamp":${timestamp}}`;
  return { head: `{"chatroomId":${JSON.stringify(roomId)},"user":"`, online: tail('online'), offline: tail('offline') };
}

export function presenceMessage(t: PresenceTemplate, user: string, status: PresenceStatus): StoredEvent {
  return { seq: PRESENCE_SEQ, body: `${t.head}${user}${t[status]}` };
}
