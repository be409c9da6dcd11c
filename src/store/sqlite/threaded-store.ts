import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { KeyOutcomes } from '../../domain/attributes.js';
import type { LeaveOutcome } from '../../domain/rooms.js';
import type { EventRouting } from '../../domain/events.js';
import { DEFAULT_CHECKPOINT_INTERVAL_MS, SqliteStore, checkpointPages, type CommitNote, type SqliteOptions } from './sqlite-store.js';
import type { CheckpointerData } from './sqlite-checkpointer.js';
import { decodeError, encodeArgs, type CallMessage, type WireError } from './thread-wire.js';
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
  RoomDump,
  RoomRecord,
  SetCall,
  Snapshot,
  Store,
  UserDump,
  UserRecord,
} from '../types.js';

type WriterItem = { note: CommitNote } | { id: number; value: unknown } | { id: number; error: WireError };
type FromWriter = WriterItem[] | { ready: true } | { failed: WireError } | { closed: true; error?: WireError };

/** The threads' entries: the built .js beside this file, or the .ts when run from source. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./sqlite-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
const CHECKPOINTER_URL = new URL(`./sqlite-checkpointer${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/** A worker thread: from source (the tests), through tsx's loader, registered in the thread first. */
function startWorker(url: URL, workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(url, { workerData });
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * The SQLite store with its writes off the event loop. A worker thread (sqlite-worker.ts) holds
 * the write connection: every write call is planned, applied, committed and fsynced there, in
 * its group commit, and checkpoints run there. The main thread keeps a read connection of its
 * own (WAL: reads go on while a commit is being made durable) with the read cache, and the live
 * feed. Each committed batch's note reaches the main thread before that batch's answers, on the
 * same port: the rooms it changed are dropped from the cache and its events published, then its
 * calls are answered. So an answer still comes after its commit, what an answer acknowledges is
 * what every later read sees, and a room's events reach the feed in commit order.
 *
 * Reads see the file as last committed: a read that runs while a write is being committed sees
 * the state before it (the write is not answered yet).
 *
 * A third thread (sqlite-checkpointer.ts) copies the WAL into the file beside the writer, so the
 * writer does not stop for checkpoints either.
 */
export class SqliteThreadedStore implements Store {
  readonly kind = 'sqlite';
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  /** Set when the writer thread is gone: every write is refused with it. */
  private stopped: Error | null = null;
  private closing: Promise<void> | null = null;
  /** Calls made in this turn, sent together at its end. */
  private outgoing: CallMessage[] = [];

  private constructor(
    private readonly worker: Worker,
    private readonly reader: SqliteStore,
    private readonly checkpointer: Worker | null,
    /** The database file, open for the checkpointer's extra sync; closed once the writer has closed. */
    private readonly dbFd: number | null,
  ) {
    worker.on('message', (msg: FromWriter) => {
      if (Array.isArray(msg)) for (const item of msg) this.receive(item);
    });
    worker.on('error', (err) => this.stop(err));
    // Should it fail, the writer's own checkpoints bound the WAL: the store goes on without it.
    checkpointer?.on('error', (err) => {
      if (this.closing === null) this.onCheckpointerStopped?.(err);
    });
    worker.on('exit', (code) => this.stop(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  /** Starts the writer thread (which opens the file, and migrates it), then opens the reader. */
  static async open(options: Omit<SqliteOptions, 'role' | 'onCommit' | 'clock'>): Promise<SqliteThreadedStore> {
    if (options.path === ':memory:') throw new Error('the threaded SQLite store needs a file');
    // Set by the checkpointer, cleared by the writer (sqlite-checkpointer.ts).
    const walFull = new Int32Array(new SharedArrayBuffer(4));
    const worker = startWorker(WORKER_URL, { ...options, walFull });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter listeners
    const listeners: Array<[string, (...args: any[]) => void]> = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (msg: FromWriter) => {
          if ('ready' in msg) resolve();
          else if ('failed' in msg) reject(decodeError(msg.failed));
        };
        const onExit = (code: number) => reject(new Error(`the SQLite writer thread exited (code ${code}) while opening`));
        listeners.push(['message', onMessage], ['error', reject], ['exit', onExit]);
        for (const [event, fn] of listeners) worker.on(event, fn);
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      // Only these: removeAllListeners would also take Node's own, which keep the port referenced.
      for (const [event, fn] of listeners) worker.off(event, fn);
    }
    let reader: SqliteStore;
    try {
      reader = new SqliteStore({ ...options, role: 'reader' });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    const intervalMs = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    // 0: none; the writer checkpoints itself (sqlite-store.ts).
    if (intervalMs <= 0) return new SqliteThreadedStore(worker, reader, null, null);
    // Opened here and closed only after every connection of the store has closed: closing any
    // descriptor of a file drops the process's POSIX locks on it, SQLite's among them.
    let dbFd: number | null = null;
    try {
      dbFd = openSync(options.path, 'r');
    } catch {
      // Without it the checkpointer skips its extra sync: the writer's tail takes longer, no more.
    }
    const checkpointer = startWorker(CHECKPOINTER_URL, {
      path: options.path,
      synchronous: options.synchronous,
      busyTimeoutMs: options.busyTimeoutMs ?? 2000,
      pages: checkpointPages(options.checkpointPages),
      walFull,
      intervalMs,
      dbFd,
    } satisfies CheckpointerData);
    return new SqliteThreadedStore(worker, reader, checkpointer, dbFd);
  }

  /** A note goes to the reader before the answers after it; an answer settles its call. */
  private receive(item: WriterItem): void {
    if ('note' in item) {
      this.reader.applyCommit(item.note);
      return;
    }
    const call = this.calls.get(item.id);
    if (call === undefined) return;
    this.calls.delete(item.id);
    if ('error' in item) call.reject(decodeError(item.error));
    else call.resolve(item.value);
  }

  /** Called if the checkpointer thread fails while the store is open (the server logs it). */
  onCheckpointerStopped: ((err: Error) => void) | undefined;

  /** Called once if the writer thread stops while the store is open (the server logs it). */
  onStopped: ((err: Error) => void) | undefined;

  private stop(err: Error): void {
    if (this.stopped === null) {
      this.stopped = err;
      if (this.closing === null) this.onStopped?.(err);
    }
    for (const call of this.calls.values()) call.reject(this.stopped);
    this.calls.clear();
  }

  /** Runs a store method on the writer thread. */
  private call<T>(method: keyof Store & string, ...args: unknown[]): Promise<T> {
    if (this.stopped !== null) return Promise.reject(this.stopped);
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // The calls of one turn go in one message (one wake-up of the writer, one group commit).
      if (this.outgoing.length === 0) setImmediate(this.sendCalls);
      this.outgoing.push({ id, method, args: encodeArgs(args) });
    });
  }

  private readonly sendCalls = (): void => {
    const calls = this.outgoing;
    this.outgoing = [];
    if (this.stopped !== null) {
      for (const c of calls) this.calls.get(c.id)?.reject(this.stopped);
      return;
    }
    this.worker.postMessage(calls);
  };

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // The reader and the checkpointer go first, so that the writer's connection is the file's
    // last and its close checkpoints (on its thread) and removes the WAL.
    await this.reader.close();
    await this.closeCheckpointer();
    try {
      await this.closeWriter();
    } finally {
      if (this.dbFd !== null) closeSync(this.dbFd);
    }
  }

  private async closeWriter(): Promise<void> {
    if (this.stopped !== null) return;
    const closed = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (msg: FromWriter) => {
        if ('closed' in msg) {
          if (msg.error) reject(decodeError(msg.error));
          else resolve();
        }
      });
      this.worker.once('exit', () => resolve());
    });
    // Calls made before the close go first: the writer answers them, then closes.
    if (this.outgoing.length > 0) this.sendCalls();
    this.worker.postMessage({ close: true });
    try {
      await closed;
    } finally {
      this.stopped ??= new Error('the SQLite store is closed');
      await this.worker.terminate();
    }
  }

  /** Stops the checkpointer between two passes (so none is cut off), or at once if it is gone. */
  private async closeCheckpointer(): Promise<void> {
    const checkpointer = this.checkpointer;
    if (checkpointer === null) return;
    const exited = new Promise<void>((resolve) => checkpointer.once('exit', () => resolve()));
    if (checkpointer.threadId === -1) return;
    checkpointer.postMessage({ close: true });
    await exited;
  }

  async ping(): Promise<void> {
    await this.reader.ping();
    await this.call('ping');
  }

  integrityCheck(scope?: IntegrityScope): Promise<string[]> {
    return this.reader.integrityCheck(scope);
  }

  // ---- writes: on the writer thread

  createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]> {
    return this.call('createUsers', appId, users);
  }
  deleteUser(appId: string, username: string, routing: EventRouting): Promise<UserRecord | null> {
    return this.call('deleteUser', appId, username, routing);
  }
  createRoom(appId: string, room: NewRoom): Promise<RoomRecord> {
    return this.call('createRoom', appId, room);
  }
  destroyRoom(appId: string, roomId: string, routing: EventRouting): Promise<boolean> {
    return this.call('destroyRoom', appId, roomId, routing);
  }
  addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]> {
    return this.call('addMembers', appId, roomId, usernames);
  }
  removeMembers(appId: string, roomId: string, usernames: string[], routing: EventRouting): Promise<LeaveOutcome[]> {
    return this.call('removeMembers', appId, roomId, usernames, routing);
  }
  setAttributes(call: SetCall): Promise<KeyOutcomes> {
    return this.call('setAttributes', call);
  }
  deleteAttributes(call: DeleteCall): Promise<KeyOutcomes> {
    return this.call('deleteAttributes', call);
  }
  renewLogEpoch(): Promise<string> {
    return this.call('renewLogEpoch');
  }
  recordConnections(app: PresenceApp, roomId: string, counts: ReadonlyArray<readonly [string, number]>): Promise<PresenceAnswer[]> {
    return this.call('recordConnections', app, roomId, counts);
  }
  leaveOffline(app: PresenceApp): Promise<number> {
    return this.call('leaveOffline', app);
  }
  recoverPresence(): Promise<void> {
    return this.call('recoverPresence');
  }
  finishDelivery(d: Delivery, attempt: AttemptRecord): Promise<void> {
    return this.call('finishDelivery', d, attempt);
  }
  retryDelivery(d: Delivery, nextAt: number, attempt: AttemptRecord): Promise<void> {
    return this.call('retryDelivery', d, nextAt, attempt);
  }
  restoreUsers(appId: string, users: UserDump[]): Promise<void> {
    return this.call('restoreUsers', appId, users);
  }
  restoreRoom(appId: string, room: RoomDump): Promise<void> {
    return this.call('restoreRoom', appId, room);
  }
  async expireDue(appId: string, routing: EventRouting): Promise<number> {
    // No key is due before the earliest expiry the last commit reported: no need to ask.
    if (Date.now() < this.reader.nextDueAt) return 0;
    return this.call('expireDue', appId, routing);
  }

  // ---- reads: on the main thread's own connection; those of several statements in a read transaction

  getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>> {
    return this.reader.atOneInstant(() => this.reader.getAttributes(appId, roomId, keys, member));
  }
  getAttributesJson(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<string> {
    try {
      const hit = this.reader.cachedJsonIfHit(appId, roomId, keys, member);
      if (hit !== undefined) return Promise.resolve(hit);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.reader.atOneInstant(() => this.reader.getAttributesJson(appId, roomId, keys, member));
  }
  getAttributeDetails(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, AttrDetail>> {
    return this.reader.atOneInstant(() => this.reader.getAttributeDetails(appId, roomId, keys, member));
  }
  listAttributes(appId: string, roomId: string): Promise<AttrRecord[]> {
    return this.reader.atOneInstant(() => this.reader.listAttributes(appId, roomId));
  }
  getUser(appId: string, username: string): Promise<UserRecord | null> {
    return this.reader.getUser(appId, username);
  }
  getUserByUuid(appId: string, uuid: string): Promise<UserRecord | null> {
    return this.reader.getUserByUuid(appId, uuid);
  }
  getPasswordHash(appId: string, username: string): Promise<string | null> {
    return this.reader.getPasswordHash(appId, username);
  }
  getRoom(appId: string, roomId: string): Promise<RoomRecord | null> {
    return this.reader.atOneInstant(() => this.reader.getRoom(appId, roomId));
  }
  listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]> {
    return this.reader.atOneInstant(() => this.reader.listMembers(appId, roomId, offset, limit));
  }
  isMember(appId: string, roomId: string, username: string): Promise<boolean> {
    return this.reader.isMember(appId, roomId, username);
  }
  logEpoch(): Promise<string> {
    return this.reader.logEpoch();
  }
  readEvents(appId: string, roomId: string, afterSeq: number, limit: number): Promise<EventLogRead> {
    return this.reader.readEvents(appId, roomId, afterSeq, limit);
  }
  snapshot(appId: string, roomId: string): Promise<Snapshot | null> {
    return this.reader.snapshot(appId, roomId);
  }
  subscribe(appId: string, roomId: string, listener: EventListener): Promise<() => void> {
    return this.reader.subscribe(appId, roomId, listener);
  }
  onFeedGap(): void {
    // The feed is this process's, fed by the writer's notes in commit order: it never misses one.
  }
  onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]> {
    return this.reader.atOneInstant(() => this.reader.onlineMembers(appId, roomId, member));
  }
  async sweepPresence(): Promise<void> {
    // One process holds every connection: no other instance can die holding some.
  }
  async renewPresence(): Promise<boolean> {
    return false;
  }
  async releasePresence(): Promise<void> {
    // The counts stay: the next start's recoverPresence makes them offline as of that start.
  }
  claimDeliveries(
    appId: string,
    endpoint: string,
    now: number,
    limit: number,
    busy: (roomId: string) => boolean,
    run?: number,
  ): Promise<Delivery[]> {
    // A claim only reads here (busy keeps a room's second claim off), so it is the reader's.
    return this.reader.atOneInstant(() => this.reader.claimDeliveries(appId, endpoint, now, limit, busy, run));
  }
  recentAttempts(appId: string, limit: number): Promise<AttemptRecord[]> {
    return this.reader.recentAttempts(appId, limit);
  }
  outboxDepth(appId: string, endpoint: string): Promise<number> {
    return this.reader.outboxDepth(appId, endpoint);
  }
  listUsers(appId: string, after: string, limit: number): Promise<UserDump[]> {
    return this.reader.listUsers(appId, after, limit);
  }
  listRooms(appId: string, after: string, limit: number): Promise<RoomRecord[]> {
    return this.reader.atOneInstant(() => this.reader.listRooms(appId, after, limit));
  }
  dumpRoom(appId: string, roomId: string): Promise<RoomDump | null> {
    return this.reader.dumpRoom(appId, roomId);
  }
}
