import { Cluster, type Redis } from 'ioredis';
import { isRoomId } from '../../domain/ids.js';
import type { RoomRecord } from '../types.js';
import type { RedisClient } from './redis-store.js';

export interface RoomIndexDeps {
  client: RedisClient;
  prefix: string;
  getRoom(appId: string, roomId: string): Promise<RoomRecord | null>;
}

/**
 * An index member sorts as ids do (compareRoomIds: by length, then by digits): the length first,
 * two digits wide, so one ZRANGEBYLEX walks rooms in id order from any id.
 */
function memberOf(roomId: string): string {
  return `${String(roomId.length).padStart(2, '0')}:${roomId}`;
}

/**
 * Each app's rooms in one sorted set in the app's slot (`{app}:rooms`, every score 0), so a page
 * of the room list costs its own length, not a scan of the deployment: rooms live in their own
 * slots and a cluster has no other way to find them. The room's keys and its index entry are in
 * different slots, so they are written in the order that is harmless if the process dies in
 * between: the entry before a room is made, after it is destroyed. A stale entry names no room and
 * the listing skips it; it is never removed by a reader, which could race a create under way.
 */
export class RedisRoomIndex {
  /** Apps whose index this process has seen built (the marker key exists). */
  private readonly built = new Map<string, Promise<void>>();

  constructor(private readonly deps: RoomIndexDeps) {}

  private key(appId: string): string {
    return `${this.deps.prefix}{${appId}}:rooms`;
  }
  private builtKey(appId: string): string {
    return `${this.deps.prefix}{${appId}}:rooms:built`;
  }

  async add(appId: string, roomId: string): Promise<void> {
    await this.deps.client.zadd(this.key(appId), 0, memberOf(roomId));
  }

  async remove(appId: string, roomId: string): Promise<void> {
    await this.deps.client.zrem(this.key(appId), memberOf(roomId));
  }

  /** Rooms whose id comes after `after` ('' = from the start), in id order, at most `limit`. */
  async list(appId: string, after: string, limit: number): Promise<RoomRecord[]> {
    await this.ready(appId);
    const found: RoomRecord[] = [];
    let from = after === '' ? '-' : `(${memberOf(after)}`;
    while (found.length < limit) {
      const want = limit - found.length;
      const members = await this.deps.client.zrangebylex(this.key(appId), from, '+', 'LIMIT', 0, want);
      const ids = members.map((m) => m.slice(3)).filter((id) => isRoomId(id));
      const rooms = await Promise.all(ids.map((id) => this.deps.getRoom(appId, id)));
      for (const room of rooms) if (room !== null) found.push(room);
      const last = members.at(-1);
      if (members.length < want || last === undefined) break;
      from = `(${last}`;
    }
    return found;
  }

  /**
   * Rooms made before the index existed (a store written by an older roomkv) join it once per
   * deployment and app: one scan, then a marker. Rooms made meanwhile add themselves; a room
   * destroyed meanwhile may be left as a stale entry, which the listing skips.
   */
  private ready(appId: string): Promise<void> {
    let done = this.built.get(appId);
    if (!done) {
      done = this.build(appId);
      this.built.set(appId, done);
      done.catch(() => this.built.delete(appId));
    }
    return done;
  }

  private async build(appId: string): Promise<void> {
    const { client, prefix } = this.deps;
    if (await client.exists(this.builtKey(appId))) return;
    const head = `${prefix}{${appId}:`;
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}{${appId}:*}:room`;
    const nodes = client instanceof Cluster ? client.nodes('master') : [client as Redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        const ids = keys.map((k) => k.slice(head.length, -'}:room'.length)).filter((id) => isRoomId(id));
        if (ids.length > 0) await client.zadd(this.key(appId), ...ids.flatMap((id) => [0, memberOf(id)]));
      } while (cursor !== '0');
    }
    await client.set(this.builtKey(appId), '1');
  }
}
