import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { planDelete, planSet, type KeyOutcomes, type StoredAttr } from '../../domain/attributes.js';
import { Errors } from '../../domain/errors.js';
import { appUuid, isRoomId, newUserUuid, roomIdFromSeq } from '../../domain/ids.js';
import { migrate } from './migrations.js';
import type {
  AttrRecord, DeleteCall, NewRoom, NewUser, RemoveResult, RoomRecord, SetCall, Store, UserRecord,
} from '../types.js';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** FULL: every acknowledged call is fsynced before the answer; NORMAL: survives a process crash only. */
  synchronous: 'FULL' | 'NORMAL';
  clock?: () => number;
}

interface UserRow { uuid: string; username: string; created: number; modified: number }
interface RoomRow { id: string; name: string; description: string; owner: string; maxusers: number; created: number }

/**
 * better-sqlite3 is synchronous, so each call below runs start to finish without yielding: with
 * one connection per process the transactions cannot interleave. Every write runs as one
 * IMMEDIATE transaction so a second process on the same file would wait, not deadlock.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Db;
  private readonly now: () => number;
  private readonly q: ReturnType<typeof prepare>;

  constructor(options: SqliteOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.synchronous}`);
      this.db.pragma('busy_timeout = 5000');
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.q = prepare(this.db);
    this.now = options.clock ?? Date.now;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<void> {
    this.q.ping.get();
  }

  /** PRAGMA integrity_check plus roomkv's own invariants; returns the problems found. */
  integrityCheck(): string[] {
    const problems = (this.db.pragma('integrity_check') as Array<{ integrity_check: string }>)
      .map((r) => r.integrity_check).filter((r) => r !== 'ok');
    const usage = this.db.prepare(`
      SELECT a.app AS app, a.total AS total, coalesce(u.bytes, 0) AS counted
      FROM (SELECT app, sum(bytes) AS total FROM attrs GROUP BY app) a
      LEFT JOIN app_usage u ON u.app = a.app WHERE a.total != coalesce(u.bytes, 0)`).all() as
      Array<{ app: string; total: number; counted: number }>;
    for (const u of usage) problems.push(`app ${u.app}: attrs hold ${u.total} bytes, usage says ${u.counted}`);
    const orphans = this.db.prepare(`SELECT count(*) AS n FROM attrs a WHERE NOT EXISTS
      (SELECT 1 FROM rooms r WHERE r.app = a.app AND r.id = a.room)`).get() as { n: number };
    if (orphans.n > 0) problems.push(`${orphans.n} attributes belong to no room`);
    return problems;
  }

  // ---- users

  async createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]> {
    return this.db.transaction(() => {
      const now = this.now();
      return users.map((u) => {
        if (this.q.userByName.get(appId, u.username)) throw Errors.duplicateUser(appUuid(appId), u.username);
        const rec: UserRecord = { uuid: newUserUuid(), username: u.username, created: now, modified: now };
        this.q.insertUser.run(appId, u.username, rec.uuid, u.passwordHash, now, now);
        return rec;
      });
    }).immediate();
  }

  async getUser(appId: string, username: string): Promise<UserRecord | null> {
    return (this.q.userByName.get(appId, username) as UserRow | undefined) ?? null;
  }

  async getUserByUuid(appId: string, uuid: string): Promise<UserRecord | null> {
    return (this.q.userByUuid.get(appId, uuid) as UserRow | undefined) ?? null;
  }

  async getPasswordHash(appId: string, username: string): Promise<string | null> {
    const row = this.q.passwordHash.get(appId, username) as { password_hash: string } | undefined;
    return row?.password_hash ?? null;
  }

  async deleteUser(appId: string, username: string): Promise<UserRecord | null> {
    return this.db.transaction(() => {
      const user = this.q.userByName.get(appId, username) as UserRow | undefined;
      if (!user) return null;
      const rooms = this.q.roomsOfUser.all(appId, username) as Array<{ room: string }>;
      for (const { room } of rooms) this.leave(appId, room, username);
      this.q.deleteUser.run(appId, username);
      return user;
    }).immediate();
  }

  // ---- rooms

  async createRoom(appId: string, room: NewRoom): Promise<RoomRecord> {
    return this.db.transaction(() => {
      const missing = [room.owner, ...room.members].find((u) => !this.q.userByName.get(appId, u));
      if (missing !== undefined) throw Errors.usernameDoesNotExist(missing);
      const members = [...new Set([room.owner, ...room.members])];
      if (members.length > room.maxusers) throw Errors.roomFull('new', room.maxusers);
      const seq = this.q.bumpCounter.get('room') as { value: number };
      const id = roomIdFromSeq(seq.value);
      const now = this.now();
      this.q.insertRoom.run(appId, id, room.name, room.description, room.owner, room.maxusers, now);
      for (const m of members) this.q.insertMember.run(appId, id, m, now);
      return { id, name: room.name, description: room.description, owner: room.owner, maxusers: room.maxusers, created: now, memberCount: members.length };
    }).immediate();
  }

  async getRoom(appId: string, roomId: string): Promise<RoomRecord | null> {
    const row = this.q.room.get(appId, roomId) as RoomRow | undefined;
    if (!row) return null;
    const { n } = this.q.memberCount.get(appId, roomId) as { n: number };
    return { ...row, memberCount: n };
  }

  async destroyRoom(appId: string, roomId: string): Promise<boolean> {
    return this.db.transaction(() => {
      if (!this.q.room.get(appId, roomId)) return false;
      const { total } = this.q.roomBytes.get(appId, roomId) as { total: number | null };
      this.q.addUsage.run(appId, -(total ?? 0));
      this.q.deleteRoomAttrs.run(appId, roomId);
      this.q.deleteRoomMembers.run(appId, roomId);
      this.q.deleteRoom.run(appId, roomId);
      return true;
    }).immediate();
  }

  async addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]> {
    return this.db.transaction(() => {
      const room = this.requireRoom(appId, roomId);
      const missing = usernames.find((u) => !this.q.userByName.get(appId, u));
      if (missing !== undefined) throw Errors.usernameDoesNotExist(missing);
      const fresh = [...new Set(usernames)].filter((u) => !this.q.member.get(appId, roomId, u));
      const { n } = this.q.memberCount.get(appId, roomId) as { n: number };
      if (n + fresh.length > room.maxusers) throw Errors.roomFull(roomId, room.maxusers);
      const now = this.now();
      for (const u of fresh) this.q.insertMember.run(appId, roomId, u, now);
      return fresh;
    }).immediate();
  }

  async removeMembers(appId: string, roomId: string, usernames: string[]): Promise<RemoveResult[]> {
    return this.db.transaction(() => {
      const room = this.requireRoom(appId, roomId);
      return usernames.map((user): RemoveResult => {
        if (user === room.owner) return { user, result: false, reason: 'the owner cannot be removed' };
        if (!this.q.member.get(appId, roomId, user)) return { user, result: false, reason: 'user is not in chatroom' };
        this.leave(appId, roomId, user);
        return { user, result: true };
      });
    }).immediate();
  }

  async listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]> {
    const room = this.requireRoom(appId, roomId);
    return (this.q.members.all(appId, roomId, room.owner, limit, offset) as Array<{ username: string }>)
      .map((r) => r.username);
  }

  async isMember(appId: string, roomId: string, username: string): Promise<boolean> {
    return this.q.member.get(appId, roomId, username) !== undefined;
  }

  // ---- attributes

  async setAttributes(call: SetCall): Promise<KeyOutcomes> {
    return this.db.transaction(() => {
      const { appId, roomId } = call;
      this.requireRoom(appId, roomId);
      if (!this.q.member.get(appId, roomId, call.user)) throw Errors.notInRoom();
      const { n } = this.q.attrCount.get(appId, roomId) as { n: number };
      const plan = planSet({
        user: call.user,
        forced: call.forced,
        pairs: call.pairs,
        lookup: (key) => this.q.attrMeta.get(appId, roomId, key) as StoredAttr | undefined,
        roomCount: n,
        appBytes: this.appBytes(appId),
        limits: call.limits,
      });
      const now = this.now();
      const auto = call.autoDelete === 'DELETE' ? 1 : 0;
      for (const w of plan.writes) {
        this.q.upsertAttr.run(appId, roomId, w.key, w.value, call.user, auto, w.bytes, now);
      }
      if (plan.bytesDelta !== 0) this.q.addUsage.run(appId, plan.bytesDelta);
      return plan.outcome;
    }).immediate();
  }

  async deleteAttributes(call: DeleteCall): Promise<KeyOutcomes> {
    return this.db.transaction(() => {
      const { appId, roomId } = call;
      this.requireRoom(appId, roomId);
      if (call.checkMembership && !this.q.member.get(appId, roomId, call.user)) throw Errors.notInRoom();
      const plan = planDelete({
        user: call.user,
        forced: call.forced,
        keys: call.keys,
        lookup: (key) => this.q.attrMeta.get(appId, roomId, key) as StoredAttr | undefined,
      });
      for (const r of plan.removals) this.q.deleteAttr.run(appId, roomId, r.key);
      if (plan.bytesDelta !== 0) this.q.addUsage.run(appId, plan.bytesDelta);
      return plan.outcome;
    }).immediate();
  }

  async getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>> {
    // Reads see one snapshot: a deferred transaction keeps the room check and the rows consistent.
    return this.db.transaction(() => {
      this.requireRoom(appId, roomId);
      if (member !== undefined && !this.q.member.get(appId, roomId, member)) throw Errors.notInRoom();
      // A null-prototype map: `__proto__` is a legal key and must come back as data.
      const out = Object.create(null) as Record<string, string>;
      if (keys === undefined) {
        for (const r of this.q.allAttrs.all(appId, roomId) as Array<{ key: string; value: string }>) out[r.key] = r.value;
      } else {
        for (const key of keys) {
          const r = this.q.attrValue.get(appId, roomId, key) as { value: string } | undefined;
          if (r !== undefined) out[key] = r.value;
        }
      }
      return out;
    })();
  }

  async listAttributes(appId: string, roomId: string): Promise<AttrRecord[]> {
    this.requireRoom(appId, roomId);
    return (this.q.attrRecords.all(appId, roomId) as Array<{ key: string; value: string; owner: string; auto_delete: number }>)
      .map((r) => ({ key: r.key, value: r.value, owner: r.owner, autoDelete: r.auto_delete ? 'DELETE' : 'NO_DELETE' }));
  }

  // ---- helpers (called inside a transaction)

  private requireRoom(appId: string, roomId: string): RoomRow {
    const room = isRoomId(roomId) ? this.q.room.get(appId, roomId) as RoomRow | undefined : undefined;
    if (!room) throw Errors.roomNotFound(roomId);
    return room;
  }

  private appBytes(appId: string): number {
    const row = this.q.usage.get(appId) as { bytes: number } | undefined;
    return row?.bytes ?? 0;
  }

  /** A member leaves: its autoDelete keys go, then the membership. O(that member's keys). */
  private leave(appId: string, roomId: string, username: string): void {
    const { total } = this.q.autoDeleteBytes.get(appId, roomId, username) as { total: number | null };
    if (total) this.q.addUsage.run(appId, -total);
    this.q.deleteAutoAttrs.run(appId, roomId, username);
    this.q.deleteMember.run(appId, roomId, username);
  }
}

function prepare(db: Db) {
  const s = (sql: string): Statement => db.prepare(sql);
  return {
    ping: s('SELECT 1'),
    userByName: s('SELECT uuid, username, created, modified FROM users WHERE app = ? AND username = ?'),
    userByUuid: s('SELECT uuid, username, created, modified FROM users WHERE app = ? AND uuid = ?'),
    passwordHash: s('SELECT password_hash FROM users WHERE app = ? AND username = ?'),
    insertUser: s('INSERT INTO users (app, username, uuid, password_hash, created, modified) VALUES (?, ?, ?, ?, ?, ?)'),
    deleteUser: s('DELETE FROM users WHERE app = ? AND username = ?'),
    roomsOfUser: s('SELECT room FROM members WHERE app = ? AND username = ?'),

    bumpCounter: s(`INSERT INTO counters (name, value) VALUES (?, 1)
      ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`),
    room: s('SELECT id, name, description, owner, maxusers, created FROM rooms WHERE app = ? AND id = ?'),
    insertRoom: s('INSERT INTO rooms (app, id, name, description, owner, maxusers, created) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    deleteRoom: s('DELETE FROM rooms WHERE app = ? AND id = ?'),
    memberCount: s('SELECT count(*) AS n FROM members WHERE app = ? AND room = ?'),
    member: s('SELECT 1 FROM members WHERE app = ? AND room = ? AND username = ?'),
    insertMember: s('INSERT OR IGNORE INTO members (app, room, username, joined) VALUES (?, ?, ?, ?)'),
    deleteMember: s('DELETE FROM members WHERE app = ? AND room = ? AND username = ?'),
    deleteRoomMembers: s('DELETE FROM members WHERE app = ? AND room = ?'),
    members: s(`SELECT username FROM members WHERE app = ? AND room = ?
      ORDER BY username = ? DESC, joined, username LIMIT ? OFFSET ?`),

    attrCount: s('SELECT count(*) AS n FROM attrs WHERE app = ? AND room = ?'),
    attrMeta: s('SELECT owner, bytes FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    attrValue: s('SELECT value FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    allAttrs: s('SELECT key, value FROM attrs WHERE app = ? AND room = ?'),
    attrRecords: s('SELECT key, value, owner, auto_delete FROM attrs WHERE app = ? AND room = ? ORDER BY key'),
    upsertAttr: s(`INSERT INTO attrs (app, room, key, value, owner, auto_delete, bytes, updated)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (app, room, key) DO UPDATE SET value = excluded.value, owner = excluded.owner,
        auto_delete = excluded.auto_delete, bytes = excluded.bytes, updated = excluded.updated`),
    deleteAttr: s('DELETE FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    roomBytes: s('SELECT sum(bytes) AS total FROM attrs WHERE app = ? AND room = ?'),
    deleteRoomAttrs: s('DELETE FROM attrs WHERE app = ? AND room = ?'),
    autoDeleteBytes: s('SELECT sum(bytes) AS total FROM attrs WHERE app = ? AND room = ? AND owner = ? AND auto_delete = 1'),
    deleteAutoAttrs: s('DELETE FROM attrs WHERE app = ? AND room = ? AND owner = ? AND auto_delete = 1'),

    usage: s('SELECT bytes FROM app_usage WHERE app = ?'),
    addUsage: s(`INSERT INTO app_usage (app, bytes) VALUES (?, ?)
      ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes`),
  };
}
