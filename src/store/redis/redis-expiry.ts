import { randomBytes } from 'node:crypto';
import type { EventRouting } from '../../domain/events.js';
import type { WriterDeps } from './attribute-writes.js';
import { LUA } from './lua-registry.js';
import type { RedisClient } from './redis-store.js';
import { scriptRunner } from './script-command.js';

/** Due entries of an app's index looked at per pass, at most. */
const DUE_BATCH = 200;
/** Stands for the owner in an expired event's post, which EXPIRE_ROOM fills in per owner. */
const OWNER_MARK = '\u0000';

/** What the sweeps need of the store: the write path's own keys, event blocks and clock. */
export interface RedisExpiryDeps extends Pick<
  WriterDeps,
  'roomKeys' | 'usageKey' | 'usageInScript' | 'eventBlock' | 'indexOutbox' | 'now'
> {
  client: RedisClient;
  prefix: string;
}

/** What sweeping one room did: the keys removed and the room's key count after; null when the room is gone. */
export interface RoomSwept {
  removed: string[];
  count: number;
}

/**
 * Expiry on Redis (store/types.ts ExpiryStore). Per room, B:exp (ZSET key -> expiresAt ms) is the
 * truth, written with the key by APPLY_SET; EXPIRE_ROOM removes what it says is due. Per app,
 * `{app}:exp` (ZSET "room\0key\0expiresAt\0nonce" -> expiresAt) only says which rooms to look at:
 * an entry is written before the write that sets its key's expiry, unique to that write, and
 * dropped once its room was swept at or after its time. A process that dies between the two
 * leaves an entry that points at nothing due, never a due key that nothing points at; a write
 * applied only after its key's time (a slow call) writes its entry again after, so a sweep that
 * dropped the first entry before the key was written does not lose it.
 */
export class RedisExpiry {
  private readonly run: (...args: Array<string | number>) => Promise<unknown>;

  constructor(private readonly d: RedisExpiryDeps) {
    this.run = scriptRunner(d.client, LUA.EXPIRE_ROOM);
  }

  private indexKey(appId: string): string {
    return `${this.d.prefix}{${appId}}:exp`;
  }

  /** Writes the index entries of keys a write is about to give an expiry (before the write). */
  async index(appId: string, roomId: string, expiries: ReadonlyArray<readonly [key: string, expiresAt: number]>): Promise<void> {
    if (expiries.length === 0) return;
    const nonce = randomBytes(6).toString('base64url');
    const args = expiries.flatMap(([key, at]) => [at, `${roomId}\u0000${key}\u0000${at}\u0000${nonce}`]);
    await this.d.client.zadd(this.indexKey(appId), ...args);
  }

  /** Removes the room's due keys, with their events; then the outbox index and, on a cluster, the app's usage. */
  async sweepRoom(appId: string, roomId: string, routing: EventRouting): Promise<RoomSwept | null> {
    const now = this.d.now();
    const inScript = await this.d.usageInScript();
    const k = this.d.roomKeys(appId, roomId);
    const keys = inScript ? [4, k.room, k.attrs, k.meta, this.d.usageKey(appId)] : [3, k.room, k.attrs, k.meta];
    const ev = this.d.eventBlock(appId, roomId, routing, 'expired', now, OWNER_MARK);
    // JSON writes the mark as the six characters \u0000: what is around them is the post's head and tail.
    const [head, tail] = ev.post.split('\\u0000');
    if (head === undefined || tail === undefined) throw new Error('internal: the expired event post has no owner mark');
    const res = (await this.run(...keys, ...ev.args, head, tail, now)) as Array<string | number>;
    if (Number(res[0]) === 0) return null;
    const removed = res.slice(3).map(String);
    if (removed.length > 0) {
      await this.d.indexOutbox(appId, roomId, ev.toIndex);
      const freed = Number(res[1]);
      if (!inScript && freed !== 0) await this.d.client.decrby(this.d.usageKey(appId), freed);
    }
    return { removed, count: Number(res[2]) };
  }

  /** One pass over the app's index: each room with an entry due is swept, then its entries dropped. */
  async sweep(appId: string, routing: EventRouting): Promise<number> {
    const index = this.indexKey(appId);
    const entries = await this.d.client.zrangebyscore(index, '-inf', this.d.now(), 'LIMIT', 0, DUE_BATCH);
    const byRoom = new Map<string, string[]>();
    for (const entry of entries) {
      const roomId = entry.slice(0, entry.indexOf('\u0000'));
      const of = byRoom.get(roomId);
      if (of === undefined) byRoom.set(roomId, [entry]);
      else of.push(entry);
    }
    let removed = 0;
    for (const [roomId, of] of byRoom) {
      removed += (await this.sweepRoom(appId, roomId, routing))?.removed.length ?? 0;
      await this.d.client.zrem(index, ...of);
    }
    return removed;
  }
}
