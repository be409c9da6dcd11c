// The public types of roomkv/client. Fields the server does not send yet (spec section 10:
// revisions, detail, expiry, previous values) are optional here, so a newer server fills them in
// without a change to code written against this version.

/** A token, or a token with the time it expires (ms since the epoch), as `getToken` may answer. */
export type TokenResult = string | { token: string; expiresAt?: number };

/**
 * One attribute as the replica knows it. What is known depends on how the key reached the
 * replica: a key written by an event the replica applied has its `owner` (the event's `from`) and
 * its `revision` (the event's seq); a key that came in a snapshot has its value only, as the
 * server's snapshot carries values only, until a server sends the detail of spec section 10.
 */
export interface Attribute {
  value: string;
  /** The member who set it, when known. */
  owner?: string;
  /** The seq of the event that last wrote it, when known. */
  revision?: number;
  /** Spec section 10 (detail): not sent by servers yet. */
  autoDelete?: 'DELETE' | 'NO_DELETE';
  /** Spec section 10 (expiry): ms since the epoch, or null for no expiry. */
  expiresAt?: number | null;
}

/** Why an event was written. Section 9 and 10 reasons are listed; a newer server's reason is a string. */
export type EventReason =
  | 'set'
  | 'forced_set'
  | 'delete'
  | 'forced_delete'
  | 'member_left'
  | 'user_deleted'
  | 'room_destroyed'
  | 'member_offline'
  | 'increment'
  | 'expired'
  | (string & {});

export type EventOperation = 'updateChatRoomAttributes' | 'removeChatRoomAttributes';

/** A change event, exactly as the server streamed it (spec section 7). */
export interface ChangeEvent {
  /** `{chatroomId}:{seq}` */
  id: string;
  seq: number;
  chatroomId: string;
  /** The app key, `org#app`. */
  app: string;
  timestamp: number;
  operation: EventOperation;
  /** Who made the change: the writer, the member who left, or the owner of an expired key. */
  from: string;
  reason: EventReason;
  /** A map of the new values for updates, a key list for removals. */
  attributes: Record<string, string> | string[];
  /** Spec section 10: each touched key's value and owner before the change (null: it did not exist). */
  previous?: Record<string, { value: string; owner: string } | null>;
  /** Fields a newer server adds. */
  [field: string]: unknown;
}

/** A member's online state changed (spec section 9); not replayed on resume. */
export interface PresenceChange {
  chatroomId: string;
  user: string;
  status: 'online' | 'offline';
  timestamp: number;
}

/**
 * The replica was (re)built from a snapshot: `first` for the initial one, else a reset (the
 * server's log no longer held the resume point, or the store's history changed: another epoch).
 */
export interface SnapshotInfo {
  chatroomId: string;
  seq: number;
  epoch?: string;
  first: boolean;
}

/**
 * Why a room's replica stopped following the room: the server ended its stream (`room_destroyed`,
 * `membership_ended`, `user_deleted`), refused the subscription (`not_found`, `forbidden`), or the
 * room or client was closed (`closed`).
 */
export type EndReason = 'room_destroyed' | 'membership_ended' | 'user_deleted' | 'not_found' | 'forbidden' | 'closed' | (string & {});

/** `subscribing` until the server has answered (first subscribe, reconnect, gap repair); `live` after; `ended` for good. */
export type RoomStatus = 'subscribing' | 'live' | 'ended';

/** The connection's state: `idle` before first use, `reconnecting` between a lost link and the next. */
export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StatusChange {
  status: ConnectionStatus;
  /** Reconnect attempts since the last open link. */
  attempt: number;
  /** The close code of the link that ended, when one did. */
  code?: number;
  reason?: string;
}

/** What a set or delete answered: the per-key outcomes of spec section 5, and any field a newer server adds. */
export interface KeyOutcomes {
  successKeys: string[];
  /** key -> reason, e.g. `key 'seat1' is not part of you` */
  errorKeys: Record<string, string>;
  [field: string]: unknown;
}

/** How a write is made. `user` defaults to the client's `user`; an app token must name one. */
export interface WriteOptions {
  user?: string;
  /** The forced call: overwrites (set) or removes (delete) keys whoever owns them. */
  forced?: boolean;
  /** More body fields, sent as they are: spec section 10's `ifRevision`, `atomic`, `ttl` on servers that take them. */
  extra?: Record<string, unknown>;
}

export interface SetOptions extends WriteOptions {
  /** `DELETE` (the server's default) removes the keys when their owner leaves the room. */
  autoDelete?: 'DELETE' | 'NO_DELETE';
}

export interface GetOptions {
  /** More body fields, sent as they are (section 10's `detail`, on servers that take it). */
  extra?: Record<string, unknown>;
}

/** The official web SDK's onChatroomEvent payload, as far as attribute changes and a room's end go. */
export interface ChatroomEvent {
  operation: 'updateChatRoomAttributes' | 'removeChatRoomAttributes' | 'destroy';
  /** The chatroom id. */
  id: string;
  from: string;
  attributes?: Record<string, string> | string[];
}

/** The handler object the official web SDK's `addEventHandler` takes; only `onChatroomEvent` is called. */
export interface EventHandlers {
  onChatroomEvent?: (e: ChatroomEvent) => void;
}
