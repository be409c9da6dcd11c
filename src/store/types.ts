import type { AutoDelete, KeyOutcomes } from '../domain/attributes.js';
import type { EventRouting, StoredEvent } from '../domain/events.js';
import type { Limits } from '../domain/limits.js';

/**
 * The one narrow interface every store implements. A store applies the rules of `domain/`
 * atomically (one transaction or one script per call) and knows nothing of HTTP: it returns domain
 * results or throws the catalogue's ApiError.
 */
export interface UserRecord {
  uuid: string;
  username: string;
  created: number;
  modified: number;
}

export interface NewUser {
  username: string;
  passwordHash: string;
}

export interface RoomRecord {
  id: string;
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  created: number;
  memberCount: number;
}

export interface NewRoom {
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  members: string[];
}

export interface RemoveResult {
  user: string;
  result: boolean;
  reason?: string;
}

export interface AttrRecord {
  key: string;
  value: string;
  owner: string;
  autoDelete: AutoDelete;
}

export interface SetCall {
  appId: string;
  roomId: string;
  user: string;
  forced: boolean;
  autoDelete: AutoDelete;
  /** Each key once, in the order of the request's object (Object.entries of it). */
  pairs: Array<[string, unknown]>;
  limits: Limits;
  routing: EventRouting;
}

export interface DeleteCall {
  appId: string;
  roomId: string;
  /** The acting user; `admin` with an app token on the forced route. */
  user: string;
  forced: boolean;
  /** Forced delete by an app token skips the membership check. */
  checkMembership: boolean;
  keys: string[];
  routing: EventRouting;
}

/** What a room's event log holds after a point, for replay. */
export interface EventLogRead {
  /** Events with seq > afterSeq, in order, at most `limit`. */
  events: StoredEvent[];
  /** The seq of the room's latest event (0 when none). */
  lastSeq: number;
  /** The oldest seq the log still holds; lastSeq + 1 when it holds none. */
  firstSeq: number;
  /** Whether the room still exists (the log of a destroyed room is kept for replay). */
  exists: boolean;
  /** The store's log epoch when read (see EventStore.logEpoch). */
  epoch: string;
}

export interface Snapshot {
  seq: number;
  attributes: Record<string, string>;
}

/** One pending webhook delivery: the oldest undelivered event of one room for one endpoint. */
export interface Delivery {
  appId: string;
  endpoint: string;
  roomId: string;
  seq: number;
  body: string;
  /** Attempts made so far. */
  attempts: number;
  firstAttemptAt: number | null;
  /** Proof of the claim, for stores shared by several instances. */
  claim: string;
}

export interface AttemptRecord {
  endpoint: string;
  roomId: string;
  seq: number;
  attempt: number;
  at: number;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  error: string | null;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'gave_up';
}

export type EventListener = (event: StoredEvent) => void;

/**
 * Change events, written with the change they describe (same transaction or script), a per-room
 * log for replay, a live feed, and the webhook outbox.
 */
export interface EventStore {
  /**
   * Names the history the logs belong to: made when the store is first used, made anew when it is
   * wiped (and by `roomkv new-epoch` after a restore), so a resume point from another history is
   * told apart from one of this history even when its seq exists here.
   */
  logEpoch(): Promise<string>;
  /** Makes a new log epoch (after a restore from a copy); returns it. */
  renewLogEpoch(): Promise<string>;
  readEvents(appId: string, roomId: string, afterSeq: number, limit: number): Promise<EventLogRead>;
  /** The room's attributes and the seq they are current at, read atomically. */
  snapshot(appId: string, roomId: string): Promise<Snapshot | null>;
  /** Live events of a room, from every instance; resolves, with the unsubscribe function, once live. */
  subscribe(appId: string, roomId: string, listener: EventListener): Promise<() => void>;
  /** Called when the live feed may have missed events (a reconnect): listeners should catch up. */
  onFeedGap(listener: () => void): void;
  /**
   * Claims up to `limit` due deliveries for an endpoint, at most one per room (per-room order),
   * leaving alone the rooms `busy` names (deliveries this instance has in flight).
   */
  claimDeliveries(appId: string, endpoint: string, now: number, limit: number, busy: (roomId: string) => boolean): Promise<Delivery[]>;
  /** The claimed delivery is done (2xx) or given up: the room's next event becomes due. */
  finishDelivery(d: Delivery, attempt: AttemptRecord): Promise<void>;
  /** The claimed delivery failed: try again at `nextAt`. */
  retryDelivery(d: Delivery, nextAt: number, attempt: AttemptRecord): Promise<void>;
  recentAttempts(appId: string, limit: number): Promise<AttemptRecord[]>;
  outboxDepth(appId: string, endpoint: string): Promise<number>;
  /** For stores whose outbox index can miss a queue after a crash: re-index; returns how many were found. */
  sweepOutbox?(appId: string, endpoint: string): Promise<number>;
}

/** A user as export and import carry it: its uuid and password hash too, so logins and issued tokens keep working. */
export interface UserDump {
  username: string;
  uuid: string;
  passwordHash: string;
  created: number;
  modified: number;
}

export interface MemberDump {
  username: string;
  /** When the member joined (ms): members are listed in this order, the owner first. */
  joined: number;
}

/**
 * One attribute with its owner and autoDelete flag. `revision` and `expiresAt` are the places kept
 * for per-key revisions and expiry: null until the stores keep them.
 */
export interface AttrDump {
  key: string;
  value: string;
  owner: string;
  autoDelete: AutoDelete;
  revision: number | null;
  expiresAt: number | null;
}

/** A chatroom with everything in it, as one unit of export and import. */
export interface RoomDump {
  id: string;
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  created: number;
  members: MemberDump[];
  attributes: AttrDump[];
}

/**
 * Moving an app's data out of a store and into another (`roomkv export` / `roomkv import`) and the
 * two list routes. Reads are paged by name or id, so a listing walks a store of any size.
 *
 * Atomicity: `dumpRoom` reads one room at one instant (a read transaction, one script).
 * `restoreUsers` writes all its users or none; `restoreRoom` writes one room whole (its members,
 * attributes, owners, autoDelete flags) or not at all, and refuses (RestoreConflict) when the room,
 * or one of the users, exists. Neither emits change events nor queues webhooks: a restore is not a
 * change. On Redis the app-wide counters beside a room (the app's byte usage, the room id counter,
 * each member's room index) are moved in separate steps, before the room's script, in the
 * direction that is harmless if the process dies in between (usage too high, counter too far).
 */
export interface DataTransfer {
  /** Users whose username sorts after `after` ('' = from the start), by username, at most `limit`. */
  listUsers(appId: string, after: string, limit: number): Promise<UserDump[]>;
  /** Rooms whose id comes after `after` ('' = from the start), in numeric id order, at most `limit`. */
  listRooms(appId: string, after: string, limit: number): Promise<RoomRecord[]>;
  /** One room whole, members by join time, attributes by key; null when it does not exist. */
  dumpRoom(appId: string, roomId: string): Promise<RoomDump | null>;
  restoreUsers(appId: string, users: UserDump[]): Promise<void>;
  /** Also moves the store's room id counter past this id, so that new rooms never take it. */
  restoreRoom(appId: string, room: RoomDump): Promise<void>;
}

export interface Store extends EventStore, DataTransfer {
  readonly kind: string;
  close(): Promise<void>;
  /** Answers when the store can serve calls (readiness). */
  ping(): Promise<void>;

  createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]>;
  getUser(appId: string, username: string): Promise<UserRecord | null>;
  getUserByUuid(appId: string, uuid: string): Promise<UserRecord | null>;
  getPasswordHash(appId: string, username: string): Promise<string | null>;
  /** Removes the user and its memberships, applying autoDelete in every room it was in. */
  deleteUser(appId: string, username: string, routing: EventRouting): Promise<UserRecord | null>;

  createRoom(appId: string, room: NewRoom): Promise<RoomRecord>;
  getRoom(appId: string, roomId: string): Promise<RoomRecord | null>;
  /** Removes the room, its members and every attribute. */
  destroyRoom(appId: string, roomId: string, routing: EventRouting): Promise<boolean>;
  /** Adds existing users; returns the ones that were not members yet. */
  addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]>;
  /** Removes members, applying autoDelete for each, all in one transaction. */
  removeMembers(appId: string, roomId: string, usernames: string[], routing: EventRouting): Promise<RemoveResult[]>;
  listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]>;
  isMember(appId: string, roomId: string, username: string): Promise<boolean>;

  setAttributes(call: SetCall): Promise<KeyOutcomes>;
  deleteAttributes(call: DeleteCall): Promise<KeyOutcomes>;
  /** Checks the room exists and, when `member` is given, that it is a member; keys undefined = all. */
  getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>>;
  /** getAttributes as the JSON text of the map (what a get call answers with), after the same checks. */
  getAttributesJson(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<string>;
  /** Full records, for operators and tests. */
  listAttributes(appId: string, roomId: string): Promise<AttrRecord[]>;
}
