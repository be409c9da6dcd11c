import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pairBytes, planDelete, planSet, type KeyOutcomes, type StoredAttr } from '../../domain/attributes.js';
import { newRoomMembers, planJoin, planLeave, requireUsers, type LeaveOutcome } from '../../domain/rooms.js';
import { Errors } from '../../domain/errors.js';
import { appUuid, newEpochValue, newUserUuid, roomIdFromSeq, roomSeqOf } from '../../domain/ids.js';
import {
  eventTemplate,
  membershipEnded,
  presenceMessage,
  presenceTemplate,
  renderEvent,
  type EventFacts,
  type EventRouting,
  type Previous,
  type StoredEvent,
} from '../../domain/events.js';
import { expiresAtOf } from '../../domain/requests.js';
import { LocalFeed } from '../local-feed.js';
import { migrate } from './migrations.js';
import { prepare } from './statements.js';
import { listRoomsAfter } from './room-list.js';
import { RoomCache, type CachedRoom } from './room-cache.js';
import type {
  AttemptRecord,
  AttrDetail,
  AttrDump,
  AttrRecord,
  DeleteCall,
  Delivery,
  EventListener,
  EventLogRead,
  IntegrityScope,
  MemberDump,
  PresenceAnswer,
  PresenceApp,
  NewRoom,
  NewUser,
  RoomDump,
  RoomRecord,
  SetCall,
  Snapshot,
  Store,
  UserDump,
  UserRecord,
} from '../types.js';
import type { EventLogLimits } from '../event-log.js';
import { RestoreConflict } from '../restore-conflict.js';
import { attributesJson, parseAttributesJson, pickedAttributesJson } from '../attr-json.js';
import { sqliteIntegrity } from './integrity.js';
import { SqlitePresence } from './sqlite-presence.js';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** FULL: every acknowledged call is fsynced before the answer; NORMAL: survives a process crash only. */
  synchronous: 'FULL' | 'NORMAL';
  eventLog: EventLogLimits;
  clock?: () => number;
  /**
   * exclusive (the default): the store holds the file from open to close, and reads are faster;
   * normal: other processes may open the file meanwhile (a backup, an inspection).
   */
  locking?: 'exclusive' | 'normal';
  /**
   * Bytes of recently read rooms kept in memory for reads (attribute gets), with the exclusive
   * lock only; 0 turns the cache off. Default 64 MiB.
   */
  readCacheBytes?: number;
  /** How long opening waits for another process to let go of the file, ms (2000). */
  busyTimeoutMs?: number;
  /**
   * The WAL is copied into the file (a checkpoint) once it holds about this many pages
   * (DEFAULT_CHECKPOINT_PAGES). solo: the connection's wal_autocheckpoint. writer: the
   * checkpointer thread does it (sqlite-checkpointer.ts), and the writer itself only at
   * WRITER_CHECKPOINT_FACTOR times as many, should that thread fall behind.
   */
  checkpointPages?: number;
  /**
   * The threaded store's checkpointer passes, every this many ms (DEFAULT_CHECKPOINT_INTERVAL_MS);
   * 0: no checkpointer, the writer checkpoints at checkpointPages itself.
   */
  checkpointIntervalMs?: number;
  /**
   * writer: set to 1 by the checkpointer when its passes cannot catch up with the commits and the
   * WAL holds checkpointPages frames. The writer then copies the last frames itself, between two
   * batches (no commit can come in between), and clears it: its next commit writes the WAL from
   * its start again. A shared Int32Array of one element.
   */
  walFull?: Int32Array;
  /**
   * solo (the default): this object reads and writes the file. writer: it makes the writes only,
   * on a thread of its own (threaded-store.ts), and tells `onCommit` what each committed batch
   * did; reader: it reads only, on its own connection, and learns of the writer's commits through
   * `applyCommit`. With the exclusive lock, the writer holds `<path>-lock` in its place: the file
   * itself is opened by both.
   */
  role?: 'solo' | 'writer' | 'reader';
  /** writer: what each committed batch did, called before any of its calls is answered. */
  onCommit?: (note: CommitNote) => void;
}

/** What a writer's committed batch did, for its reader: the events to publish, the rooms to read again. */
export interface CommitNote {
  /** The batch's feed messages, in commit order: [`${appId}:${roomId}`, event]. */
  events: Array<[string, StoredEvent]>;
  /** RoomCache keys of the rooms the batch changed; 'all' when any room may have changed. */
  touches: string[] | 'all';
  /** The writer's nextDue after the batch. */
  nextDue: number;
  /** The log epoch after the batch. */
  epoch: string;
}

/**
 * The WAL pages at which a checkpoint comes, by default: 10,000 (a -wal file of about 40 MiB).
 * SQLite's own 1,000 copies the same pages (a room's attributes and events, the app's usage) into
 * the file again and again under a steady write load; with the checkpointer thread at 10,000 the
 * store alone made 10,600 sets a second against 7,900 (bench/results/sqlite-writer-thread.md).
 */
export const DEFAULT_CHECKPOINT_PAGES = 10_000;
/**
 * How often the checkpointer copies the WAL into the file, ms, by default. Longer passes copy a
 * page written by many commits once (faster writes), but the commits made while a long pass runs
 * wait longer: at 100 and 250 ms the delete workload's p99 doubled against the writer's own
 * checkpoints at 1,000 pages; at 50 ms it did not, and the gain was gone
 * (bench/results/sqlite-writer-thread.md).
 */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 100;
/** writer: its own checkpoint comes at this many times checkpointPages (the checkpointer's are first). */
export const WRITER_CHECKPOINT_FACTOR = 4;

export function checkpointPages(pages: number | undefined): number {
  const n = pages ?? DEFAULT_CHECKPOINT_PAGES;
  if (!Number.isInteger(n) || n < 1) throw new Error(`checkpointPages must be a positive integer, not ${n}`);
  return n;
}

/** What a write may change, for the read cache: one room (RoomCache.key), every room, or none. */
type Touches = string | typeof ALL_ROOMS | null;
const ALL_ROOMS = Symbol('all rooms');

/**
 * The writer thread's group commit takes at most this many calls at a time. The calls of one turn
 * of the main thread reach the writer together; committed as one batch (about 25 calls under the
 * benchmark's set load), their answers all came back at the end of one long commit, and the writer
 * then waited while the main thread answered them and took the next requests in: the two threads
 * took turns instead of working side by side. Sixteen at a time, the main thread answers the first
 * sixteen while the writer commits the rest. On the set workload this read 1.09-1.38x the req/s of
 * one batch a turn, mixed 0.88-1.15x (bench/results/sqlite-writer-thread.md); eight at a time cost
 * mixed more, four cost set more in commits than it gained.
 */
export const WRITER_BATCH = 16;

/** How many webhook attempts per app are kept for inspection. */
const ATTEMPTS_KEPT = 1000;

interface UserRow {
  uuid: string;
  username: string;
  created: number;
  modified: number;
}
interface RoomRow {
  id: string;
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  created: number;
}

/**
 * better-sqlite3 is synchronous, so each call below runs start to finish without yielding: with
 * one connection per process the transactions cannot interleave. Every write runs as one
 * IMMEDIATE transaction so a second process on the same file would wait, not deadlock.
 */
/** The file's log epoch, made (random) the first time the file is opened. */
function readEpoch(db: Db): string {
  db.prepare('INSERT OR IGNORE INTO counters (name, value) VALUES (?, ?)').run(EPOCH_COUNTER, newEpochValue());
  return (db.prepare('SELECT value FROM counters WHERE name = ?').get(EPOCH_COUNTER) as { value: number }).value.toString(36);
}

const EPOCH_COUNTER = 'log_epoch';

/** The file's log epoch as stored, for a connection that does not write (the writer made it). */
function storedEpoch(db: Db): string {
  const row = db.prepare('SELECT value FROM counters WHERE name = ?').get(EPOCH_COUNTER) as { value: number } | undefined;
  if (row === undefined) throw new Error('the SQLite file has no log epoch yet: its writer opens it first');
  return row.value.toString(36);
}

function inUse(path: string, cause: unknown): Error {
  return new Error(`${path} is in use by another process (another roomkv on the same data dir?)`, { cause });
}

/**
 * Takes and keeps the exclusive lock of a small SQLite file beside the data file: while it is
 * held, another process's attempt gets SQLITE_BUSY, as it would on the data file's own lock.
 */
function holdLockFile(lockPath: string, busyTimeoutMs: number, dataPath: string): Db {
  const db = new Database(lockPath);
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN IMMEDIATE; COMMIT');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(dataPath, err);
    throw err;
  }
}

/** A cached room's attributes as the JSON text a get answers: all of them, or the keys asked for. */
function cachedRoomJson(cache: RoomCache, ck: string, room: CachedRoom, keys: string[] | undefined): string {
  if (keys === undefined) return cache.json(ck, room);
  const attrs = room.attrs;
  return pickedAttributesJson(keys, (key) => attrs.get(key));
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Db;
  private readonly now: () => number;
  private readonly q: ReturnType<typeof prepare>;
  private readonly feed = new LocalFeed();
  private readonly logLimits: EventLogLimits;
  /** Events written by the running call, published once its batch has committed. */
  private pending: Array<[string, StoredEvent]> = [];
  private queue: Array<{ fn: () => unknown; touches: Touches; resolve: (value: unknown) => void; reject: (err: unknown) => void }> = [];
  /** Recently read rooms; only while this process holds the file, so no one else writes it. */
  private readonly cache: RoomCache | null;
  private flushScheduled = false;
  private readonly walFull: Int32Array | undefined;
  private tailScheduled = false;
  /**
   * The group commit's transaction and each call's savepoint, made once: better-sqlite3 builds a
   * transaction function with five closures and their properties, too dear to make per call.
   */
  private readonly commitBatch: (fn: () => void) => void;
  private readonly inSavepoint: (fn: () => unknown) => unknown;
  /** A deferred transaction for the reader's reads of several statements (atOneInstant). */
  private readonly readTransaction: (fn: () => void) => void;
  /** The log epoch: this file's history (see EventLog.logEpoch). */
  private epoch: string;
  /** Who is online where, and the offline leaves (sqlite-presence.ts). */
  private readonly presence: SqlitePresence;
  /**
   * No key of the file expires before this (ms; Infinity: none has a ttl). Lowered by every write
   * of a ttl, read again from the file after a sweep: while the clock is before it, reads and
   * writes need not look for due keys.
   */
  private nextDue = Infinity;
  private readonly role: 'solo' | 'writer' | 'reader';
  private readonly onCommit: ((note: CommitNote) => void) | undefined;
  /** writer, with the exclusive lock: the lock file it holds while open. */
  private readonly lockDb: Db | undefined;

  constructor(options: SqliteOptions) {
    if (!(options.eventLog.minEvents >= 1))
      throw new Error("eventLog.minEvents must be at least 1: a room's next event is numbered from its newest");
    this.logLimits = options.eventLog;
    this.role = options.role ?? 'solo';
    this.onCommit = options.onCommit;
    this.walFull = this.role === 'writer' ? options.walFull : undefined;
    if (options.path !== ':memory:' && this.role !== 'reader') mkdirSync(dirname(options.path), { recursive: true });
    const exclusive = (options.locking ?? 'exclusive') === 'exclusive';
    // A writer beside a reader cannot take the file's own exclusive lock (the reader could not
    // read): it holds a lock file instead, so a second roomkv on the same data dir is still refused.
    if (this.role === 'writer' && exclusive && options.path !== ':memory:') {
      this.lockDb = holdLockFile(`${options.path}-lock`, options.busyTimeoutMs ?? 2000, options.path);
    }
    this.db = new Database(options.path);
    try {
      this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 2000}`);
      // Exclusive: one process owns the file. It takes the lock at open and keeps it, so a second
      // roomkv on the same data dir is refused instead of serving a store whose changes it cannot
      // see (events reach subscribers in-process). Holding the lock also spares every read
      // statement the lock and unlock of a shared one (about 5 µs each), and keeps the WAL index
      // in this process's memory. Set before the WAL is first opened, or it does not apply.
      if (exclusive && this.role === 'solo') this.db.pragma('locking_mode = EXCLUSIVE');
      // Savepoint journals stay in memory (each holds one call's changes); on disk, with the lock
      // held, they cost a file write per page.
      this.db.pragma('temp_store = MEMORY');
      if (this.role === 'reader') {
        // The writer made the file, its WAL and schema; this connection only reads, and never
        // checkpoints (that is the writer's, on its thread).
        this.db.pragma('query_only = ON');
        this.db.pragma('wal_autocheckpoint = 0');
      } else {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${options.synchronous}`);
        const pages = checkpointPages(options.checkpointPages);
        const checkpointer = this.role === 'writer' && (options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS) > 0;
        this.db.pragma(`wal_autocheckpoint = ${checkpointer ? WRITER_CHECKPOINT_FACTOR * pages : pages}`);
        migrate(this.db);
        // Take the write lock now, not at the first write.
        if (exclusive && this.role === 'solo') this.db.exec('BEGIN IMMEDIATE; COMMIT');
      }
    } catch (err) {
      this.db.close();
      this.lockDb?.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(options.path, err);
      throw err;
    }
    this.q = prepare(this.db);
    this.commitBatch = this.db.transaction((fn: () => void) => fn()).immediate;
    // A transaction function called inside another runs as a savepoint.
    this.inSavepoint = this.db.transaction((fn: () => unknown) => fn());
    this.readTransaction = this.db.transaction((fn: () => void) => fn()).deferred;
    this.now = options.clock ?? Date.now;
    this.epoch = this.role === 'reader' ? storedEpoch(this.db) : readEpoch(this.db);
    this.nextDue = (this.q.nextDue.get() as number | null) ?? Infinity;
    const cacheBytes = options.readCacheBytes ?? 64 * 1024 * 1024;
    // The writer keeps no cache: reads are its reader's, whose cache its commit notes keep true.
    this.cache = exclusive && cacheBytes > 0 && this.role !== 'writer' ? new RoomCache(cacheBytes) : null;
    this.presence = new SqlitePresence(this.db, {
      write: (fn, room) => this.write(fn, room === undefined ? null : RoomCache.key(room.appId, room.roomId)),
      publish: (appId, roomId, message) => this.pending.push([`${appId}:${roomId}`, message]),
      owner: (appId, roomId) => (this.q.room.get(appId, roomId) as RoomRow | undefined)?.owner,
      isMember: (appId, roomId, user) => this.isMemberNow(appId, roomId, user),
      leave: (appId, roomId, user, routing, reason) => this.leave(appId, roomId, user, routing, reason),
      now: () => this.now(),
    });
  }

  /** reader: what the writer's batch did. Its rooms are read from the file again; its events go to the feed. */
  applyCommit(note: CommitNote): void {
    if (this.cache) {
      if (note.touches === 'all') this.cache.clear();
      else for (const key of note.touches) this.cache.drop(key);
    }
    this.nextDue = note.nextDue;
    this.epoch = note.epoch;
    for (const [room, event] of note.events) this.feed.publish(room, event);
  }

  /**
   * reader: runs a read method whose statements must see one state of the file, in a read
   * transaction: the writer commits on another connection, and could between two statements. The
   * methods are async in name only (no await inside), so their whole body runs in it.
   */
  atOneInstant<T>(read: () => Promise<T>): Promise<T> {
    let answer!: Promise<T>;
    this.readTransaction(() => {
      answer = read();
    });
    return answer;
  }

  /** The earliest expiry of any key, as far as this object knows (Infinity: none). */
  get nextDueAt(): number {
    return this.nextDue;
  }

  async close(): Promise<void> {
    while (this.queue.length > 0) this.flush();
    if (this.db.open) this.db.close();
    if (this.lockDb?.open) this.lockDb.close();
  }

  /**
   * Queues `fn` for the next group commit; resolves once it is on disk. `touches` names the room
   * whose attributes or members `fn` may change (ALL_ROOMS: any room of any app), so its cached
   * reads are dropped.
   */
  private write<T>(fn: () => T, touches: Touches = null): Promise<T> {
    if (this.role === 'reader') return Promise.reject(new Error('the SQLite reader does not write'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, touches, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Group commit. The writes queued during one turn of the event loop (on the writer thread, at
   * most WRITER_BATCH of them; the rest right after) run, in order, in one IMMEDIATE transaction,
   * each inside its own savepoint (a call that fails rolls back alone), and the batch commits, and
   * so fsyncs, once. Each call is answered, and its events published, only after that commit: what
   * a response acknowledges is on disk, at one fsync per batch instead of one per call.
   */
  private flush(): void {
    this.flushScheduled = false;
    // Emptied already: close() commits the whole queue itself.
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    if (this.role === 'writer' && batch.length > WRITER_BATCH) {
      this.queue = batch.splice(WRITER_BATCH);
      this.flushScheduled = true;
      // The rest commit once this batch's answers have left: the worker posts them from an
      // immediate that their settling queues (sqlite-worker.ts), so the next batch waits a turn
      // more.
      setImmediate(() => setImmediate(() => this.flush()));
    }
    const results: Array<{ value?: unknown; error?: unknown; failed: boolean; events: Array<[string, StoredEvent]> }> = [];
    try {
      this.commitBatch(() => {
        for (const op of batch) {
          this.pending = [];
          try {
            results.push({ value: this.inSavepoint(op.fn), failed: false, events: this.pending });
          } catch (error) {
            // SQLite may have rolled back the whole transaction (a full disk, an I/O error): then
            // nothing of the batch is stored, and the calls after this one must not run each in a
            // transaction of its own. The batch fails as a whole, with this call's error.
            if (!this.db.inTransaction) throw error;
            results.push({ error, failed: true, events: [] });
          }
        }
      });
    } catch (err) {
      // The commit itself failed, or SQLite rolled the batch back: nothing of the batch is stored.
      for (const op of batch) op.reject(err);
      return;
    } finally {
      this.pending = [];
      // Committed or rolled back, the rooms the batch touched are read from the file again. Reads
      // cannot run in between: this all runs synchronously.
      if (this.cache) {
        for (const op of batch) {
          if (op.touches === ALL_ROOMS) this.cache.clear();
          else if (op.touches !== null) this.cache.drop(op.touches);
        }
      }
    }
    // Committed: the loop above pushed one result per op.
    if (this.onCommit) this.onCommit(this.noteOf(batch, results));
    else for (const r of results) for (const [room, event] of r.events) this.feed.publish(room, event);
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (r.failed) op.reject(r.error);
      else op.resolve(r.value);
    });
    if (this.walFull !== undefined && !this.tailScheduled && Atomics.load(this.walFull, 0) === 1) {
      this.tailScheduled = true;
      // After the batch's answers have left, as the rest of a batch above.
      setImmediate(() => setImmediate(() => this.checkpointTail()));
    }
  }

  /**
   * writer: copies what the checkpointer's passes left of the WAL (walFull), with no commit in
   * between, so that the next commit writes the WAL from its start. Should the checkpointer be
   * in a pass, SQLite says busy and the next batch tries again.
   */
  private checkpointTail(): void {
    this.tailScheduled = false;
    if (!this.db.open || this.walFull === undefined) return;
    try {
      const [row] = this.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      if (row !== undefined && row.busy === 0 && row.checkpointed === row.log) Atomics.store(this.walFull, 0, 0);
    } catch {
      // An I/O error: the flag stays, and the next batch tries again.
    }
  }

  /** writer: what a committed batch did, for the reader. */
  private noteOf(batch: ReadonlyArray<{ touches: Touches }>, results: ReadonlyArray<{ events: Array<[string, StoredEvent]> }>): CommitNote {
    let touches: string[] | 'all' = [];
    for (const op of batch) {
      if (op.touches === ALL_ROOMS) {
        touches = 'all';
        break;
      }
      if (op.touches !== null) touches.push(op.touches);
    }
    const events = results.length === 1 ? results[0]!.events : results.flatMap((r) => r.events);
    return { events, touches, nextDue: this.nextDue, epoch: this.epoch };
  }

  async ping(): Promise<void> {
    this.q.ping.get();
  }

  /** See Store.integrityCheck; integrity.ts. */
  async integrityCheck(scope?: IntegrityScope): Promise<string[]> {
    return sqliteIntegrity(this.db, this.q, scope);
  }

  // ---- users

  async createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]> {
    return this.write(() => {
      const now = this.now();
      return users.map((u) => {
        if (this.q.userByName.get(appId, u.username)) throw Errors.duplicateUser(appUuid(appId), u.username);
        const rec: UserRecord = { uuid: newUserUuid(), username: u.username, created: now, modified: now };
        this.q.insertUser.run(appId, u.username, rec.uuid, u.passwordHash, now, now);
        return rec;
      });
    });
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

  async deleteUser(appId: string, username: string, routing: EventRouting): Promise<UserRecord | null> {
    return this.write(() => {
      const user = this.q.userByName.get(appId, username) as UserRow | undefined;
      if (!user) return null;
      const rooms = this.q.roomsOfUser.all(appId, username) as Array<{ room: string }>;
      for (const { room } of rooms) this.leave(appId, room, username, routing, 'user_deleted');
      this.q.deleteUser.run(appId, username);
      return user;
    }, ALL_ROOMS);
  }

  // ---- rooms

  async createRoom(appId: string, room: NewRoom): Promise<RoomRecord> {
    return this.write(() => {
      requireUsers([room.owner, ...room.members], (u) => this.q.userByName.get(appId, u) !== undefined);
      const members = newRoomMembers(room);
      const seq = this.q.bumpCounter.get('room') as { value: number };
      const id = roomIdFromSeq(seq.value);
      const now = this.now();
      this.q.insertRoom.run(appId, id, room.name, room.description, room.owner, room.maxusers, now);
      for (const m of members) this.q.insertMember.run(appId, id, m, now);
      return {
        id,
        name: room.name,
        description: room.description,
        owner: room.owner,
        maxusers: room.maxusers,
        created: now,
        memberCount: members.length,
      };
    }); // touches no cached room: the id is new, and only rooms that exist are cached
  }

  async getRoom(appId: string, roomId: string): Promise<RoomRecord | null> {
    const row = this.q.room.get(appId, roomId) as RoomRow | undefined;
    if (!row) return null;
    const { n } = this.q.memberCount.get(appId, roomId) as { n: number };
    return { ...row, memberCount: n };
  }

  async destroyRoom(appId: string, roomId: string, routing: EventRouting): Promise<boolean> {
    return this.write(
      () => {
        if (!this.q.room.get(appId, roomId)) return false;
        const { total } = this.q.roomBytes.get(appId, roomId) as { total: number | null };
        const rows = this.q.attrsWithOwner.all(appId, roomId) as Array<{ key: string; value: string; owner: string }>;
        const previous = Object.create(null) as Previous;
        for (const r of rows) previous[r.key] = { value: r.value, owner: r.owner };
        // The final event is written before the room goes: it ends the room's streams.
        this.emit(appId, roomId, routing, { reason: 'room_destroyed', from: 'admin', attributes: Object.keys(previous), previous }, true);
        this.q.addUsage.run(appId, -(total ?? 0));
        this.q.deleteRoomAttrs.run(appId, roomId);
        this.q.deleteRoomMembers.run(appId, roomId);
        this.q.deleteRoom.run(appId, roomId);
        this.presence.forgetRoom(appId, roomId);
        return true;
      },
      RoomCache.key(appId, roomId),
    );
  }

  async addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]> {
    return this.write(
      () => {
        const room = this.requireRoom(appId, roomId);
        requireUsers(usernames, (u) => this.q.userByName.get(appId, u) !== undefined);
        const { n } = this.q.memberCount.get(appId, roomId) as { n: number };
        // Planned inside the write transaction: its preconditions hold by construction.
        const { fresh } = planJoin({ id: roomId, maxusers: room.maxusers, memberCount: n }, usernames, (u) =>
          this.isMemberNow(appId, roomId, u),
        );
        const now = this.now();
        for (const u of fresh) this.q.insertMember.run(appId, roomId, u, now);
        return fresh;
      },
      RoomCache.key(appId, roomId),
    );
  }

  async removeMembers(appId: string, roomId: string, usernames: string[], routing: EventRouting): Promise<LeaveOutcome[]> {
    return this.write(
      () => {
        const room = this.requireRoom(appId, roomId);
        const plan = planLeave(room, usernames, (u) => this.isMemberNow(appId, roomId, u), false);
        for (const user of plan.leaving) this.leave(appId, roomId, user, routing, 'member_left');
        return plan.outcomes;
      },
      RoomCache.key(appId, roomId),
    );
  }

  async listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]> {
    const room = this.requireRoom(appId, roomId);
    return (this.q.members.all(appId, roomId, room.owner, limit, offset) as Array<{ username: string }>).map((r) => r.username);
  }

  async isMember(appId: string, roomId: string, username: string): Promise<boolean> {
    return this.isMemberNow(appId, roomId, username);
  }

  private isMemberNow(appId: string, roomId: string, username: string): boolean {
    return this.q.member.get(appId, roomId, username) !== undefined;
  }

  // ---- attributes

  async setAttributes(call: SetCall): Promise<KeyOutcomes> {
    return this.write(
      () => {
        const { appId, roomId } = call;
        this.requireMember(appId, roomId, call.user);
        const now = this.now();
        // Due keys go first, with their events: the plan sees them absent (ExpiryStore).
        if (now >= this.nextDue) this.expireRoom(appId, roomId, call.routing, now);
        const plan = planSet({
          ...call.conditions,
          ...(call.increment ? { increment: call.increment } : {}),
          user: call.user,
          forced: call.forced,
          pairs: call.pairs,
          // The stored value comes with the lookup: an increment adds to it, an event tells it.
          lookup: (key) => this.q.attrMetaValue.get(appId, roomId, key) as StoredAttr | undefined,
          roomCount: () => (this.q.attrCount.get(appId, roomId) as { n: number }).n,
          appBytes: () => this.appBytes(appId),
          limits: call.limits,
        });
        const auto = call.autoDelete === 'DELETE' ? 1 : 0;
        // The keys a call writes share its event's seq as their revision; the event is written below.
        const revision = (this.q.roomSeq.get(appId, roomId, appId, roomId) as number) + 1;
        const previous = Object.create(null) as Previous;
        for (const w of plan.writes) {
          previous[w.key] = w.previous === null ? null : { value: w.previous.value!, owner: w.previous.owner };
          // Written without a ttl, a key keeps no expiry.
          const expiresAt = expiresAtOf(call.ttl, w.key, now);
          if (expiresAt !== null && expiresAt < this.nextDue) this.nextDue = expiresAt;
          if (w.previous !== null && w.previous.owner === call.user)
            this.q.updateAttrValue.run(w.value, auto, w.bytes, now, revision, expiresAt, appId, roomId, w.key);
          else this.q.upsertAttr.run(appId, roomId, w.key, w.value, call.user, auto, w.bytes, now, revision, expiresAt);
        }
        if (plan.bytesDelta !== 0) this.q.addUsage.run(appId, plan.bytesDelta);
        if (plan.writes.length > 0) {
          const attributes = Object.create(null) as Record<string, string>;
          for (const w of plan.writes) attributes[w.key] = w.value;
          const reason = call.increment ? 'increment' : call.forced ? 'forced_set' : 'set';
          this.emit(appId, roomId, call.routing, { reason, from: call.user, attributes, previous });
        }
        return plan.outcome;
      },
      RoomCache.key(call.appId, call.roomId),
    );
  }

  async deleteAttributes(call: DeleteCall): Promise<KeyOutcomes> {
    return this.write(
      () => {
        const { appId, roomId } = call;
        if (call.checkMembership) this.requireMember(appId, roomId, call.user);
        else if (this.q.roomExists.get(appId, roomId) === undefined) throw Errors.roomNotFound(roomId);
        const now = this.now();
        if (now >= this.nextDue) this.expireRoom(appId, roomId, call.routing, now);
        const plan = planDelete({
          ...call.conditions,
          user: call.user,
          forced: call.forced,
          keys: call.keys,
          lookup: (key) => this.q.attrMeta.get(appId, roomId, key) as StoredAttr | undefined,
        });
        const previous = Object.create(null) as Previous;
        for (const r of plan.removals) {
          previous[r.key] = { value: this.q.attrValueOnly.get(appId, roomId, r.key) as string, owner: r.owner };
          this.q.deleteAttr.run(appId, roomId, r.key);
        }
        if (plan.bytesDelta !== 0) this.q.addUsage.run(appId, plan.bytesDelta);
        if (plan.removals.length > 0) {
          this.emit(appId, roomId, call.routing, {
            reason: call.forced ? 'forced_delete' : 'delete',
            from: call.user,
            attributes: plan.removals.map((r) => r.key),
            previous,
          });
        }
        return plan.outcome;
      },
      RoomCache.key(call.appId, call.roomId),
    );
  }

  async getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>> {
    return parseAttributesJson(await this.getAttributesJson(appId, roomId, keys, member));
  }

  async getAttributesJson(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<string> {
    // Keys due but not yet swept are left out; the cache holds none of that (rare) moment.
    const due = this.dueKeys(appId, roomId);
    if (this.cache && due === null) return this.cachedAttributesJson(this.cache, appId, roomId, keys, member);
    // No transaction needed: one connection runs this synchronously, and writes only ever land
    // between whole calls (at a group commit), so the checks and the rows see one state.
    const isMember = this.q.roomAndMember.get(appId, roomId, member ?? '', appId, roomId) as number | undefined;
    if (isMember === undefined) throw Errors.roomNotFound(roomId);
    if (member !== undefined && isMember === 0) throw Errors.notInRoom();
    if (keys === undefined) {
      const rows = this.q.allAttrsRaw.all(appId, roomId) as Array<[string, string]>;
      return attributesJson(due === null ? rows : rows.filter(([key]) => !due.has(key)));
    }
    return pickedAttributesJson(keys, (key) =>
      due?.has(key) ? undefined : (this.q.attrValueOnly.get(appId, roomId, key) as string | undefined),
    );
  }

  /** The room's keys whose time has come but that are not swept yet; null (the usual case) when none. */
  private dueKeys(appId: string, roomId: string): Set<string> | null {
    const now = this.now();
    if (now < this.nextDue) return null;
    const keys = this.q.roomDueKeys.all(appId, roomId, now) as string[];
    return keys.length === 0 ? null : new Set(keys);
  }

  async getAttributeDetails(
    appId: string,
    roomId: string,
    keys: string[] | undefined,
    member?: string,
  ): Promise<Record<string, AttrDetail>> {
    const isMember = this.q.roomAndMember.get(appId, roomId, member ?? '', appId, roomId) as number | undefined;
    if (isMember === undefined) throw Errors.roomNotFound(roomId);
    if (member !== undefined && isMember === 0) throw Errors.notInRoom();
    type Row = { key: string; value: string; owner: string; auto_delete: number; revision: number; expires_at: number | null };
    const rows =
      keys === undefined
        ? (this.q.attrDetails.all(appId, roomId) as Row[])
        : keys.flatMap((k) => (this.q.attrDetail.get(appId, roomId, k) as Row | undefined) ?? []);
    const out = Object.create(null) as Record<string, AttrDetail>;
    const now = this.now();
    for (const r of rows) {
      if (r.expires_at !== null && r.expires_at <= now) continue;
      out[r.key] = {
        value: r.value,
        owner: r.owner,
        autoDelete: r.auto_delete ? 'DELETE' : 'NO_DELETE',
        revision: r.revision,
        expiresAt: r.expires_at,
      };
    }
    return out;
  }

  /**
   * The answer of getAttributesJson when the read cache holds all of it (the room, the caller's
   * membership, no key due): no statement runs, so no read transaction is needed around it. The
   * cache is dropped for a room before a commit that changed it is answered, so a hit is never
   * older than an acknowledged write. undefined when any of it must be read from the file.
   */
  cachedJsonIfHit(appId: string, roomId: string, keys: string[] | undefined, member?: string): string | undefined {
    const cache = this.cache;
    if (cache === null || this.now() >= this.nextDue) return undefined;
    const ck = RoomCache.key(appId, roomId);
    const room = cache.get(ck);
    if (room === undefined) return undefined;
    if (member !== undefined) {
      const isMember = room.members.get(member);
      if (isMember === undefined) return undefined;
      if (!isMember) throw Errors.notInRoom();
    }
    return cachedRoomJson(cache, ck, room, keys);
  }

  /** getAttributesJson through the cache: the same checks in the same order, the file read once per room. */
  private cachedAttributesJson(cache: RoomCache, appId: string, roomId: string, keys: string[] | undefined, member?: string): string {
    const ck = RoomCache.key(appId, roomId);
    let room = cache.get(ck);
    /** Membership as read together with the room, on a miss. */
    let checked: boolean | undefined;
    if (room === undefined) {
      const found = this.q.roomAndMember.get(appId, roomId, member ?? '', appId, roomId) as number | undefined;
      if (found === undefined) throw Errors.roomNotFound(roomId);
      room = cache.put(ck, this.q.allAttrsRaw.all(appId, roomId) as Array<[string, string]>);
      if (member !== undefined) {
        checked = found === 1;
        cache.noteMember(ck, member, checked);
      }
    }
    if (member !== undefined) {
      let isMember = checked ?? room.members.get(member);
      if (isMember === undefined) {
        isMember = this.q.member.get(appId, roomId, member) !== undefined;
        cache.noteMember(ck, member, isMember);
      }
      if (!isMember) throw Errors.notInRoom();
    }
    return cachedRoomJson(cache, ck, room, keys);
  }

  async listAttributes(appId: string, roomId: string): Promise<AttrRecord[]> {
    this.requireRoom(appId, roomId);
    const now = this.now();
    type Row = { key: string; value: string; owner: string; auto_delete: number; expires_at: number | null };
    return (this.q.attrRecords.all(appId, roomId) as Row[])
      .filter((r) => r.expires_at === null || r.expires_at > now)
      .map((r) => ({ key: r.key, value: r.value, owner: r.owner, autoDelete: r.auto_delete ? 'DELETE' : 'NO_DELETE' }));
  }

  // ---- export and import (DataTransfer)

  async listUsers(appId: string, after: string, limit: number): Promise<UserDump[]> {
    return this.q.usersAfter.all(appId, after, limit) as UserDump[];
  }

  async listRooms(appId: string, after: string, limit: number): Promise<RoomRecord[]> {
    return listRoomsAfter(this.db, appId, after, limit);
  }

  async dumpRoom(appId: string, roomId: string): Promise<RoomDump | null> {
    return this.db.transaction(() => {
      const room = this.q.room.get(appId, roomId) as RoomRow | undefined;
      if (!room) return null;
      const members = this.q.membersJoined.all(appId, roomId) as MemberDump[];
      type Row = { key: string; value: string; owner: string; auto_delete: number; revision: number; expires_at: number | null };
      const now = this.now();
      // A key whose time has come is left out, as every read leaves it out before its sweep.
      const attributes = (this.q.attrRecords.all(appId, roomId) as Row[])
        .filter((r) => r.expires_at === null || r.expires_at > now)
        .map((r): AttrDump => ({
          key: r.key,
          value: r.value,
          owner: r.owner,
          autoDelete: r.auto_delete ? 'DELETE' : 'NO_DELETE',
          revision: r.revision,
          expiresAt: r.expires_at,
        }));
      return { ...room, members, attributes };
    })();
  }

  async restoreUsers(appId: string, users: UserDump[]): Promise<void> {
    await this.write(() => {
      for (const u of users) {
        if (this.q.userByName.get(appId, u.username) || this.q.userByUuid.get(appId, u.uuid)) throw new RestoreConflict('user', u.username);
        this.q.insertUser.run(appId, u.username, u.uuid, u.passwordHash, u.created, u.modified);
      }
    });
  }

  /** One savepoint: the room, its members and attributes, the app's usage and the id counter, or nothing. */
  async restoreRoom(appId: string, room: RoomDump): Promise<void> {
    await this.write(
      () => {
        if (this.q.room.get(appId, room.id)) throw new RestoreConflict('room', room.id);
        this.q.insertRoom.run(appId, room.id, room.name, room.description, room.owner, room.maxusers, room.created);
        for (const m of room.members) this.q.insertMember.run(appId, room.id, m.username, m.joined);
        const now = this.now();
        let bytes = 0;
        let top = 0;
        // Each key keeps its revision and expiry (a due one is swept, with its event, as any other).
        for (const a of room.attributes) {
          const size = pairBytes(a.key, a.value);
          bytes += size;
          top = Math.max(top, a.revision ?? 0);
          const auto = a.autoDelete === 'DELETE' ? 1 : 0;
          this.q.upsertAttr.run(appId, room.id, a.key, a.value, a.owner, auto, size, now, a.revision ?? 0, a.expiresAt);
          if (a.expiresAt !== null && a.expiresAt < this.nextDue) this.nextDue = a.expiresAt;
        }
        if (top > 0) this.q.raiseRoomSeq.run(top, appId, room.id);
        if (bytes) this.q.addUsage.run(appId, bytes);
        const seq = roomSeqOf(room.id);
        if (seq > 0) this.q.raiseCounter.run('room', seq);
      },
      RoomCache.key(appId, room.id),
    );
  }

  // ---- helpers (called inside a transaction)

  private requireRoom(appId: string, roomId: string): RoomRow {
    const room = this.q.room.get(appId, roomId) as RoomRow | undefined;
    if (!room) throw Errors.roomNotFound(roomId);
    return room;
  }

  /** The room exists (else roomNotFound) and the user is a member of it (else notInRoom): one query. */
  private requireMember(appId: string, roomId: string, user: string): void {
    const member = this.q.roomAndMember.get(appId, roomId, user, appId, roomId) as number | undefined;
    if (member === undefined) throw Errors.roomNotFound(roomId);
    if (member === 0) throw Errors.notInRoom();
  }

  private appBytes(appId: string): number {
    const row = this.q.usage.get(appId) as { bytes: number } | undefined;
    return row?.bytes ?? 0;
  }

  /** A member leaves: its autoDelete keys go, then the membership and its presence. O(that member's keys). */
  private leave(
    appId: string,
    roomId: string,
    username: string,
    routing: EventRouting,
    reason: 'member_left' | 'user_deleted' | 'member_offline',
  ): void {
    const keys = this.q.deleteAutoAttrs.all(appId, roomId, username) as Array<{ key: string; value: string; bytes: number }>;
    const total = keys.reduce((sum, k) => sum + k.bytes, 0);
    if (total) this.q.addUsage.run(appId, -total);
    this.q.deleteMember.run(appId, roomId, username);
    if (keys.length > 0) {
      const previous = Object.create(null) as Previous;
      for (const k of keys) previous[k.key] = { value: k.value, owner: username };
      this.emit(appId, roomId, routing, { reason, from: username, attributes: keys.map((k) => k.key), previous });
    }
    this.pending.push([`${appId}:${roomId}`, membershipEnded(username)]);
    // An online member removed is offline from now: its streams end with the membership message.
    if (this.presence.forget(appId, roomId, username))
      this.pending.push([`${appId}:${roomId}`, presenceMessage(presenceTemplate(roomId, this.now()), username, 'offline')]);
  }

  /**
   * Writes an event in the running transaction: the room's next seq, the log, one outbox row per
   * webhook endpoint that wants it. Every 64th event prunes what the log no longer has to keep.
   */
  private emit(
    appId: string,
    roomId: string,
    routing: EventRouting,
    facts: Pick<EventFacts, 'reason' | 'from' | 'attributes' | 'previous'>,
    final = false,
  ): void {
    const seq = (this.q.roomSeq.get(appId, roomId, appId, roomId) as number) + 1;
    const ts = this.now();
    const body = renderEvent(
      eventTemplate({ reason: facts.reason, from: facts.from, roomId, appKey: routing.appKey, timestamp: ts }),
      seq,
      facts.attributes,
      facts.previous,
    );
    this.q.insertEvent.run(appId, roomId, seq, ts, body);
    for (const endpoint of routing.endpointsFor(facts.reason)) this.q.insertOutbox.run(appId, endpoint, roomId, seq, body);
    if (seq % 64 === 0 || final) {
      this.q.pruneEvents.run(appId, roomId, seq - this.logLimits.minEvents, ts - this.logLimits.minAgeMs);
    }
    this.pending.push([`${appId}:${roomId}`, { seq, body }]);
  }

  // ---- expiry (ExpiryStore)

  /**
   * Removes the app's due keys, a room per savepoint (each room's keys in one, one event per
   * owner), at most 100 rooms a pass; then reads from the file when the next key is due.
   */
  async expireDue(appId: string, routing: EventRouting): Promise<number> {
    if (this.now() < this.nextDue) return 0;
    const rooms = this.q.dueRooms.all(this.now(), appId, 100) as string[];
    let removed = 0;
    for (const roomId of rooms) {
      removed += await this.write(() => this.expireRoom(appId, roomId, routing, this.now()), RoomCache.key(appId, roomId));
    }
    if (rooms.length < 100) {
      await this.write(() => {
        this.nextDue = (this.q.nextDue.get() as number | null) ?? Infinity;
      });
    }
    return removed;
  }

  /** In the running transaction: the room's keys due at `now` go, their bytes freed, one `expired` event per owner. */
  private expireRoom(appId: string, roomId: string, routing: EventRouting, now: number): number {
    const rows = this.q.roomDue.all(appId, roomId, now) as Array<{ key: string; value: string; owner: string; bytes: number }>;
    if (rows.length === 0) return 0;
    const byOwner = new Map<string, Previous>();
    let freed = 0;
    for (const r of rows) {
      this.q.deleteAttr.run(appId, roomId, r.key);
      freed += r.bytes;
      let previous = byOwner.get(r.owner);
      if (previous === undefined) byOwner.set(r.owner, (previous = Object.create(null) as Previous));
      previous[r.key] = { value: r.value, owner: r.owner };
    }
    if (freed !== 0) this.q.addUsage.run(appId, -freed);
    for (const owner of [...byOwner.keys()].sort()) {
      const previous = byOwner.get(owner)!;
      this.emit(appId, roomId, routing, { reason: 'expired', from: owner, attributes: Object.keys(previous), previous });
    }
    return rows.length;
  }

  // ---- events

  async readEvents(appId: string, roomId: string, afterSeq: number, limit: number): Promise<EventLogRead> {
    return this.db.transaction(() => {
      const exists = this.q.roomExists.get(appId, roomId) !== undefined;
      const bounds = this.q.eventBounds.get(appId, roomId) as { first: number | null; last: number | null };
      const lastSeq = this.q.roomSeq.get(appId, roomId, appId, roomId) as number;
      const events = this.q.eventsAfter.all(appId, roomId, afterSeq, limit) as StoredEvent[];
      return { events, lastSeq, firstSeq: bounds.first ?? lastSeq + 1, exists, epoch: this.epoch };
    })();
  }

  async snapshot(appId: string, roomId: string): Promise<Snapshot | null> {
    return this.db.transaction(() => {
      if (this.q.roomExists.get(appId, roomId) === undefined) return null;
      const seq = this.q.roomSeq.get(appId, roomId, appId, roomId) as number;
      const attributes = Object.create(null) as Record<string, string>;
      const now = this.now();
      for (const r of this.q.allAttrsExpiring.all(appId, roomId) as Array<{ key: string; value: string; expires_at: number | null }>)
        if (r.expires_at === null || r.expires_at > now) attributes[r.key] = r.value;
      return { seq, attributes };
    })();
  }

  async logEpoch(): Promise<string> {
    return this.epoch;
  }

  async renewLogEpoch(): Promise<string> {
    return this.write(() => {
      this.db.prepare('UPDATE counters SET value = ? WHERE name = ?').run(newEpochValue(), EPOCH_COUNTER);
      this.epoch = readEpoch(this.db);
      return this.epoch;
    });
  }

  async subscribe(appId: string, roomId: string, listener: EventListener): Promise<() => void> {
    return this.feed.subscribe(`${appId}:${roomId}`, listener);
  }

  // ---- presence (PresenceStore; sqlite-presence.ts)

  recordConnections(app: PresenceApp, roomId: string, counts: ReadonlyArray<readonly [string, number]>): Promise<PresenceAnswer[]> {
    return this.presence.recordConnections(app, roomId, counts);
  }

  onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]> {
    return this.presence.onlineMembers(appId, roomId, member);
  }

  leaveOffline(app: PresenceApp): Promise<number> {
    return this.presence.leaveOffline(app);
  }

  async sweepPresence(): Promise<void> {
    // One process holds every connection: no other instance can die holding some.
  }

  async renewPresence(): Promise<boolean> {
    return false;
  }

  recoverPresence(): Promise<void> {
    return this.presence.recover();
  }

  async releasePresence(): Promise<void> {
    // The counts stay: the next start's recoverPresence makes them offline as of that start.
  }

  onFeedGap(): void {
    // In one process the feed is synchronous with the commit: it never misses an event.
  }

  async claimDeliveries(
    appId: string,
    endpoint: string,
    now: number,
    limit: number,
    busy: (roomId: string) => boolean,
    run = 1,
  ): Promise<Delivery[]> {
    // One process owns the file: the heads of rooms not in flight are this caller's to deliver.
    const rows = (
      this.q.outboxHeads.all(appId, endpoint, now, limit * 2 + 16) as Array<{
        id: number;
        room: string;
        seq: number;
        body: string;
        attempts: number;
        first_attempt_at: number | null;
      }>
    )
      .filter((r) => !busy(r.room))
      .slice(0, limit);
    return rows.map((r) => {
      // A run: the head and the room's next rows (the claim is the head's row id).
      const more = run > 1 ? (this.q.outboxRun.all(appId, endpoint, r.room, r.id, run) as Array<{ seq: number; body: string }>) : [];
      const events = more.length > 1 ? more.map((m) => ({ seq: m.seq, body: m.body })) : [{ seq: r.seq, body: r.body }];
      return {
        appId,
        endpoint,
        roomId: r.room,
        seq: r.seq,
        body: r.body,
        events,
        attempts: r.attempts,
        firstAttemptAt: r.first_attempt_at,
        claim: String(r.id),
      };
    });
  }

  async finishDelivery(d: Delivery, attempt: AttemptRecord): Promise<void> {
    await this.write(() => {
      // A run (perhaps cut short of what was claimed) goes by its events' seqs.
      if (d.events.length <= 1) this.q.outboxDelete.run(Number(d.claim));
      else this.q.outboxDeleteRun.run(d.appId, d.endpoint, d.roomId, d.events[0]!.seq, d.events[d.events.length - 1]!.seq);
      this.recordAttempt(d.appId, attempt);
    });
  }

  async retryDelivery(d: Delivery, nextAt: number, attempt: AttemptRecord): Promise<void> {
    // The attempts are the head row's: a run is tried again from its head.
    await this.write(() => {
      this.q.outboxRetry.run(attempt.attempt, nextAt, attempt.at, Number(d.claim));
      this.recordAttempt(d.appId, attempt);
    });
  }

  private recordAttempt(appId: string, a: AttemptRecord): void {
    const { lastInsertRowid } = this.q.insertAttempt.run(
      appId,
      a.endpoint,
      a.roomId,
      a.seq,
      a.attempt,
      a.at,
      a.status,
      a.error,
      a.durationMs,
      a.outcome,
    );
    const id = Number(lastInsertRowid);
    if (id % 100 === 0) this.q.pruneAttempts.run(appId, id - ATTEMPTS_KEPT);
  }

  async recentAttempts(appId: string, limit: number): Promise<AttemptRecord[]> {
    return (
      this.q.recentAttempts.all(appId, limit) as Array<{
        endpoint: string;
        room: string;
        seq: number;
        attempt: number;
        at: number;
        status: number | null;
        error: string | null;
        duration_ms: number;
        outcome: AttemptRecord['outcome'];
      }>
    ).map((r) => ({
      endpoint: r.endpoint,
      roomId: r.room,
      seq: r.seq,
      attempt: r.attempt,
      at: r.at,
      status: r.status,
      error: r.error,
      durationMs: r.duration_ms,
      outcome: r.outcome,
    }));
  }

  async outboxDepth(appId: string, endpoint: string): Promise<number> {
    return (this.q.outboxDepth.get(appId, endpoint) as { n: number }).n;
  }
}
