import { randomBytes } from 'node:crypto';
import { presenceTemplate } from '../../domain/events.js';
import { Errors } from '../../domain/errors.js';
import { planOfflineLeave, type OfflineLeavePlan, type OfflineRead } from '../../domain/presence.js';
import type { PresenceAnswer, PresenceApp } from '../types.js';
import { backoff } from './attribute-writes.js';
import { LUA } from './lua-registry.js';
import type { RedisClient } from './redis-store.js';
import { scriptRunner } from './script-command.js';

/** How long an instance's connections count without the instance renewing its lease (spec: within 10 s). */
export const LEASE_MS = 7000;
/** Due entries of the offline-leave index looked at per pass, at most. */
const DUE_BATCH = 100;
/** How often an offline leave is planned again when its room keeps moving, in one pass. */
const MAX_ATTEMPTS = 20;

/** A room's presence keys (lib/presence.lua): in the room's hash tag, beside its other keys. */
export function roomPresenceKeys(prefix: string, appId: string, roomId: string) {
  const base = `${prefix}{${appId}:${roomId}}`;
  return { pres: `${base}:pres`, on: `${base}:on`, off: `${base}:off` };
}

/** What an offline leave asks of the store's removal path: the users it read, who leave, and their offline-since. */
export type OfflineLeave = Pick<OfflineLeavePlan, 'read' | 'leaving' | 'offlineSince'>;

export interface RedisPresenceDeps {
  client: RedisClient;
  prefix: string;
  roomKeys(appId: string, roomId: string): { room: string; members: string };
  /** The event block that starts a room script's ARGV: the presence scripts write no event, but publish on its channel. */
  eventBlock(appId: string, roomId: string, ts: number): Array<string | number>;
  /** The store's removal (REMOVE_MEMBERS) of an offline leave, applied while what the plan read holds. */
  applyLeave(appId: string, roomId: string, leave: OfflineLeave, app: PresenceApp): Promise<'applied' | 'gone' | 'moved'>;
  now(): number;
}

type Run = (...args: Array<string | number>) => Promise<unknown>;

const ANSWERS: Record<number, PresenceAnswer> = { 1: 'not_member', 2: 'same', 3: 'online', 4: 'offline' };

/**
 * Presence on Redis (store/types.ts PresenceStore). Each roomkv instance is a holder, with a random
 * id. Per room (lib/presence.lua): B:pres "user|holder" -> that holder's connections, B:on user ->
 * connections on every holder, B:off user -> offline since. Per app, under {app}: phb:<holder>
 * the holder's lease (a key that lapses unless renewed), ph:<holder> the rooms where it holds
 * connections, pholders the holders, pdue the offline-leave index ("room" or "room|user" -> due ms;
 * only an index: the room's own state decides). The index entries (holder, room, due) are written
 * before the room's script, so a process that dies in between leaves an entry that points at
 * nothing to do, never counts that nothing points at.
 */
export class RedisPresence {
  private holder = newHolder();
  /** The apps whose lease this holder has taken. */
  private readonly leased = new Set<string>();
  private readonly run: Record<'set' | 'sweep' | 'read' | 'online' | 'undue' | 'forget', Run>;
  private readonly r: RedisClient;

  constructor(private readonly d: RedisPresenceDeps) {
    this.r = d.client;
    const runner = (name: keyof typeof LUA) => scriptRunner(d.client, LUA[name]);
    this.run = {
      set: runner('PRES_SET'),
      sweep: runner('PRES_SWEEP'),
      read: runner('PRES_READ'),
      online: runner('PRES_ONLINE'),
      undue: runner('PRES_UNDUE'),
      forget: runner('PRES_FORGET'),
    };
  }

  private appKeys(appId: string, holder: string) {
    const a = `${this.d.prefix}{${appId}}`;
    return { holders: `${a}:pholders`, rooms: `${a}:ph:${holder}`, lease: `${a}:phb:${holder}`, due: `${a}:pdue` };
  }

  /** KEYS room members pres on off, then the event and presence blocks of ARGV. */
  private roomArgs(appId: string, roomId: string, now: number): Array<string | number> {
    const k = this.d.roomKeys(appId, roomId);
    const pk = roomPresenceKeys(this.d.prefix, appId, roomId);
    const t = presenceTemplate(roomId, now);
    return [k.room, k.members, pk.pres, pk.on, pk.off, ...this.d.eventBlock(appId, roomId, now), t.head, t.online, t.offline];
  }

  async recordConnections(
    app: PresenceApp,
    roomId: string,
    counts: ReadonlyArray<readonly [string, number]>,
    roomHeld: boolean,
  ): Promise<PresenceAnswer[]> {
    const holder = this.holder;
    const a = this.appKeys(app.appId, holder);
    const now = this.d.now();
    if (counts.some(([, n]) => n > 0)) {
      await this.takeLease(app.appId, holder);
      await Promise.all([this.r.sadd(a.holders, holder), this.r.sadd(a.rooms, roomId)]);
    }
    const gone = counts.filter(([, n]) => n === 0);
    if (gone.length > 0) await this.r.zadd(a.due, ...gone.flatMap(([user]) => [now + app.graceMs, `${roomId}|${user}`]));
    const res = (await this.run.set(...this.roomArgs(app.appId, roomId, now), holder, now, ...counts.flat())) as number[];
    // The tracker records one room at a time: nothing of this room can be on its way meanwhile.
    if (!roomHeld) await this.r.srem(a.rooms, roomId);
    return res.map((code) => {
      const answer = ANSWERS[Number(code)];
      if (answer === undefined) throw new Error(`internal: PRES_SET answered ${String(code)}`);
      return answer;
    });
  }

  /** The first connection of an app under this holder takes its lease; renewPresence keeps it. */
  private async takeLease(appId: string, holder: string): Promise<void> {
    // A holder that lost its lease never takes it again: its counts are swept, a new holder records them.
    if (holder !== this.holder || this.leased.has(appId)) return;
    await this.r.set(this.appKeys(appId, holder).lease, '1', 'PX', LEASE_MS);
    if (holder === this.holder) this.leased.add(appId);
  }

  async onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]> {
    const k = this.d.roomKeys(appId, roomId);
    const res = (await this.run.online(k.room, k.members, roomPresenceKeys(this.d.prefix, appId, roomId).on, member ?? '')) as Array<
      string | number
    >;
    const status = Number(res[0]);
    if (status === 0) throw Errors.roomNotFound(roomId);
    if (status === 1) throw Errors.notInRoom();
    return res.slice(1).map(String).sort();
  }

  async renewPresence(): Promise<boolean> {
    const holder = this.holder;
    let lapsed = false;
    for (const appId of [...this.leased]) {
      if ((await this.r.set(this.appKeys(appId, holder).lease, '1', 'PX', LEASE_MS, 'XX')) === null) lapsed = true;
    }
    if (lapsed && holder === this.holder) {
      // Another instance may be sweeping what this one held: start again as a new holder.
      this.holder = newHolder();
      this.leased.clear();
    }
    return lapsed;
  }

  async sweepPresence(app: PresenceApp): Promise<void> {
    const a = this.appKeys(app.appId, this.holder);
    for (const holder of await this.r.smembers(a.holders)) {
      if (holder === this.holder) continue;
      if ((await this.r.exists(this.appKeys(app.appId, holder).lease)) === 1) continue;
      await this.sweepHolder(app, holder);
    }
  }

  /** Drops what `holder` held in every room of the app; its users left with no connection are offline from now. */
  private async sweepHolder(app: PresenceApp, holder: string): Promise<void> {
    const a = this.appKeys(app.appId, holder);
    for (const roomId of await this.r.smembers(a.rooms)) {
      const now = this.d.now();
      // The room's due entry first: a death before the sweep's script leaves it pointing at nothing,
      // one after leaves it for the users the sweep made offline.
      await this.r.zadd(a.due, now + app.graceMs, roomId);
      await this.run.sweep(...this.roomArgs(app.appId, roomId, now), holder, now);
      await this.r.srem(a.rooms, roomId);
    }
    await this.run.forget(a.holders, a.rooms, a.lease, holder);
  }

  async releasePresence(apps: readonly PresenceApp[]): Promise<void> {
    const holder = this.holder;
    for (const app of apps) {
      if (!this.leased.has(app.appId)) continue;
      await this.r.del(this.appKeys(app.appId, holder).lease);
      this.leased.delete(app.appId);
      await this.sweepHolder(app, holder);
    }
  }

  async leaveOffline(app: PresenceApp): Promise<number> {
    const { due } = this.appKeys(app.appId, this.holder);
    const entries = await this.r.zrangebyscore(due, '-inf', this.d.now(), 'WITHSCORES', 'LIMIT', 0, DUE_BATCH);
    let left = 0;
    for (let i = 0; i + 1 < entries.length; i += 2) {
      const entry = entries[i]!;
      const bar = entry.indexOf('|');
      const roomId = bar < 0 ? entry : entry.slice(0, bar);
      const out = await this.leaveIn(app, roomId, bar < 0 ? [] : [entry.slice(bar + 1)]);
      left += out.left;
      // Someone still offline and not due yet: look again then. Else the entry goes, unless written again meanwhile.
      if (out.nextAt !== null) await this.r.zadd(due, out.nextAt, entry);
      else await this.run.undue(due, entry, entries[i + 1]!);
    }
    return left;
  }

  /** Plans the offline leaves of `users` (none: everyone offline) in one room and applies them; plans again when the room moved. */
  private async leaveIn(app: PresenceApp, roomId: string, users: string[]): Promise<{ left: number; nextAt: number | null }> {
    const k = this.d.roomKeys(app.appId, roomId);
    const off = roomPresenceKeys(this.d.prefix, app.appId, roomId).off;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const res = (await this.run.read(k.room, k.members, off, ...users)) as Array<string | number>;
      if (Number(res[0]) === 0) return { left: 0, nextAt: null };
      const reads = new Map<string, OfflineRead>();
      for (let i = 2; i + 2 < res.length; i += 3) {
        reads.set(String(res[i]), { member: Number(res[i + 1]) === 1, offlineSince: res[i + 2] === '' ? null : Number(res[i + 2]) });
      }
      const plan = planOfflineLeave({ owner: String(res[1]) }, reads, app.graceMs, this.d.now());
      if (plan.leaving.length === 0) return { left: 0, nextAt: plan.nextAt };
      // The leaves depend on the leaving users alone: only theirs are the removal's preconditions.
      const leaving = new Set(plan.leaving);
      const leave = { read: plan.read.filter(([u]) => leaving.has(u)), leaving: plan.leaving, offlineSince: plan.offlineSince };
      const applied = await this.d.applyLeave(app.appId, roomId, leave, app);
      if (applied === 'gone') return { left: 0, nextAt: null };
      if (applied === 'applied') return { left: plan.leaving.length, nextAt: plan.nextAt };
      await backoff(attempt);
    }
    throw Errors.storeUnavailable('too many concurrent changes to this chatroom, try again');
  }
}

function newHolder(): string {
  return randomBytes(8).toString('hex');
}
