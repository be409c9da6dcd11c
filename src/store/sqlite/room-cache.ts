import { attributesJson } from '../attr-json.js';

/**
 * The attributes of recently read rooms, and the memberships asked about, kept in memory for
 * reads. Only sound while this process is the only writer of the file (the store's exclusive
 * lock): every write drops the entries of the rooms it touched once its batch has committed or
 * rolled back, so a read sees either the cache as loaded from the committed state or the file.
 *
 * Bounded by an estimate of its bytes (attributes and membership answers alike); the entries loaded
 * first go first.
 */
export interface CachedRoom {
  /** Key -> value, in the order the file returns them (by key). */
  readonly attrs: ReadonlyMap<string, string>;
  /** Username -> member or not, as looked up. */
  readonly members: Map<string, boolean>;
  /** Estimated size of the attributes and the membership answers. */
  bytes: number;
  /** The part of `bytes` that is membership answers. */
  memberBytes: number;
  /** `attrs` as a JSON object's text, made on the first read of every key. */
  json?: string;
}

/** Membership answers kept per room; beyond this the room's answers start over. */
const MAX_MEMBERS_PER_ROOM = 1024;
/** A rough per-entry overhead of a Map entry and its strings, bytes. */
const ENTRY_OVERHEAD = 64;

export class RoomCache {
  private readonly rooms = new Map<string, CachedRoom>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  static key(appId: string, roomId: string): string {
    return `${appId}\u0000${roomId}`;
  }

  get(key: string): CachedRoom | undefined {
    return this.rooms.get(key);
  }

  /** Caches a room's attributes as just read from the file; too big a room is not kept. */
  put(key: string, rows: Array<[string, string]>): CachedRoom {
    let bytes = ENTRY_OVERHEAD + key.length * 2;
    for (const [k, v] of rows) bytes += ENTRY_OVERHEAD + (k.length + v.length) * 2;
    const room: CachedRoom = { attrs: new Map(rows), members: new Map(), bytes, memberBytes: 0 };
    if (bytes > this.maxBytes / 16) return room;
    this.drop(key);
    this.rooms.set(key, room);
    this.bytes += bytes;
    this.trim();
    return room;
  }

  /** The room's attributes as JSON text, made once per load of the room and counted in its bytes. */
  json(key: string, room: CachedRoom): string {
    if (room.json !== undefined) return room.json;
    const json = attributesJson(room.attrs);
    room.json = json;
    if (this.rooms.get(key) === room) {
      const size = json.length * 2;
      room.bytes += size;
      this.bytes += size;
      this.trim();
    }
    return json;
  }

  /** Remembers whether `user` is a member of the room `key` (when it is still cached). */
  noteMember(key: string, user: string, member: boolean): void {
    const room = this.rooms.get(key);
    if (room === undefined) return;
    if (room.members.size >= MAX_MEMBERS_PER_ROOM) {
      room.bytes -= room.memberBytes;
      this.bytes -= room.memberBytes;
      room.memberBytes = 0;
      room.members.clear();
    }
    if (!room.members.has(user)) {
      const size = ENTRY_OVERHEAD + user.length * 2;
      room.memberBytes += size;
      room.bytes += size;
      this.bytes += size;
    }
    room.members.set(user, member);
    this.trim();
  }

  /** Drops the entries loaded first until the cache is well under its budget. */
  private trim(): void {
    if (this.bytes <= this.maxBytes) return;
    for (const [k, r] of this.rooms) {
      this.rooms.delete(k);
      this.bytes -= r.bytes;
      if (this.bytes <= this.maxBytes * 0.9) break;
    }
  }

  /** The estimated bytes held (for tests). */
  get heldBytes(): number {
    return this.bytes;
  }

  drop(key: string): void {
    const room = this.rooms.get(key);
    if (room === undefined) return;
    this.rooms.delete(key);
    this.bytes -= room.bytes;
  }

  clear(): void {
    this.rooms.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.rooms.size;
  }
}
