import type { AutoDelete, Conditions, Increment, KeyOutcomes } from '../domain/attributes.js';
import type { LeaveOutcome } from '../domain/rooms.js';
import type { EventRouting, StoredEvent } from '../domain/events.js';
import type { Limits } from '../domain/limits.js';

/*
 * What every store implements, split by concern: AttributeStore, RoomStore, EventLog, LiveFeed,
 * PresenceStore, Outbox and DataTransfer, each with its atomicity promise; Store is all of them plus the
 * store's lifecycle. A store applies the rules of `domain/` and knows nothing of HTTP: it returns
 * domain results or throws the catalogue's ApiError.
 *
 * Ids are valid. Every `roomId` a caller passes is one `isRoomId` (domain/ids.ts) accepts: the
 * HTTP edge checks the ids of route paths (service/room-id.ts), import checks the ids of its file
 * (ops/transfer-read.ts), and every other id comes from a store. Stores do not check them again:
 * a malformed id is not "a room that does not exist" to a store, it is a caller's bug (on Redis it
 * could name keys of another hash tag). `appId` is an app of the registry; usernames are stored
 * lower-case.
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

/** One user's outcome of a removal (domain/rooms.ts). */
export type RemoveResult = LeaveOutcome;

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
  /** ifRevision and atomic (spec section 10), checked by domain/ against the state the call is planned from. */
  conditions?: Conditions;
  /**
   * key -> seconds until the key expires (spec section 10; keys of this call, validated by
   * domain/requests.ts callTtl). A key written without one keeps no expiry.
   */
  ttl?: Readonly<Record<string, number>>;
  /** Present: the pairs' values are deltas (numbers) added to the stored values (spec section 10, counters). */
  increment?: Increment;
}

/** One key as a get with `detail` answers it (spec section 10). */
export interface AttrDetail {
  value: string;
  owner: string;
  autoDelete: AutoDelete;
  /** The seq of the event that last wrote the key; 0 when written before revisions existed. */
  revision: number;
  /** When the key expires, ms since the epoch; null when it does not. */
  expiresAt: number | null;
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
  conditions?: Conditions;
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
  /** The store's log epoch when read (see EventLog.logEpoch). */
  epoch: string;
}

export interface Snapshot {
  seq: number;
  attributes: Record<string, string>;
}

/**
 * One pending webhook delivery: the oldest undelivered event of one room for one endpoint, and
 * with a run (claimDeliveries' `run` over 1) the room's next ones after it.
 */
export interface Delivery {
  appId: string;
  endpoint: string;
  roomId: string;
  /** The head's seq and body (the first of `events`). */
  seq: number;
  body: string;
  /** The events claimed, in seq order from the head: one, or up to `run` with a run. */
  events: ReadonlyArray<{ seq: number; body: string }>;
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
 * A room's attributes.
 *
 * Atomicity: one set or delete is atomic within its room. The checks (the room exists, the caller
 * is a member), the plan of domain/attributes.ts (ownership, the room's count, the app's bytes),
 * the writes, and the call's change event (log entry, outbox entries, live publish) commit
 * together or not at all. SQLite: one savepoint in the group-commit transaction; the call is
 * answered, and its event published, once the batch has committed; the plan is made inside the
 * transaction, under the one writer, so its preconditions hold by construction. Redis: the call is
 * planned in JS from the instance's view of the room and applied by one Lua script per room only
 * while the plan's preconditions hold (redis/attribute-writes.ts; planned again otherwise, 503
 * after 200 tries). On a single Redis the app's usage counter is checked and moved inside the
 * script; on a cluster it is in another slot: a plan that depends on it reserves its bytes first
 * and is applied only if the usage it found is in the plan's range, so no set passes the quota,
 * and a Redis failure or a process death between the two
 * leaves the usage off by that call's bytes. Calls to one room are applied in one order on every
 * instance; what one instance has answered, every instance reads.
 *
 * Reads: get and getJson read one room at one instant (SQLite: between commits, on one
 * connection; Redis: one script). listAttributes is for operators and tests: on Redis its reads
 * are not one snapshot.
 */
export interface AttributeStore {
  setAttributes(call: SetCall): Promise<KeyOutcomes>;
  deleteAttributes(call: DeleteCall): Promise<KeyOutcomes>;
  /** Checks the room exists and, when `member` is given, that it is a member; keys undefined = all. */
  getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>>;
  /** getAttributes as the JSON text of the map (what a get call answers with), after the same checks. */
  getAttributesJson(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<string>;
  /** As getAttributes, each key with its owner, autoDelete, revision and expiry (spec section 10's detail). */
  getAttributeDetails(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, AttrDetail>>;
  /** Full records, for operators and tests. */
  listAttributes(appId: string, roomId: string): Promise<AttrRecord[]>;
}

/**
 * Users, rooms and members.
 *
 * Atomicity: createUsers writes every user or none (SQLite: one savepoint; Redis: one script in
 * the app's slot). A room's membership changes are atomic within the room: removeMembers removes
 * every member it can, with each one's autoDelete keys, their events and the membership-ended
 * messages, in one savepoint or one script; addMembers adds all or none and never past maxusers;
 * destroyRoom writes the final event and removes the room whole in one. On SQLite every call is
 * one savepoint, so deleteUser leaves every room and removes the user at once, and the users a
 * room call names are checked in the same savepoint. On Redis the app-wide records beside a room
 * are separate steps: the users named by createRoom and addMembers are checked before the room's
 * script (a user deleted meanwhile can be left a member), each member's room index is written
 * before the room's script and cleared after it, the app's usage is lowered after a removal's or
 * destroy's script; and deleteUser leaves the user's rooms one by one, each room atomically, then
 * removes the user: a death in between leaves the user, in fewer rooms, and the call can be
 * repeated. Reads: getRoom on Redis reads the room and its member count side by side.
 */
export interface RoomStore {
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
}

/**
 * Each room's log of change events, for replay.
 *
 * Atomicity: an event is written with the change it describes (the same savepoint or script), as
 * the room's next seq, so the log never holds a change that was not made nor misses one that was.
 * A room's seq is at least its newest logged event's; the log drops only its oldest events (beyond
 * the newest ROOMKV_EVENT_LOG_SIZE and older than ROOMKV_EVENT_LOG_MS). readEvents reads the room
 * and its log at one instant (SQLite: a read transaction; Redis: one script, the epoch read
 * beside it); snapshot reads the attributes and the seq they are current at atomically, so a
 * stream that resumes from that seq misses nothing. The epoch is one per store: every instance
 * sharing a Redis reads the same.
 */
export interface EventLog {
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
}

/**
 * Change events as they happen, membership messages (seq 0: a member left or was removed) and
 * presence messages (seq -1: a member came online or went offline; PresenceStore).
 *
 * Atomicity: an event is published only with its change: on SQLite after the batch holding it
 * has committed, in this process (one process holds the file), synchronously with the commit, so
 * the feed never misses one; on Redis by SPUBLISH (sharded pub/sub) inside the change's script, to the subscribers of
 * every instance, in seq order per room. Redis Pub/Sub delivers at most once: while a subscriber
 * connection reconnects events are lost, and onFeedGap says so; a listener then catches up from
 * the EventLog. A membership message is published in the removal's savepoint or script.
 */
export interface LiveFeed {
  /** Live events of a room, from every instance; resolves, with the unsubscribe function, once live. */
  subscribe(appId: string, roomId: string, listener: EventListener): Promise<() => void>;
  /** Called when the live feed may have missed events (a reconnect): listeners should catch up. */
  onFeedGap(listener: () => void): void;
}

/** An app with presence on, as a store needs it: its grace and where its events go. */
export interface PresenceApp {
  appId: string;
  /** presence.leaveAfterOfflineMs: how long a member may stay offline before it leaves (> 0). */
  graceMs: number;
  routing: EventRouting;
}

/** What recording a user's connection count did to its online state in the room. */
export type PresenceAnswer = 'online' | 'offline' | 'same' | 'not_member';

/**
 * Who is online in each room (spec section 9), and the offline leaves. The store counts, per room
 * and user, the live connections each instance holds; a user is online while any instance holds
 * one. An instance records its own counts (absolute, so a repeat is harmless).
 *
 * Atomicity: recording one room's counts is atomic within the room (SQLite: one savepoint; Redis:
 * one script): each user's count, its online state, its offline-since (set when its last
 * connection anywhere goes, cleared when one comes), and the presence message of a change on the
 * room's live feed, together. A user who is not a member is never recorded online: a count that
 * grows for a non-member is refused (`not_member`) and nothing is written; a removal (admin,
 * deleted user, offline leave) clears the member's presence in its own savepoint or script, and a
 * destroyed room's goes with it. An offline leave is a removal (reason `member_offline`), planned
 * with domain/presence.ts and applied only while the member is still a member offline since the
 * time the plan read, so a reconnect that is recorded first cancels it, and of two instances that
 * apply the same leave at once exactly one removes the member (one event). SQLite (one process):
 * the counts are this process's; a restart's recoverPresence makes every member recorded online
 * offline as of that start. Redis: each instance's counts are kept alive by a lease the instance
 * renews (7 s, renewed every 2 s); the counts of an instance whose lease lapsed are dropped by
 * whichever instance sweeps first (its users left with none are offline from then), and the
 * leaves due are found through an index in the app's slot, written before the room's script, so
 * a process that dies between the two leaves an entry that the next instance looks at.
 */
export interface PresenceStore {
  /**
   * Records how many live connections to `roomId` this instance holds for each user named (the
   * users whose count changed; 0 = none left here). `roomHeld`: whether this instance still holds
   * any connection to the room. Answers per user, in order.
   */
  recordConnections(
    app: PresenceApp,
    roomId: string,
    counts: ReadonlyArray<readonly [user: string, connections: number]>,
    roomHeld: boolean,
  ): Promise<PresenceAnswer[]>;
  /** The users online in the room, sorted; checks the room exists and, when `member` is given, that it is a member. */
  onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]>;
  /** Applies the app's offline leaves that are due now; returns how many members left. */
  leaveOffline(app: PresenceApp): Promise<number>;
  /** Marks offline what instances that died held in the app (Redis; nothing to do in one process). */
  sweepPresence(app: PresenceApp): Promise<void>;
  /**
   * Keeps what this instance holds counted (Redis: renews its lease). True when the lease had
   * lapsed: what it held was or will be swept, and every count must be recorded again.
   */
  renewPresence(): Promise<boolean>;
  /** At start, before recording anything: counts an earlier run of this process left are gone (SQLite: offline as of now). */
  recoverPresence(): Promise<void>;
  /**
   * This instance stops serving its live connections. Redis: what it holds goes offline now, so
   * its members get the grace to reconnect to another instance. SQLite: the counts stay recorded,
   * and the next start's recoverPresence makes them offline as of that start (a restart gives
   * every member that was online the grace).
   */
  releasePresence(apps: readonly PresenceApp[]): Promise<void>;
}

/**
 * The webhook outbox: each event, for each endpoint that wants it, until delivered or given up.
 *
 * Atomicity: outbox entries are written with their event (the same savepoint or script), so a
 * change that committed always has its deliveries queued. Deliveries are at least once, in seq
 * order per room and endpoint: a claim takes the head of one room's queue. SQLite: one process
 * owns the file, and `busy` is all that keeps a room's second claim off. Redis: a claim is a
 * 60-second lease in the room's slot, so instances never send the same head at once (one whose
 * send outlives the lease can be sent twice); finish and retry do nothing once the lease is lost.
 * The attempt record is written beside, not with, the finish (Redis), and the per-endpoint index of
 * rooms with queued events after the change's script: a death in between leaves a queue out of
 * the index until sweepOutbox finds it.
 */
export interface Outbox {
  /**
   * Claims up to `limit` due deliveries for an endpoint, at most one per room (per-room order),
   * leaving alone the rooms `busy` names (deliveries this instance has in flight). With `run`
   * over 1, each delivery carries up to `run` of its room's queued events from the head on (a
   * batching endpoint's), all due with the head.
   */
  claimDeliveries(
    appId: string,
    endpoint: string,
    now: number,
    limit: number,
    busy: (roomId: string) => boolean,
    run?: number,
  ): Promise<Delivery[]>;
  /** The claimed delivery (all its events) is done (2xx) or given up: the room's next event becomes due. */
  finishDelivery(d: Delivery, attempt: AttemptRecord): Promise<void>;
  /** The claimed delivery failed: try again at `nextAt`. */
  retryDelivery(d: Delivery, nextAt: number, attempt: AttemptRecord): Promise<void>;
  recentAttempts(appId: string, limit: number): Promise<AttemptRecord[]>;
  outboxDepth(appId: string, endpoint: string): Promise<number>;
  /** For stores whose outbox index can miss a queue after a crash: re-index; returns how many were found. */
  sweepOutbox?(appId: string, endpoint: string): Promise<number>;
}

/** What integrityCheck looks at: one app's records, or one room of it; none = the whole store. */
export interface IntegrityScope {
  appId: string;
  roomId?: string;
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
  /**
   * Rooms whose id comes after `after` ('' = from the start), in numeric id order, at most `limit`.
   * A page costs its own length wherever it starts (an index of the app's rooms on every store),
   * as the room list route serves it to clients.
   */
  listRooms(appId: string, after: string, limit: number): Promise<RoomRecord[]>;
  /** One room whole, members by join time, attributes by key; null when it does not exist. */
  dumpRoom(appId: string, roomId: string): Promise<RoomDump | null>;
  restoreUsers(appId: string, users: UserDump[]): Promise<void>;
  /** Also moves the store's room id counter past this id, so that new rooms never take it. */
  restoreRoom(appId: string, room: RoomDump): Promise<void>;
}

/**
 * Keys with a `ttl` (spec section 10): no read returns one after its time, and a sweep removes it.
 *
 * Atomicity: the keys of a room that are due go in one savepoint or one script, with one `expired`
 * event per owner (`from` the owner), their bytes freed, as a delete would; a room whose keys are
 * due is swept before any set or delete of it is planned, so a write never sees an expired key (it
 * is absent: another member may take it, and the room's count and the app's bytes no longer hold
 * it). Every read leaves out a key whose time has come even before it is swept. SQLite: due keys
 * are found through an index of the file, so a restart loses none. Redis: an index in the app's
 * slot (a sorted set, one entry per write with a ttl, written before the room's script) says which
 * rooms to look at; the room's script removes only what its own records say is due, so of several
 * instances sweeping at once one removes each key, with its event. A clock is the instance's: on
 * Redis, instances whose clocks differ expire keys as early as the fastest clock says.
 */
export interface ExpiryStore {
  /** Removes the app's keys that are due now, room by room; returns how many keys were removed. */
  expireDue(appId: string, routing: EventRouting): Promise<number>;
}

/** Every concern of a store, and its lifecycle: what a server opens, serves from and closes. */
export interface Store extends AttributeStore, RoomStore, EventLog, LiveFeed, PresenceStore, Outbox, DataTransfer, ExpiryStore {
  readonly kind: string;
  close(): Promise<void>;
  /** Answers when the store can serve calls (readiness). */
  ping(): Promise<void>;
  /**
   * The invariants every store keeps, checked over its stored records; returns one line per
   * problem found (none: []). Per room: every attribute has its owner record and no owner record
   * lacks its attribute; each attribute's recorded size is its key's and value's UTF-8 bytes; the
   * autoDelete index lists exactly each owner's DELETE keys; the members are existing users (on
   * Redis, and each member's room index names the room); the room's seq is at least its newest
   * logged event's; a room that does not exist holds no attributes or members. Per app (scope
   * without roomId, or none), also: the app's byte usage equals the sum of its attributes' sizes,
   * and no attribute or member belongs to a room that does not exist. With no scope: every app
   * the store holds, and on SQLite the file's own check (PRAGMA integrity_check).
   *
   * The records are read without stopping writers: run it on a store at rest (tests, after a
   * restart, an operator's check). On Redis the app's usage is moved beside a room's script, not in
   * it, so after a process died mid-call only the per-room checks are sure to pass.
   */
  integrityCheck(scope?: IntegrityScope): Promise<string[]>;
}
