import {
  needsValues,
  planDelete,
  planSet,
  type KeyOutcomes,
  type Preconditions,
  type Range,
  type StoredAttr,
} from '../../domain/attributes.js';
import { Errors } from '../../domain/errors.js';
import type { EventReason, EventRouting } from '../../domain/events.js';
import { expiresAtOf } from '../../domain/requests.js';
import type { DeleteCall, SetCall } from '../types.js';

/** What the writer needs of the store: its keys, its event blocks and its script runners. */
export interface WriterDeps {
  roomKeys(appId: string, roomId: string): { room: string; members: string; attrs: string; meta: string };
  usageKey(appId: string): string;
  eventBlock(
    appId: string,
    roomId: string,
    routing: EventRouting,
    reason: EventReason,
    ts: number,
    from: string,
  ): { args: Array<string | number>; toIndex: readonly string[]; post: string };
  now(): number;
  /** APPLY_SET with these arguments (KEYS count first); the runner owns the array from then on. */
  applySet(args: Array<string | number>): Promise<Array<string | number>>;
  applyDelete(args: Array<string | number>): Promise<Array<string | number>>;
  addUsage(key: string, delta: number): Promise<number>;
  indexOutbox(appId: string, roomId: string, endpoints: readonly string[]): Promise<void>;
  /** Whether the app's usage counter can sit beside the room in one script (a single Redis). */
  usageInScript(): Promise<boolean>;
  /** Writes the app's expiry index entries of keys a set is about to give an expiry (redis-expiry.ts). */
  indexExpiry(appId: string, roomId: string, expiries: ReadonlyArray<readonly [key: string, expiresAt: number]>): Promise<void>;
  /** The stored meta and value of each key ('' = absent), read together (what an increment plans from). */
  readValues(appId: string, roomId: string, keys: readonly string[]): Promise<Array<readonly [meta: string, value: string]>>;
  /** Removes the room's due keys with their events (EXPIRE_ROOM); null when the room is gone. */
  sweepRoom(appId: string, roomId: string, routing: EventRouting): Promise<{ removed: string[]; count: number } | null>;
}

/** How often a write plans again when another call changed what its plan was made from. */
const MAX_ATTEMPTS = 200;
const MAX_ROOMS = 50_000;
/**
 * Entries in all views together by default (about 230 bytes each; ROOMKV_REDIS_PLAN_CACHE_KEYS):
 * past it rooms go as the clock passes them.
 */
const MAX_ENTRIES = 500_000;
/**
 * One room's view holds at most this share of all entries (62,500 keys by default): a room of
 * many keys (an app may allow up to 1,000,000) stays warm instead of starting again at a small
 * bound, which made every write of such a room plan blind and go to Redis twice.
 */
const ROOM_SHARE = 8;
/** An increment's stored value longer than this is kept in a view as 'x' (not an integer either). */
const MAX_VALUE_KEPT = 40;

/**
 * A key's B:meta entry as last seen, parsed: the StoredAttr the domain plans on, with the parts a
 * precondition needs. Updated in place when the key is written again (a write allocates no object
 * that outlives it), and only synchronously: a plan reads it before its call awaits anything.
 * `raw` is the entry as Redis gave it; null for one this instance wrote (metaOf makes its text).
 */
interface Seen extends StoredAttr {
  revision: number;
  auto: string;
  expiresAt: number | '';
  raw: string | null;
}

/**
 * What this instance last saw of a room: the key count, B:meta entries, and the values of keys an
 * increment read or wrote (only while their meta is the one they came with). Its script keys are
 * made once. `used` is the clock bit of the views' eviction (set on each use, cleared as the clock
 * passes): a view in use is kept without moving it on every call.
 */
interface RoomView {
  id: string;
  count: number | null;
  /** null: the key is known to be absent. */
  metas: Map<string, Seen | null>;
  values: Map<string, string>;
  keys: Array<string | number> | null;
  used: boolean;
  /** Dropped from the views (a call that still holds it may note into it, uncounted). */
  gone?: boolean;
}

/** The B:meta entry "owner|auto|bytes|revision|expiresAt" of a key as seen ('' = absent), as plan-check.lua compares it. */
function metaOf(seen: Seen | null | undefined): string {
  if (seen === null || seen === undefined) return '';
  return seen.raw ?? `${seen.owner}|${seen.auto}|${seen.bytes}|${seen.revision}|${seen.expiresAt}`;
}

/**
 * Reads a B:meta entry from Redis into `seen` (expiresAt '' for none; entries written before have
 * three or four parts). A key past its time is never planned on: the script sends the call to
 * sweep its room first (status 4).
 */
function parseInto(seen: Seen, meta: string): Seen {
  const [owner = '', auto = '0', bytes, revision] = meta.split('|'); // split gives the first part always
  seen.owner = owner;
  seen.auto = auto;
  seen.bytes = Number(bytes);
  seen.revision = Number(revision ?? 0);
  seen.expiresAt = ''; // in raw
  seen.raw = meta;
  return seen;
}

/** A key as a plan looks it up (undefined = absent). */
function lookupIn(view: RoomView, key: string): StoredAttr | undefined {
  return view.metas.get(key) ?? undefined;
}

/** A key as an increment plans on it: what was seen, with its stored value when the view holds it. */
function withValue(view: RoomView, key: string): StoredAttr | undefined {
  const seen = view.metas.get(key) ?? undefined;
  const value = view.values.get(key);
  return seen === undefined || value === undefined ? seen : { owner: seen.owner, bytes: seen.bytes, revision: seen.revision, value };
}

/** The expiries of a set without a ttl (none), shared. */
const NO_EXPIRY: ReadonlyMap<string, number> = new Map();

const inRange = (n: number, r: Range) => (r.min === null || n >= r.min) && (r.max === null || n <= r.max);

/** A bound for plan-check.lua: '' is open. */
const bound = (n: number | null | undefined): string | number => (n === null || n === undefined ? '' : n);

/**
 * The one write path of attributes on Redis and Redis Cluster. Each call is planned by domain/
 * from what this instance last saw of the room (a bounded cache, refreshed by every reply), and
 * sent with the plan's preconditions to APPLY_SET or APPLY_DELETE, which apply it only while they
 * hold: one round trip when the instance's view is current. When it is not, the script answers
 * the room's current state and the call is planned again from that. No rule is decided in Lua.
 *
 * On a single Redis the app's usage counter is in the script too. On a cluster it is in another
 * slot: a plan whose outcome depends on the usage reserves its bytes first and goes on only if the
 * usage it found is in the plan's range (two round trips); any other plan moves the counter beside
 * the script. Either way no set takes the app past its byte quota.
 */
export class AttributeWrites {
  private readonly views = new Map<string, RoomView>();
  /** Entries in all views (metas and values), bounded by MAX_ENTRIES. */
  private entries = 0;
  /** Each room's increments on this instance, one after another: a hot counter never meets itself here. */
  private readonly counters = new Map<string, Promise<unknown>>();
  private readonly usage = new Map<string, number>();
  /** Calls applied, and the plans made again because the room had moved (bench/hot-key.ts reads these). */
  readonly stats = { calls: 0, replans: 0 };
  /** Whether the usage counter is in the room's script (asked of the store once). */
  private inScript: boolean | null = null;

  private readonly maxRooms: number;
  private readonly maxEntries: number;
  private readonly maxKeysPerRoom: number;

  /** `bounds` lowers the views' bounds (tests); by default MAX_ROOMS rooms and MAX_ENTRIES entries. */
  constructor(
    private readonly d: WriterDeps,
    bounds: { maxRooms?: number; maxEntries?: number } = {},
  ) {
    this.maxRooms = bounds.maxRooms ?? MAX_ROOMS;
    this.maxEntries = bounds.maxEntries ?? MAX_ENTRIES;
    this.maxKeysPerRoom = Math.max(64, Math.floor(this.maxEntries / ROOM_SHARE));
  }

  /** How much the views hold: rooms, and key entries in all of them. */
  sizes(): { rooms: number; entries: number } {
    return { rooms: this.views.size, entries: this.entries };
  }

  async set(call: SetCall): Promise<KeyOutcomes> {
    if (!needsValues(call)) return this.setFrom(call);
    // Increments of a room go one at a time on this instance; only other instances' writes make one plan again.
    const id = `${call.appId}\u0000${call.roomId}`;
    const run = (this.counters.get(id) ?? Promise.resolve()).then(
      () => this.setFrom(call),
      () => this.setFrom(call),
    );
    const tail = run.catch(() => undefined);
    this.counters.set(id, tail);
    void tail.then(() => {
      if (this.counters.get(id) === tail) this.counters.delete(id);
    });
    return run;
  }

  private async setFrom(call: SetCall): Promise<KeyOutcomes> {
    const inScript = this.inScript ?? (this.inScript = await this.d.usageInScript());
    const reason: EventReason = call.increment ? 'increment' : call.forced ? 'forced_set' : 'set';
    const auto = call.autoDelete === 'DELETE' ? '1' : '0';
    const counting = needsValues(call);
    // Each key's expiry is fixed when the call comes, whatever its tries; indexed before the first.
    let expiryOf = NO_EXPIRY;
    if (call.ttl !== undefined) {
      const now = this.d.now();
      const at = new Map<string, number>();
      for (const [key] of call.pairs) {
        const when = expiresAtOf(call.ttl, key, now);
        if (when !== null) at.set(key, when);
      }
      await this.d.indexExpiry(call.appId, call.roomId, [...at]);
      expiryOf = at;
    }
    const planFrom = (view: RoomView): Step => {
      const plan = planSet({
        ...call.conditions,
        ...(call.increment ? { increment: call.increment } : {}),
        user: call.user,
        forced: call.forced,
        pairs: call.pairs,
        limits: call.limits,
        lookup: counting ? (key) => withValue(view, key) : (key) => lookupIn(view, key),
        // Unknown to this instance: planned as empty, and the script's check says if it was not.
        roomCount: view.count ?? 0,
        appBytes: () => this.usage.get(call.appId) ?? 0,
      });
      const tail: Array<string | number> = [auto, plan.bytesDelta, plan.writes.length];
      for (const w of plan.writes) {
        const json = `${JSON.stringify(w.key)}:${JSON.stringify(w.value)}`;
        tail.push(w.key, w.value, w.bytes, json, w.previous?.owner ?? '', expiryOf.get(w.key) ?? '');
      }
      return {
        plan,
        reason,
        tail,
        run: (args) => this.d.applySet(args),
        written: (seq) => {
          for (const w of plan.writes) {
            const seen = this.slot(view, w.key, true, counting ? w.value : undefined)!;
            seen.owner = call.user;
            seen.auto = auto;
            seen.bytes = w.bytes;
            seen.revision = seq;
            seen.expiresAt = expiryOf.get(w.key) ?? '';
            seen.raw = null;
          }
        },
      };
    };
    const outcome = await this.untilApplied(
      call,
      call.user,
      true,
      inScript,
      counting
        ? async (view) => {
            await this.readValues(call.appId, call.roomId, view, call.pairs);
            return planFrom(view);
          }
        : planFrom,
    );
    if (expiryOf.size > 0) {
      // Applied after its time (a slow call): a sweep may have dropped the entry before the key was there.
      const late = outcome.successKeys.flatMap((key) => {
        const at = expiryOf.get(key);
        return at !== undefined && at <= this.d.now() ? [[key, at] as const] : [];
      });
      await this.d.indexExpiry(call.appId, call.roomId, late);
    }
    return outcome;
  }

  async delete(call: DeleteCall): Promise<KeyOutcomes> {
    const inScript = this.inScript ?? (this.inScript = await this.d.usageInScript());
    const reason: EventReason = call.forced ? 'forced_delete' : 'delete';
    return this.untilApplied(call, call.user, call.checkMembership, inScript, (view) => {
      const plan = planDelete({
        ...call.conditions,
        user: call.user,
        forced: call.forced,
        keys: call.keys,
        lookup: (key) => lookupIn(view, key),
      });
      const tail: Array<string | number> = [plan.bytesDelta, plan.removals.length];
      for (const r of plan.removals) tail.push(r.key, r.owner);
      return {
        plan: { ...plan, writes: plan.removals },
        reason,
        tail,
        run: (args) => this.d.applyDelete(args),
        written: () => {
          for (const r of plan.removals) this.slot(view, r.key, false, undefined);
        },
      };
    });
  }

  /** Forgets what this instance saw of a room (it was destroyed or restored). */
  forget(appId: string, roomId: string): void {
    const view = this.views.get(`${appId}\u0000${roomId}`);
    if (view !== undefined) this.drop(view);
  }

  private drop(view: RoomView): void {
    this.entries -= view.metas.size + view.values.size;
    view.gone = true;
    this.views.delete(view.id);
  }

  /**
   * Fills the view with the stored meta and value of every key of an increment when it lacks the
   * value of any. All of them, not only the missing: another call on this instance may note a key
   * (and drop its value) while the read is out, and the plan is made right after it, from values
   * that all came with their metas (an older one than another call noted costs a replan, no more).
   */
  private async readValues(appId: string, roomId: string, view: RoomView, pairs: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    const keys = pairs.map(([key]) => key);
    if (keys.every((key) => view.values.has(key) || view.metas.get(key) === null)) return;
    const read = await this.d.readValues(appId, roomId, keys);
    keys.forEach((key, i) => {
      const [meta, value] = read[i]!;
      this.note(view, key, meta, meta === '' ? undefined : value.length <= MAX_VALUE_KEPT ? value : 'x');
    });
  }

  private async untilApplied(
    call: { appId: string; roomId: string; routing: EventRouting },
    user: string,
    checkMember: boolean,
    inScript: boolean,
    planFrom: (view: RoomView) => Step | Promise<Step>,
  ): Promise<KeyOutcomes> {
    const { appId, roomId } = call;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const view = this.view(appId, roomId);
      const keys = view.keys ?? (view.keys = this.scriptKeys(appId, roomId, inScript));
      const made = planFrom(view);
      const step = made instanceof Promise ? await made : made;
      const { plan } = step;
      const pre = plan.preconditions;
      // The metas the plan was made from, read now: another call may note its write in the view
      // while this one awaits its reservation below.
      const metas = pre.keys.map((key) => metaOf(view.metas.get(key)));
      const usageKey = inScript ? '' : this.d.usageKey(appId);
      let reserved = false;
      if (!inScript && pre.appBytes !== null) {
        // The plan depends on the app's usage, in another slot: its bytes are reserved first, and
        // the plan goes on only if the usage it found is one the plan holds for (an exact quota).
        const total = await this.d.addUsage(usageKey, plan.bytesDelta);
        const found = total - plan.bytesDelta;
        this.noteUsage(appId, found);
        if (!inRange(found, pre.appBytes)) {
          if (plan.bytesDelta !== 0) await this.d.addUsage(usageKey, -plan.bytesDelta);
          this.stats.replans += 1;
          continue;
        }
        reserved = true;
      }
      const ev = this.d.eventBlock(appId, roomId, call.routing, step.reason, this.d.now(), user);
      // The script's arguments in one array (this runs on every write): keys, event block, the
      // plan's preconditions (plan-check.lua), then the plan itself.
      const args = keys.slice();
      for (const a of ev.args) args.push(a);
      args.push(
        ev.post,
        user,
        checkMember ? '1' : '0',
        bound(pre.roomCount?.min),
        bound(pre.roomCount?.max),
        bound(pre.appBytes?.min),
        bound(pre.appBytes?.max),
        pre.keys.length,
      );
      pre.keys.forEach((key, i) => args.push(key, metas[i]!));
      for (const a of step.tail) args.push(a);
      const apply = step.run(args);
      // A plan that does not depend on the usage moves it beside the script, in the same round trip.
      const beside = !inScript && !reserved && plan.writes.length > 0 && plan.bytesDelta !== 0;
      let reply: Array<string | number>;
      if (!beside && !reserved) {
        // The common case (and every call on a single Redis): nothing to move back whatever the answer.
        reply = await apply;
      } else {
        const [res, usage] = beside
          ? await Promise.allSettled([apply, this.d.addUsage(usageKey, plan.bytesDelta)])
          : [await settle(apply), NOT_MOVED];
        const applied = res.status === 'fulfilled' && Number(res.value[0]) === 2;
        if (!applied && plan.bytesDelta !== 0 && (reserved || (beside && usage.status === 'fulfilled'))) {
          // Moved for a script that did not apply: moved back.
          await this.d.addUsage(usageKey, -plan.bytesDelta);
        } else if (applied && beside && usage.status === 'fulfilled') this.noteUsage(appId, usage.value as number);
        else if (applied && reserved) this.noteUsage(appId, (this.usage.get(appId) ?? 0) + plan.bytesDelta);
        if (res.status === 'rejected') throw res.reason;
        if (usage.status === 'rejected') throw usage.reason;
        reply = res.value;
      }
      const status = Number(reply[0]);
      if (status === 0) {
        this.forget(appId, roomId);
        throw Errors.roomNotFound(roomId);
      }
      if (status === 1) throw Errors.notInRoom();
      if (status === 4) {
        // The room holds a key past its time: swept first (with its events), then planned again.
        const swept = await this.d.sweepRoom(appId, roomId, call.routing);
        if (swept === null) continue;
        for (const key of swept.removed) this.slot(view, key, false, undefined);
        view.count = swept.count;
        continue;
      }
      if (status === 2) {
        this.stats.calls += 1;
        const seq = Number(reply[1]);
        view.count = Number(reply[2]);
        if (seq !== 0) {
          step.written(seq);
          if (inScript && plan.bytesDelta !== 0) this.noteUsage(appId, (this.usage.get(appId) ?? 0) + plan.bytesDelta);
          if (ev.toIndex.length > 0) await this.d.indexOutbox(appId, roomId, ev.toIndex);
        }
        return plan.outcome;
      }
      // status 3: the room moved since this instance saw it; plan again from what it is now.
      this.stats.replans += 1;
      view.count = Number(reply[1]);
      if (reply[2] !== '') this.noteUsage(appId, Number(reply[2]));
      pre.keys.forEach((key, i) => this.note(view, key, String(reply[3 + i] ?? '')));
      await backoff(attempt);
    }
    throw Errors.storeUnavailable('too many concurrent writes to this chatroom, try again');
  }

  private noteUsage(appId: string, bytes: number): void {
    this.usage.set(appId, bytes);
    if (this.usage.size > this.maxRooms) this.usage.delete(this.usage.keys().next().value as string);
  }

  /** The KEYS of the room's write scripts, with their count first. */
  private scriptKeys(appId: string, roomId: string, inScript: boolean): Array<string | number> {
    const k = this.d.roomKeys(appId, roomId);
    return inScript ? [5, k.room, k.members, k.attrs, k.meta, this.d.usageKey(appId)] : [4, k.room, k.members, k.attrs, k.meta];
  }

  /** The room's view; past MAX_ROOMS the clock drops one that was not used since it last passed. */
  private view(appId: string, roomId: string): RoomView {
    const id = `${appId}\u0000${roomId}`;
    let view = this.views.get(id);
    if (view !== undefined) {
      view.used = true;
      return view;
    }
    view = { id, count: null, metas: new Map(), values: new Map(), keys: null, used: false };
    this.views.set(id, view);
    if (this.views.size > this.maxRooms) this.evictOne();
    return view;
  }

  /**
   * Drops the oldest view not used since the clock last passed it; a used one loses its bit and
   * goes to the back (second chance). Every view is passed at most twice, so one is always dropped.
   */
  private evictOne(): void {
    for (const view of this.views.values()) {
      if (!view.used) {
        this.drop(view);
        return;
      }
      view.used = false;
      this.views.delete(view.id);
      this.views.set(view.id, view);
    }
  }

  /**
   * Notes a key's meta as Redis gave it ('' = absent); its value too when given, else the view no
   * longer holds one (it went with the old meta). A write of this instance fills its slot directly.
   */
  private note(view: RoomView, key: string, meta: string, value?: string): void {
    const seen = this.slot(view, key, meta !== '', value);
    if (seen !== null) parseInto(seen, meta);
  }

  /**
   * The key's entry in the view, present (the caller fills it; the one the view had is reused) or
   * absent (null); its value noted when given, else dropped (it went with the old meta).
   */
  private slot(view: RoomView, key: string, present: boolean, value: string | undefined): Seen | null {
    const before = view.metas.size + view.values.size;
    let seen = view.metas.get(key);
    // Past the bound the view starts again: a view is only a guess, and a wrong guess costs a replan.
    if (seen === undefined && view.metas.size >= this.maxKeysPerRoom) {
      view.metas.clear();
      view.values.clear();
    }
    if (!present) seen = null;
    else seen ??= { owner: '', bytes: 0, revision: 0, auto: '0', expiresAt: '', raw: null };
    view.metas.set(key, seen);
    if (value !== undefined) view.values.set(key, value);
    else view.values.delete(key);
    if (view.gone !== true) {
      this.entries += view.metas.size + view.values.size - before;
      // Past the bound on all views, rooms go as the clock passes them.
      while (this.entries > this.maxEntries && this.views.size > 0) this.evictOne();
    }
    return seen;
  }
}

/** One try of a call: its plan, the script's tail arguments, and what it writes into the view once applied. */
interface Step {
  plan: { outcome: KeyOutcomes; writes: readonly unknown[]; bytesDelta: number; preconditions: Preconditions };
  reason: EventReason;
  tail: Array<string | number>;
  run: (args: Array<string | number>) => Promise<Array<string | number>>;
  /** Notes the applied writes in the view the plan was made from. */
  written: (seq: number) => void;
}

/** The outcome of a promise as Promise.allSettled gives it, without the array around it. */
function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return p.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );
}

/** The usage's outcome when it was not moved beside the script. */
const NOT_MOVED: PromiseSettledResult<null> = { status: 'fulfilled', value: null };

/** Spreads the calls that keep meeting each other on a hot room, so that one of them applies each round. */
export function backoff(attempt: number): Promise<void> {
  if (attempt < 2) return new Promise((resolve) => setImmediate(resolve));
  const ms = Math.random() * Math.min(20, attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
