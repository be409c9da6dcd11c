import { Redis, Cluster } from 'ioredis';
import { pairBytes, type KeyOutcomes } from '../../domain/attributes.js';
import { AttributeWrites, backoff } from './attribute-writes.js';
import { newRoomMembers, planJoin, planLeave, requireUsers } from '../../domain/rooms.js';
import { ApiError, Errors } from '../../domain/errors.js';
import { appUuid, newEpochValue, newUserUuid, roomIdFromSeq, roomSeqOf } from '../../domain/ids.js';
import { eventTemplate, presenceTemplate, type EventReason, type EventRouting, type StoredEvent } from '../../domain/events.js';
import type { EventLogLimits } from '../event-log.js';
import { parseAttributesJson } from '../attr-json.js';
import type {
  AttemptRecord,
  AttrDetail,
  AttrRecord,
  DeleteCall,
  Delivery,
  EventListener,
  EventLogRead,
  IntegrityScope,
  NewRoom,
  NewUser,
  PresenceAnswer,
  PresenceApp,
  RemoveResult,
  RoomDump,
  RoomRecord,
  SetCall,
  Snapshot,
  Store,
  UserDump,
  UserRecord,
} from '../types.js';
import { RestoreConflict } from '../restore-conflict.js';
import { RedisFeed } from './redis-feed.js';
import { RedisPresence, roomPresenceKeys, type OfflineLeave } from './redis-presence.js';
import { redisIntegrity } from './integrity.js';
import { RedisExpiry } from './redis-expiry.js';
import { ownedArgsRunner, scriptRunner } from './script-command.js';
import { LUA, type LuaName } from './lua-registry.js';
import { RedisRoomIndex } from './room-list.js';

export type RedisClient = Redis | Cluster;

/** The scripts as methods of the client: sent by SHA (EVALSHA), loaded on NOSCRIPT (script-command.ts). */
interface Scripts {
  /** The write scripts take their arguments as one array, which they own from then on (ownedArgsRunner). */
  rkApplySet(args: Array<string | number>): Promise<Array<string | number>>;
  rkApplyDelete(args: Array<string | number>): Promise<Array<string | number>>;
  rkReadAttrs(...args: Array<string | number>): Promise<Array<string | number>>;
  rkReadDetail(...args: Array<string | number>): Promise<string[]>;
  rkCreateRoom(...args: Array<string | number>): Promise<number>;
  rkAddMembers(...args: Array<string | number>): Promise<Array<string | number>>;
  rkReadMembers(...args: Array<string | number>): Promise<Array<string | number>>;
  rkRemoveMembers(...args: Array<string | number>): Promise<Array<string | number>>;
  rkDestroyRoom(...args: Array<string | number>): Promise<Array<string | number>>;
  rkCreateUsers(...args: Array<string | number>): Promise<number | string>;
  rkReadEvents(...args: Array<string | number>): Promise<Array<string | number>>;
  rkSnapshot(...args: Array<string | number>): Promise<string[]>;
  rkObClaim(...args: Array<string | number>): Promise<Array<string | number>>;
  rkObFinish(...args: Array<string | number>): Promise<number>;
  rkObRetry(...args: Array<string | number>): Promise<number>;
  rkDumpRoom(
    ...args: Array<string | number>
  ): Promise<
    | []
    | [
        room: [name: string, description: string, owner: string, maxusers: string, created: string],
        members: string[],
        attrs: string[],
        metas: string[],
      ]
  >;
  rkRestoreRoom(...args: Array<string | number>): Promise<number>;
  rkRestoreUsers(...args: Array<string | number>): Promise<number | string>;
  rkRaiseCounter(...args: Array<string | number>): Promise<number>;
}

export interface RedisStoreOptions {
  client: RedisClient;
  /** Prefix of every key, so several deployments (or test runs) can share one Redis. */
  prefix: string;
  eventLog: EventLogLimits;
  clock?: () => number;
  /** Attribute keys the write path remembers to plan from (ROOMKV_REDIS_PLAN_CACHE_KEYS); a default otherwise. */
  planCacheKeys?: number;
}

/**
 * Element `i` of a script's reply, there by the reply's shape (the script's first comment): one
 * missing is a bug, or a store changed by hand, and fails as such.
 */
function replyAt<T>(reply: readonly T[], i: number, script: LuaName): T {
  const value = reply[i];
  if (value === undefined) throw new Error(`internal: the reply of ${script} has no element ${i} (length ${reply.length})`);
  return value;
}

/**
 * `each` on the pairs of a flat run of a script's reply (HGETALL's key value..., ZRANGE WITHSCORES'
 * member score...), from `from` to its end. A run of odd length is a broken reply and fails as such.
 */
function eachPair(flat: readonly string[], from: number, script: LuaName, each: (first: string, second: string) => void): void {
  if ((flat.length - from) % 2 !== 0) throw new Error(`internal: the reply of ${script} has a pair cut short (length ${flat.length})`);
  for (let i = from; i < flat.length; i += 2) each(flat[i]!, flat[i + 1]!);
}

/** For a script that publishes on a room's feed but writes no event: no endpoint wants one. */
const NO_NAMES: readonly string[] = [];
const NO_ENDPOINTS: EventRouting = { appKey: '', endpointsFor: () => [] };

/** A room that moved between a membership plan's read and its script: the plan is made again. */
const MOVED = Symbol('moved');
/** How often a membership change plans again when the room keeps moving. */
const MAX_ROOM_ATTEMPTS = 50;

/** How long a claimed webhook delivery keeps other instances off its queue. */
const LEASE_MS = 60_000;
const ATTEMPTS_KEPT = 1000;

/** Each method and its script in lua/ (lua-registry.ts): the key count is in the script's file. */
const SCRIPT_DEFS: Array<[keyof Scripts, LuaName]> = [
  ['rkReadAttrs', 'READ_ATTRS'],
  ['rkReadDetail', 'READ_DETAIL'],
  ['rkCreateRoom', 'CREATE_ROOM'],
  ['rkAddMembers', 'ADD_MEMBERS'],
  ['rkReadMembers', 'READ_MEMBERS'],
  ['rkRemoveMembers', 'REMOVE_MEMBERS'],
  ['rkDestroyRoom', 'DESTROY_ROOM'],
  ['rkCreateUsers', 'CREATE_USERS'],
  ['rkReadEvents', 'READ_EVENTS'],
  ['rkSnapshot', 'SNAPSHOT'],
  ['rkObClaim', 'OB_CLAIM'],
  ['rkObFinish', 'OB_FINISH'],
  ['rkObRetry', 'OB_RETRY'],
  ['rkDumpRoom', 'DUMP_ROOM'],
  ['rkRestoreRoom', 'RESTORE_ROOM'],
  ['rkRestoreUsers', 'RESTORE_USERS'],
  ['rkRaiseCounter', 'RAISE_COUNTER'],
];

/**
 * The store on Redis or Redis Cluster. Room data lives under one hash tag `{app:room}`, app data
 * (users, byte usage) under `{app}`, so each script stays in one slot. Calls that span a room and
 * its app (usage counter, a user's room index) do the room part atomically first; see README for
 * what that means for the byte quota's exactness.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly r: RedisClient & Scripts;
  private readonly p: string;
  private readonly now: () => number;
  private readonly feed: RedisFeed;
  private readonly logLimits: EventLogLimits;
  /**
   * On a single Redis the app's usage counter goes into a write's script beside the room's keys;
   * where slots are enforced (a cluster, or a server in cluster mode reached by a plain URL) it is
   * in another slot. null until the server has said (INFO cluster).
   */
  private usageBesideRoom: boolean | null;
  /** The one write path of attributes (attribute-writes.ts). */
  readonly writes: AttributeWrites;
  /** Each app's rooms in id order, for the room list and export (room-list.ts). */
  private readonly roomIndex: RedisRoomIndex;
  /** Who is online where, the holder leases and the offline leaves (redis-presence.ts). */
  private readonly presence: RedisPresence;
  /** Keys with a ttl: the app's index and the room sweeps (redis-expiry.ts). */
  private readonly expiry: RedisExpiry;
  /** Attempts to record, per app, in this turn of the event loop (recordAttempt). */
  private readonly attemptsToRecord = new Map<string, { values: string[]; done: Promise<void> }>();

  constructor(options: RedisStoreOptions) {
    this.feed = new RedisFeed(options.client);
    this.logLimits = options.eventLog;
    const client = options.client;
    const scripts: Record<string, unknown> = {};
    for (const [method, name] of SCRIPT_DEFS) scripts[method] = scriptRunner(client, LUA[name]);
    scripts.rkApplySet = ownedArgsRunner(client, LUA.APPLY_SET);
    scripts.rkApplyDelete = ownedArgsRunner(client, LUA.APPLY_DELETE);
    this.r = Object.assign(client, scripts) as unknown as RedisClient & Scripts;
    this.usageBesideRoom = client instanceof Cluster ? false : null;
    this.p = options.prefix;
    this.now = options.clock ?? Date.now;
    this.writes = new AttributeWrites(
      {
        roomKeys: (appId, roomId) => this.roomKeys(appId, roomId),
        usageKey: (appId) => this.usageKey(appId),
        eventBlock: (appId, roomId, routing, reason, ts, from) => this.eventBlock(appId, roomId, routing, reason, ts, from),
        now: () => this.now(),
        applySet: (args) => this.r.rkApplySet(args),
        applyDelete: (args) => this.r.rkApplyDelete(args),
        addUsage: (key, delta) => this.r.incrby(key, delta),
        indexOutbox: (appId, roomId, endpoints) => this.indexOutbox(appId, roomId, endpoints),
        usageInScript: () => this.usageInScript(),
        indexExpiry: (appId, roomId, expiries) => this.expiry.index(appId, roomId, expiries),
        sweepRoom: (appId, roomId, routing) => this.expiry.sweepRoom(appId, roomId, routing),
        readValues: async (appId, roomId, keys) => {
          // One MULTI in the room's slot: each meta with the value it came with.
          const k = this.roomKeys(appId, roomId);
          const res = await this.r
            .multi()
            .hmget(k.meta, ...keys)
            .hmget(k.attrs, ...keys)
            .exec();
          const [metas, values] = (res ?? []).map(([err, v]) => {
            if (err) throw err;
            return v as Array<string | null>;
          });
          return keys.map((_, i) => [metas?.[i] ?? '', values?.[i] ?? ''] as const);
        },
      },
      options.planCacheKeys === undefined ? {} : { maxEntries: options.planCacheKeys },
    );
    this.expiry = new RedisExpiry({
      client,
      prefix: this.p,
      roomKeys: (appId, roomId) => this.roomKeys(appId, roomId),
      usageKey: (appId) => this.usageKey(appId),
      usageInScript: () => this.usageInScript(),
      eventBlock: (appId, roomId, routing, reason, ts, from) => this.eventBlock(appId, roomId, routing, reason, ts, from),
      indexOutbox: (appId, roomId, endpoints) => this.indexOutbox(appId, roomId, endpoints),
      now: () => this.now(),
    });
    this.roomIndex = new RedisRoomIndex({ client, prefix: this.p, getRoom: (appId, roomId) => this.getRoom(appId, roomId) });
    this.presence = new RedisPresence({
      client,
      prefix: this.p,
      roomKeys: (appId, roomId) => this.roomKeys(appId, roomId),
      eventBlock: (appId, roomId, ts) => this.eventBlock(appId, roomId, NO_ENDPOINTS, 'member_offline', ts).args,
      applyLeave: (appId, roomId, leave, app) => this.applyLeave(appId, roomId, leave, 'member_offline', app.routing),
      now: () => this.now(),
    });
  }

  async close(): Promise<void> {
    this.feed.close();
    this.r.disconnect();
  }

  async ping(): Promise<void> {
    await this.guard(() => this.r.ping());
  }

  // ---- keys

  private roomKeys(appId: string, roomId: string) {
    const base = `${this.p}{${appId}:${roomId}}`;
    return { room: `${base}:room`, members: `${base}:members`, attrs: `${base}:attrs`, meta: `${base}:meta` };
  }

  private userKey(appId: string, username: string) {
    return `${this.p}{${appId}}:u:${username}`;
  }
  private uuidKey(appId: string, uuid: string) {
    return `${this.p}{${appId}}:id:${uuid}`;
  }
  private userRoomsKey(appId: string, username: string) {
    return `${this.p}{${appId}}:ur:${username}`;
  }
  private usageKey(appId: string) {
    return `${this.p}{${appId}}:usage`;
  }
  private outboxIndexKey(appId: string, endpoint: string) {
    return `${this.p}{${appId}}:obr:${endpoint}`;
  }
  private attemptsKey(appId: string) {
    return `${this.p}{${appId}}:wha`;
  }
  /** The room's live-feed channel: in the room's slot (its hash tag), so its scripts may SPUBLISH to it. */
  private channel(appId: string, roomId: string) {
    return `${this.p}{${appId}:${roomId}}:ev`;
  }
  private outboxKeys(appId: string, roomId: string, endpoint: string): [list: string, state: string, lease: string] {
    const base = `${this.p}{${appId}:${roomId}}`;
    return [`${base}:ob:${endpoint}`, `${base}:obs:${endpoint}`, `${base}:obl:${endpoint}`];
  }

  /**
   * The event block that starts a write script's ARGV (lua/lib/emit.lua), the endpoints whose
   * outbox index the caller still adds the room to after the script (`toIndex`), and the event's
   * post for `from` (the block itself does not depend on who acts). On a single Redis the script
   * adds the room to the indexes itself, as it queues the events: one command fewer an event.
   */
  private eventBlock(appId: string, roomId: string, routing: EventRouting, reason: EventReason, ts: number, from = '') {
    const t = eventTemplate({ roomId, appKey: routing.appKey, timestamp: ts, reason, from });
    const endpoints = routing.endpointsFor(reason);
    const args: Array<string | number> = [
      ts,
      t.pre,
      t.mid,
      this.channel(appId, roomId),
      this.logLimits.minEvents,
      this.logLimits.minAgeMs,
      endpoints.length,
      ...endpoints,
    ];
    if (endpoints.length === 0) return { args, toIndex: endpoints, post: t.post };
    // Known to be a single Redis (usageInScript has asked): the index sets may be written beside the room.
    const inScript = this.usageBesideRoom === true;
    args.push(inScript ? this.outboxIndexKey(appId, '') : '', roomId);
    return { args, toIndex: inScript ? NO_NAMES : endpoints, post: t.post };
  }

  private postOf(roomId: string, routing: EventRouting, reason: EventReason, ts: number, from: string): string {
    return eventTemplate({ roomId, appKey: routing.appKey, timestamp: ts, reason, from }).post;
  }

  /**
   * After a script queued events for webhook endpoints, the room joins each endpoint's index. A
   * process that dies in between leaves the queue unindexed until the next sweep finds it.
   */
  private async indexOutbox(appId: string, roomId: string, endpoints: readonly string[]): Promise<void> {
    for (const ep of endpoints) await this.r.sadd(this.outboxIndexKey(appId, ep), roomId);
  }
  private counterKey() {
    return `${this.p}counter:room`;
  }

  /** Any failure of Redis itself becomes a 503; the catalogue's errors pass through. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw Errors.storeUnavailable((err as Error).message);
    }
  }

  // ---- users

  async createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]> {
    return this.guard(async () => {
      const seen = new Set<string>();
      for (const u of users) {
        if (seen.has(u.username)) throw Errors.duplicateUser(appUuid(appId), u.username);
        seen.add(u.username);
      }
      const now = this.now();
      const records = users.map((u) => ({ uuid: newUserUuid(), username: u.username, created: now, modified: now }));
      const keys = records.flatMap((u) => [this.userKey(appId, u.username), this.uuidKey(appId, u.uuid)]);
      const args = records.flatMap((u, i) => [u.username, u.uuid, users[i]!.passwordHash, now]);
      const dup = await this.r.rkCreateUsers(keys.length, ...keys, ...args);
      if (dup !== 0) throw Errors.duplicateUser(appUuid(appId), String(dup));
      return records;
    });
  }

  private async readUser(appId: string, username: string): Promise<(UserRecord & { password: string }) | null> {
    const key = this.userKey(appId, username);
    const { uuid, password, created, modified } = await this.r.hgetall(key);
    if (!uuid) return null;
    // CREATE_USERS and RESTORE_USERS write the password with the uuid.
    if (password === undefined) throw new Error(`internal: the user hash ${key} has a uuid but no password`);
    return { uuid, username, created: Number(created), modified: Number(modified), password };
  }

  async getUser(appId: string, username: string): Promise<UserRecord | null> {
    return this.guard(async () => {
      const u = await this.readUser(appId, username);
      return u && { uuid: u.uuid, username: u.username, created: u.created, modified: u.modified };
    });
  }

  async getUserByUuid(appId: string, uuid: string): Promise<UserRecord | null> {
    return this.guard(async () => {
      const name = await this.r.get(this.uuidKey(appId, uuid));
      return name === null ? null : this.getUser(appId, name);
    });
  }

  async getPasswordHash(appId: string, username: string): Promise<string | null> {
    return this.guard(async () => (await this.readUser(appId, username))?.password ?? null);
  }

  /**
   * Leaves every room first (each room atomically, with autoDelete), then removes the user. If the
   * process dies in between, the user still exists and the call can be repeated.
   */
  async deleteUser(appId: string, username: string, routing: EventRouting): Promise<UserRecord | null> {
    return this.guard(async () => {
      const user = await this.readUser(appId, username);
      if (!user) return null;
      const rooms = await this.r.smembers(this.userRoomsKey(appId, username));
      for (const roomId of rooms) await this.removeFromRoom(appId, roomId, [username], true, routing);
      await this.r.del(this.userKey(appId, username), this.uuidKey(appId, user.uuid), this.userRoomsKey(appId, username));
      return { uuid: user.uuid, username, created: user.created, modified: user.modified };
    });
  }

  // ---- rooms

  async createRoom(appId: string, room: NewRoom): Promise<RoomRecord> {
    return this.guard(async () => {
      await this.requireUsers(appId, [room.owner, ...room.members]);
      const members = newRoomMembers(room);
      const id = roomIdFromSeq(await this.r.incr(this.counterKey()));
      const now = this.now();
      // The users' room index first: a stale entry there is harmless, a missing one would leak.
      for (const u of members) await this.r.sadd(this.userRoomsKey(appId, u), id);
      const k = this.roomKeys(appId, id);
      await this.roomIndex.add(appId, id);
      await this.r.rkCreateRoom(k.room, k.members, room.name, room.description, room.owner, room.maxusers, now, ...members);
      return {
        id,
        name: room.name,
        description: room.description,
        owner: room.owner,
        maxusers: room.maxusers,
        created: now,
        memberCount: members.length,
      };
    });
  }

  async getRoom(appId: string, roomId: string): Promise<RoomRecord | null> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const [h, count] = await Promise.all([this.r.hgetall(k.room), this.r.zcard(k.members)]);
      const { name, description, owner, maxusers, created } = h;
      if (!owner) return null;
      // CREATE_ROOM and RESTORE_ROOM write the name and description with the owner.
      if (name === undefined || description === undefined)
        throw new Error(`internal: the room hash ${k.room} has an owner but no name or description`);
      return {
        id: roomId,
        name,
        description,
        owner,
        maxusers: Number(maxusers),
        created: Number(created),
        memberCount: count,
      };
    });
  }

  async destroyRoom(appId: string, roomId: string, routing: EventRouting): Promise<boolean> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const ts = this.now();
      const ev = this.eventBlock(appId, roomId, routing, 'room_destroyed', ts);
      const res = await this.r.rkDestroyRoom(
        k.room,
        k.members,
        k.attrs,
        k.meta,
        ...ev.args,
        this.postOf(roomId, routing, 'room_destroyed', ts, 'admin'),
      );
      if (Number(res[0]) === 0) return false;
      await this.roomIndex.remove(appId, roomId);
      await this.indexOutbox(appId, roomId, ev.toIndex);
      const freed = Number(res[1]);
      if (freed !== 0) await this.r.decrby(this.usageKey(appId), freed);
      for (const u of res.slice(2)) await this.r.srem(this.userRoomsKey(appId, String(u)), roomId);
      return true;
    });
  }

  /** Every named user must exist (users are in the app's slot, read before the room's script). */
  private async requireUsers(appId: string, usernames: readonly string[]): Promise<void> {
    const unique = [...new Set(usernames)];
    const found = new Set<string>();
    for (const u of unique) if (await this.r.exists(this.userKey(appId, u))) found.add(u);
    requireUsers(usernames, (u) => found.has(u));
  }

  /** What the room rules plan a membership change from (READ_MEMBERS); null when there is no room. */
  private async readMembers(appId: string, roomId: string, usernames: readonly string[]) {
    const k = this.roomKeys(appId, roomId);
    const res = await this.r.rkReadMembers(k.room, k.members, ...usernames);
    if (Number(res[0]) === 0) return null;
    const member = new Map(usernames.map((u, i) => [u, Number(replyAt(res, 4 + i, 'READ_MEMBERS')) === 1]));
    return {
      k,
      owner: String(replyAt(res, 1, 'READ_MEMBERS')),
      maxusers: Number(replyAt(res, 2, 'READ_MEMBERS')),
      memberCount: Number(replyAt(res, 3, 'READ_MEMBERS')),
      isMember: (u: string) => member.get(u) === true,
    };
  }

  /** Plans with domain/ and applies while what the plan read holds; plans again when the room moved. */
  private async untilApplied<T>(attemptOnce: () => Promise<T | typeof MOVED>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ROOM_ATTEMPTS; attempt++) {
      const out = await attemptOnce();
      if (out !== MOVED) return out;
      await backoff(attempt);
    }
    throw Errors.storeUnavailable('too many concurrent changes to this chatroom, try again');
  }

  async addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]> {
    return this.guard(async () => {
      if (!(await this.r.exists(this.roomKeys(appId, roomId).room))) throw Errors.roomNotFound(roomId);
      await this.requireUsers(appId, usernames);
      const unique = [...new Set(usernames)];
      return this.untilApplied(async () => {
        const room = await this.readMembers(appId, roomId, unique);
        if (room === null) throw Errors.roomNotFound(roomId);
        const plan = planJoin({ id: roomId, maxusers: room.maxusers, memberCount: room.memberCount }, unique, room.isMember);
        // The users' room index first: a stale entry there is harmless, a missing one would leak.
        for (const u of plan.fresh) await this.r.sadd(this.userRoomsKey(appId, u), roomId);
        const read = plan.read.flatMap(([u, member]) => [u, member ? '1' : '0']);
        const res = await this.r.rkAddMembers(room.k.room, room.k.members, this.now(), plan.memberCount.max ?? '', ...read);
        const status = Number(res[0]);
        if (status === 0) throw Errors.roomNotFound(roomId);
        return status === 2 ? plan.fresh : MOVED;
      });
    });
  }

  async removeMembers(appId: string, roomId: string, usernames: string[], routing: EventRouting): Promise<RemoveResult[]> {
    return this.guard(() => this.removeFromRoom(appId, roomId, usernames, false, routing));
  }

  private async removeFromRoom(
    appId: string,
    roomId: string,
    usernames: string[],
    userDeleted: boolean,
    routing: EventRouting,
  ): Promise<RemoveResult[]> {
    return this.untilApplied(async () => {
      const room = await this.readMembers(appId, roomId, usernames);
      // A deleted user leaves even the rooms it owns; a removal by the admin route spares the owner.
      const plan = room === null ? null : planLeave(room, usernames, room.isMember, userDeleted);
      const applied =
        plan === null ? 'gone' : await this.applyLeave(appId, roomId, plan, userDeleted ? 'user_deleted' : 'member_left', routing);
      if (applied === 'gone' || plan === null) {
        if (userDeleted) return [];
        throw Errors.roomNotFound(roomId);
      }
      return applied === 'moved' ? MOVED : plan.outcomes;
    });
  }

  /**
   * Applies a removal (REMOVE_MEMBERS) while what its plan read holds: each named user's membership
   * and, for an offline leave (domain/presence.ts), each leaving user's offline-since. Then, beside
   * the room's script: the outbox index, the app's usage and the leavers' room indexes.
   */
  private async applyLeave(
    appId: string,
    roomId: string,
    plan: Pick<OfflineLeave, 'read' | 'leaving'> & Partial<Pick<OfflineLeave, 'offlineSince'>>,
    reason: 'member_left' | 'user_deleted' | 'member_offline',
    routing: EventRouting,
  ): Promise<'applied' | 'gone' | 'moved'> {
    const ts = this.now();
    const ev = this.eventBlock(appId, roomId, routing, reason, ts);
    const leaving = new Set(plan.leaving);
    const since = new Map(plan.offlineSince ?? []);
    const perUser = plan.read.flatMap(([u, member]) => [
      u,
      member ? '1' : '0',
      leaving.has(u) ? '1' : '0',
      this.postOf(roomId, routing, reason, ts, u),
      since.get(u) ?? '',
    ]);
    const k = this.roomKeys(appId, roomId);
    const pk = roomPresenceKeys(this.p, appId, roomId);
    const t = presenceTemplate(roomId, ts);
    const res = await this.r.rkRemoveMembers(
      k.room,
      k.members,
      k.attrs,
      k.meta,
      pk.pres,
      pk.on,
      pk.off,
      ...ev.args,
      t.head,
      t.online,
      t.offline,
      ...perUser,
    );
    const status = Number(res[0]);
    if (status === 0) return 'gone';
    if (status !== 2) return 'moved';
    if (plan.leaving.length > 0) {
      await this.indexOutbox(appId, roomId, ev.toIndex);
      const freed = Number(res[1]);
      if (freed !== 0) await this.r.decrby(this.usageKey(appId), freed);
      for (const user of plan.leaving) await this.r.srem(this.userRoomsKey(appId, user), roomId);
    }
    return 'applied';
  }

  async listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]> {
    return this.guard(async () => {
      const room = await this.getRoom(appId, roomId);
      if (!room) throw Errors.roomNotFound(roomId);
      const all = await this.r.zrange(this.roomKeys(appId, roomId).members, 0, -1);
      const ordered = all.includes(room.owner) ? [room.owner, ...all.filter((u) => u !== room.owner)] : all;
      return ordered.slice(offset, offset + limit);
    });
  }

  async isMember(appId: string, roomId: string, username: string): Promise<boolean> {
    return this.guard(async () => (await this.r.zscore(this.roomKeys(appId, roomId).members, username)) !== null);
  }

  // ---- attributes

  async setAttributes(call: SetCall): Promise<KeyOutcomes> {
    return this.guard(() => this.writes.set(call));
  }

  async deleteAttributes(call: DeleteCall): Promise<KeyOutcomes> {
    return this.guard(() => this.writes.delete(call));
  }

  /** Whether the app's usage counter may share a script with a room: not where the server enforces slots. */
  private async usageInScript(): Promise<boolean> {
    if (this.usageBesideRoom === null) {
      const info = await this.r.info('cluster');
      this.usageBesideRoom = !/^cluster_enabled:1/m.test(info);
    }
    return this.usageBesideRoom;
  }

  async getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>> {
    return parseAttributesJson(await this.getAttributesJson(appId, roomId, keys, member));
  }

  async getAttributeDetails(
    appId: string,
    roomId: string,
    keys: string[] | undefined,
    member?: string,
  ): Promise<Record<string, AttrDetail>> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const res = await this.r.rkReadDetail(k.room, k.members, k.attrs, k.meta, member ?? '', this.now(), ...(keys ?? []));
      const status = Number(res[0]);
      if (status === 0) throw Errors.roomNotFound(roomId);
      if (status === 1) throw Errors.notInRoom();
      const out = Object.create(null) as Record<string, AttrDetail>;
      for (let i = 1; i + 2 < res.length; i += 3) {
        const key = replyAt(res, i, 'READ_DETAIL');
        const [owner = '', auto, , revision, expiresAt] = replyAt(res, i + 2, 'READ_DETAIL').split('|'); // split gives the first part always
        out[key] = {
          value: replyAt(res, i + 1, 'READ_DETAIL'),
          owner,
          autoDelete: auto === '1' ? 'DELETE' : 'NO_DELETE',
          revision: Number(revision ?? 0),
          expiresAt: expiresAt === undefined || expiresAt === '' ? null : Number(expiresAt),
        };
      }
      return out;
    });
  }

  async getAttributesJson(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<string> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const res = await this.r.rkReadAttrs(k.room, k.members, k.attrs, member ?? '', this.now(), ...(keys ?? []));
      const status = Number(res[0]);
      if (status === 0) throw Errors.roomNotFound(roomId);
      if (status === 1) throw Errors.notInRoom();
      // The script's cjson text, passed on as it is.
      return String(res[1]);
    });
  }

  async listAttributes(appId: string, roomId: string): Promise<AttrRecord[]> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const [exists, attrs, metas] = await Promise.all([this.r.exists(k.room), this.r.hgetall(k.attrs), this.r.hgetall(k.meta)]);
      if (!exists) throw Errors.roomNotFound(roomId);
      const now = this.now();
      // A key past its time is left out (its meta's fifth part), swept or not.
      const live = (key: string) => {
        const at = (metas[key] ?? '').split('|')[4];
        return at === undefined || at === '' || Number(at) > now;
      };
      return Object.keys(attrs)
        .filter(live)
        .sort()
        .map((key) => {
          const [owner = '', auto] = (metas[key] ?? '||').split('|'); // split gives the first part always
          return { key, value: attrs[key]!, owner, autoDelete: auto === '1' ? 'DELETE' : 'NO_DELETE' };
        });
    });
  }

  // ---- events

  async readEvents(appId: string, roomId: string, afterSeq: number, limit: number): Promise<EventLogRead> {
    return this.guard(async () => {
      const base = `${this.p}{${appId}:${roomId}}`;
      // The epoch key lives in another slot: read beside the script, not in it.
      const [res, epoch] = await Promise.all([this.r.rkReadEvents(`${base}:room`, `${base}:log`, afterSeq, limit), this.logEpoch()]);
      const events: StoredEvent[] = [];
      for (let i = 3; i < res.length; i += 2) events.push({ seq: Number(res[i]), body: String(res[i + 1]) });
      return { exists: Number(res[0]) === 1, lastSeq: Number(res[1]), firstSeq: Number(res[2]), events, epoch };
    });
  }

  /**
   * Read from Redis each time, not kept: a Redis wiped under running instances gets a new epoch
   * from whichever instance looks first, and every instance then agrees on it.
   */
  async logEpoch(): Promise<string> {
    return this.guard(async () => {
      const key = `${this.p}epoch`;
      const found = await this.r.get(key);
      if (found !== null) return found;
      await this.r.set(key, newEpochValue().toString(36), 'NX');
      return (await this.r.get(key)) ?? '';
    });
  }

  /** A new log epoch, after a restore from a copy: every resume then takes a snapshot. */
  async renewLogEpoch(): Promise<string> {
    return this.guard(async () => {
      const epoch = newEpochValue().toString(36);
      await this.r.set(`${this.p}epoch`, epoch);
      return epoch;
    });
  }

  async snapshot(appId: string, roomId: string): Promise<Snapshot | null> {
    return this.guard(async () => {
      const k = this.roomKeys(appId, roomId);
      const res = await this.r.rkSnapshot(k.room, k.attrs, this.now());
      if (res.length === 0) return null;
      const attributes = Object.create(null) as Record<string, string>;
      eachPair(res, 1, 'SNAPSHOT', (key, value) => {
        attributes[key] = value;
      });
      return { seq: Number(res[0]), attributes };
    });
  }

  // ---- expiry (ExpiryStore; redis-expiry.ts)

  async expireDue(appId: string, routing: EventRouting): Promise<number> {
    return this.guard(() => this.expiry.sweep(appId, routing));
  }

  async subscribe(appId: string, roomId: string, listener: EventListener): Promise<() => void> {
    return this.guard(() => this.feed.subscribe(this.channel(appId, roomId), listener));
  }

  onFeedGap(listener: () => void): void {
    this.feed.onGap(listener);
  }

  // ---- presence (PresenceStore; redis-presence.ts)

  async recordConnections(
    app: PresenceApp,
    roomId: string,
    counts: ReadonlyArray<readonly [string, number]>,
    roomHeld: boolean,
  ): Promise<PresenceAnswer[]> {
    return this.guard(() => this.presence.recordConnections(app, roomId, counts, roomHeld));
  }

  async onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]> {
    return this.guard(() => this.presence.onlineMembers(appId, roomId, member));
  }

  async leaveOffline(app: PresenceApp): Promise<number> {
    return this.guard(() => this.presence.leaveOffline(app));
  }

  async sweepPresence(app: PresenceApp): Promise<void> {
    return this.guard(() => this.presence.sweepPresence(app));
  }

  async renewPresence(): Promise<boolean> {
    return this.guard(() => this.presence.renewPresence());
  }

  async recoverPresence(): Promise<void> {
    // Each start is a new holder: what an earlier run held is swept once its lease lapses.
  }

  async releasePresence(apps: readonly PresenceApp[]): Promise<void> {
    return this.guard(() => this.presence.releasePresence(apps));
  }

  async claimDeliveries(
    appId: string,
    endpoint: string,
    now: number,
    limit: number,
    busy: (roomId: string) => boolean,
    run = 1,
  ): Promise<Delivery[]> {
    return this.guard(async () => {
      const index = this.outboxIndexKey(appId, endpoint);
      // Claiming takes a lease: never take one for a room whose delivery is already in flight here.
      const rooms = (await this.r.srandmember(index, Math.max(limit * 4, 64))).filter((roomId) => !busy(roomId));
      const out: Delivery[] = [];
      // The claims of a wave go out together (one round trip for all on a single Redis), in waves
      // until `limit` are claimed or the rooms drawn are done: a room not due or leased elsewhere
      // leaves its place to the next wave.
      let next = 0;
      while (out.length < limit && next < rooms.length) {
        const wave = rooms.slice(next, next + limit - out.length);
        next += wave.length;
        const claimed = await Promise.all(wave.map((roomId) => this.claimOne(appId, endpoint, roomId, now, run)));
        for (const d of claimed) if (d !== null) out.push(d);
      }
      return out;
    });
  }

  /** OB_CLAIM of one room's queue: its head (or run), or null when it is empty, not due or leased elsewhere. */
  private async claimOne(appId: string, endpoint: string, roomId: string, now: number, run: number): Promise<Delivery | null> {
    const claim = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    const res = await this.r.rkObClaim(...this.outboxKeys(appId, roomId, endpoint), now, LEASE_MS, claim, run);
    const status = Number(res[0]);
    if (status === 0) await this.unindexIfEmpty(appId, roomId, endpoint);
    if (status !== 3) return null;
    // Queue items are `seq|body`: the head, then with a run the items after it.
    const events = [res[1], ...res.slice(4)].map((item) => {
      const text = String(item);
      const bar = text.indexOf('|');
      return { seq: Number(text.slice(0, bar)), body: text.slice(bar + 1) };
    });
    return {
      appId,
      endpoint,
      roomId,
      seq: events[0]!.seq,
      body: events[0]!.body,
      events,
      attempts: Number(res[2]),
      firstAttemptAt: res[3] === '' ? null : Number(res[3]),
      claim,
    };
  }

  /** Drops a drained queue from the index, then looks again: a write may have queued meanwhile. */
  private async unindexIfEmpty(appId: string, roomId: string, endpoint: string): Promise<void> {
    const index = this.outboxIndexKey(appId, endpoint);
    await this.r.srem(index, roomId);
    const [list] = this.outboxKeys(appId, roomId, endpoint);
    if ((await this.r.llen(list)) > 0) await this.r.sadd(index, roomId);
  }

  async finishDelivery(d: Delivery, attempt: AttemptRecord): Promise<void> {
    await this.guard(async () => {
      // A drained queue leaves the index at once: claims draw rooms from it at random, and drained
      // rooms left in it would crowd out the ones with events (kept, webhook p99 went from 0.3 to 5 s).
      // On a single Redis the script drops a drained queue from the index in the same step.
      const inScript = await this.usageInScript();
      const keys = this.outboxKeys(d.appId, d.roomId, d.endpoint);
      const last = d.events[d.events.length - 1]!.seq;
      const left = inScript
        ? await this.r.rkObFinish(4, ...keys, this.outboxIndexKey(d.appId, d.endpoint), d.claim, d.seq, last, d.roomId)
        : await this.r.rkObFinish(3, ...keys, d.claim, d.seq, last);
      if (left === 0 && !inScript) await this.unindexIfEmpty(d.appId, d.roomId, d.endpoint);
      await this.recordAttempt(d.appId, attempt);
    });
  }

  async retryDelivery(d: Delivery, nextAt: number, attempt: AttemptRecord): Promise<void> {
    await this.guard(async () => {
      await this.r.rkObRetry(...this.outboxKeys(d.appId, d.roomId, d.endpoint), d.claim, attempt.attempt, nextAt, attempt.at);
      await this.recordAttempt(d.appId, attempt);
    });
  }

  /**
   * Records an attempt in the app's list of recent ones. The attempts recorded in one turn of the
   * event loop (a batch's runs, deliveries ending together) go in one LPUSH and one LTRIM.
   */
  private recordAttempt(appId: string, a: AttemptRecord): Promise<void> {
    let pending = this.attemptsToRecord.get(appId);
    if (pending === undefined) {
      const values: string[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.attemptsToRecord.delete(appId);
        const key = this.attemptsKey(appId);
        await this.r.lpush(key, ...values);
        await this.r.ltrim(key, 0, ATTEMPTS_KEPT - 1);
      });
      pending = { values, done };
      this.attemptsToRecord.set(appId, pending);
    }
    pending.values.push(JSON.stringify(a));
    return pending.done;
  }

  async recentAttempts(appId: string, limit: number): Promise<AttemptRecord[]> {
    return this.guard(async () => (await this.r.lrange(this.attemptsKey(appId), 0, limit - 1)).map((j) => JSON.parse(j) as AttemptRecord));
  }

  async outboxDepth(appId: string, endpoint: string): Promise<number> {
    return this.guard(async () => {
      const rooms = await this.r.smembers(this.outboxIndexKey(appId, endpoint));
      let depth = 0;
      for (const n of await Promise.all(rooms.map((roomId) => this.r.llen(this.outboxKeys(appId, roomId, endpoint)[0])))) depth += n;
      return depth;
    });
  }

  /**
   * Finds outbox queues that lost their index entry (a process died between a room's script and
   * the index update) by scanning every master for them. Run at start and now and then.
   */
  async sweepOutbox(appId: string, endpoint: string): Promise<number> {
    return this.guard(async () => {
      const nodes = this.r instanceof Cluster ? this.r.nodes('master') : [this.r as Redis];
      const match = `${this.p}{${appId}:*}:ob:${endpoint}`;
      let found = 0;
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          cursor = next;
          for (const key of keys) {
            const tag = key.slice(key.indexOf('{') + 1, key.indexOf('}'));
            if (await this.r.sadd(this.outboxIndexKey(appId, endpoint), tag.slice(tag.indexOf(':') + 1))) found++;
          }
        } while (cursor !== '0');
      }
      return found;
    });
  }

  // ---- export and import (DataTransfer)

  /**
   * The keys matching `pattern` (after the prefix) on every master. The store keeps no index of an
   * app's users (rooms have one: room-list.ts), so the user list and export scan: O(keys of the
   * deployment) per page, for operations and moving data, not for a hot path.
   */
  private async scanKeys(pattern: string): Promise<string[]> {
    const nodes = this.r instanceof Cluster ? this.r.nodes('master') : [this.r as Redis];
    const match = this.p.replace(/[*?[\]\\]/g, '\\$&') + pattern;
    const found: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
    }
    return found;
  }

  async listUsers(appId: string, after: string, limit: number): Promise<UserDump[]> {
    return this.guard(async () => {
      const head = this.userKey(appId, '');
      const names = (await this.scanKeys(`{${appId}}:u:*`))
        .map((k) => k.slice(head.length))
        .filter((u) => u > after)
        .sort()
        .slice(0, limit);
      const users = await Promise.all(names.map((u) => this.readUser(appId, u)));
      return users
        .filter((u) => u !== null)
        .map((u) => ({ username: u.username, uuid: u.uuid, passwordHash: u.password, created: u.created, modified: u.modified }));
    });
  }

  async listRooms(appId: string, after: string, limit: number): Promise<RoomRecord[]> {
    return this.guard(() => this.roomIndex.list(appId, after, limit));
  }

  async dumpRoom(appId: string, roomId: string): Promise<RoomDump | null> {
    const k = this.roomKeys(appId, roomId);
    const res = await this.guard(() => this.r.rkDumpRoom(k.room, k.members, k.attrs, k.meta));
    if (res.length === 0) return null;
    const [[name, description, owner, maxusers, created], members, attrs, metas] = res;
    const meta = new Map<string, string>();
    eachPair(metas, 0, 'DUMP_ROOM', (key, value) => meta.set(key, value));
    const dump: RoomDump = {
      id: roomId,
      name,
      description,
      owner,
      maxusers: Number(maxusers),
      created: Number(created),
      members: [],
      attributes: [],
    };
    eachPair(members, 0, 'DUMP_ROOM', (username, joined) => dump.members.push({ username, joined: Number(joined) }));
    const now = this.now();
    eachPair(attrs, 0, 'DUMP_ROOM', (key, value) => {
      // "owner|auto|bytes|revision|expiresAt"; entries written before revisions or expiry are shorter.
      const [by = '', auto, , revision, at] = (meta.get(key) ?? '||').split('|'); // split gives the first part always
      const expiresAt = at === undefined || at === '' ? null : Number(at);
      // A key whose time has come is left out, as every read leaves it out before its sweep.
      if (expiresAt !== null && expiresAt <= now) return;
      dump.attributes.push({
        key,
        value,
        owner: by,
        autoDelete: auto === '1' ? 'DELETE' : 'NO_DELETE',
        revision: Number(revision ?? 0),
        expiresAt,
      });
    });
    dump.members.sort((a, b) => a.joined - b.joined || (a.username < b.username ? -1 : 1));
    dump.attributes.sort((a, b) => (a.key < b.key ? -1 : 1));
    return dump;
  }

  /** One script in the app's slot: every user, or none. */
  async restoreUsers(appId: string, users: UserDump[]): Promise<void> {
    if (users.length === 0) return;
    const keys = users.flatMap((u) => [this.userKey(appId, u.username), this.uuidKey(appId, u.uuid)]);
    const args = users.flatMap((u) => [u.username, u.uuid, u.passwordHash, u.created, u.modified]);
    const taken = await this.guard(() => this.r.rkRestoreUsers(keys.length, ...keys, ...args));
    if (taken !== 0) throw new RestoreConflict('user', String(taken));
  }

  /**
   * The room's keys in one script (all or nothing), each with its revision and expiry. Beside it,
   * in other slots: the id counter, the members' room indexes and the app's expiry index entries
   * first, and the app's usage raised before and moved back if the script did not restore: a death
   * in between leaves them too far or too high, never short.
   */
  async restoreRoom(appId: string, room: RoomDump): Promise<void> {
    const k = this.roomKeys(appId, room.id);
    const usageKey = this.usageKey(appId);
    const bytes = room.attributes.reduce((sum, a) => sum + pairBytes(a.key, a.value), 0);
    const restored = await this.guard(async () => {
      if (await this.r.exists(k.room)) return false;
      await this.roomIndex.add(appId, room.id);
      const seq = roomSeqOf(room.id);
      if (seq > 0) await this.r.rkRaiseCounter(this.counterKey(), seq);
      await Promise.all(room.members.map((m) => this.r.sadd(this.userRoomsKey(appId, m.username), room.id)));
      if (bytes) await this.r.incrby(usageKey, bytes);
      // The app's expiry index first (redis-expiry.ts): an entry for a room not restored points at nothing due.
      const expiries = room.attributes.flatMap((a) => (a.expiresAt === null ? [] : [[a.key, a.expiresAt] as const]));
      await this.expiry.index(appId, room.id, expiries);
      const args = [
        room.name,
        room.description,
        room.owner,
        room.maxusers,
        room.created,
        room.members.length,
        ...room.members.flatMap((m) => [m.username, m.joined]),
        ...room.attributes.flatMap((a) => [
          a.key,
          a.value,
          a.owner,
          a.autoDelete === 'DELETE' ? '1' : '0',
          pairBytes(a.key, a.value),
          a.revision ?? 0,
          a.expiresAt ?? '',
        ]),
      ];
      let applied = 0;
      try {
        applied = await this.r.rkRestoreRoom(k.room, k.members, k.attrs, k.meta, ...args);
      } finally {
        if (applied !== 1 && bytes) await this.r.decrby(usageKey, bytes);
      }
      return applied === 1;
    });
    if (!restored) throw new RestoreConflict('room', room.id);
  }

  /** See Store.integrityCheck; integrity.ts. */
  async integrityCheck(scope?: IntegrityScope): Promise<string[]> {
    const head = this.p.length;
    return this.guard(() =>
      redisIntegrity(
        this.r,
        {
          room: (appId, roomId) => this.roomKeys(appId, roomId),
          auto: (appId, roomId, owner) => `${this.p}{${appId}:${roomId}}:auto:${owner}`,
          log: (appId, roomId) => `${this.p}{${appId}:${roomId}}:log`,
          expiry: (appId, roomId) => `${this.p}{${appId}:${roomId}}:exp`,
          user: (appId, username) => this.userKey(appId, username),
          userRooms: (appId, username) => this.userRoomsKey(appId, username),
          usage: (appId) => this.usageKey(appId),
          scan: async (pattern) => (await this.scanKeys(pattern)).map((k) => k.slice(head)),
        },
        scope,
      ),
    );
  }
}
