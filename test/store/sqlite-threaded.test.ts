import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import type { StoredEvent } from '../../src/domain/events.js';
import { DEFAULT_CHECKPOINT_PAGES, SqliteStore, WRITER_BATCH, WRITER_CHECKPOINT_FACTOR } from '../../src/store/sqlite/sqlite-store.js';
import { SqliteThreadedStore } from '../../src/store/sqlite/threaded-store.js';
import { runStoreSuite } from './conformance.js';
import { waitFor } from '../support/wait.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { freshPath, peek } from './sqlite-support.js';

// The SQLite store with its writes on a worker thread (the server's default): the conformance
// suite, and what the thread changes: the event loop goes on while a write waits on the file.

const openThreaded = (path: string, busyTimeoutMs?: number) =>
  SqliteThreadedStore.open({ path, synchronous: 'FULL', eventLog: LOG_LIMITS, ...(busyTimeoutMs ? { busyTimeoutMs } : {}) });

runStoreSuite('sqlite-threaded', () => openThreaded(freshPath()), {
  // The file is open to other connections (the writer holds a lock file instead of the file's own
  // lock); this one's change is made behind the store's back, as corruption would be.
  async breakAttribute(_store, appId, roomId, key) {
    const path = (_store as unknown as { reader: { db: Database.Database } }).reader.db.name;
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 10000');
      const { changes } = db.prepare('UPDATE attrs SET bytes = bytes + 1 WHERE app = ? AND room = ? AND key = ?').run(appId, roomId, key);
      assert.equal(changes, 1);
    } finally {
      db.close();
    }
  },
});

const app = 't'.repeat(32);
const setCall = (roomId: string, user: string, pairs: Array<[string, unknown]>) => ({
  appId: app,
  roomId,
  user,
  forced: false,
  autoDelete: 'NO_DELETE' as const,
  pairs,
  limits: DEFAULT_LIMITS,
  routing: NO_WEBHOOKS,
});

describe('sqlite store, writes on a worker thread', () => {
  const opened: SqliteThreadedStore[] = [];
  const track = async (p: Promise<SqliteThreadedStore>): Promise<SqliteThreadedStore> => {
    const s = await p;
    opened.push(s);
    return s;
  };
  after(async () => {
    for (const s of opened) await s.close();
  });

  it('goes on reading and running timers while a write waits for the file; the write then commits', async () => {
    const path = freshPath();
    const store = await track(openThreaded(path, 60_000));
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    await store.setAttributes(setCall(room, 'alice', [['k', 'before']]));

    // Another connection holds the write lock: the store's next write waits in SQLite's busy
    // handler. On the main thread that wait would hold up everything else.
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    let settled: 'no' | 'resolved' | 'rejected' = 'no';
    const write = store.setAttributes(setCall(room, 'alice', [['k', 'after']])).then(
      (v) => ((settled = 'resolved'), v),
      (e: unknown) => {
        settled = 'rejected';
        throw e;
      },
    );
    // Timers fire, and reads are answered, many turns after the write was sent.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined, 'alice')) }, { k: 'before' });
    assert.equal(settled, 'no', 'the write is still waiting for the lock');
    other.exec('COMMIT');
    other.close();
    assert.deepEqual(await write, { successKeys: ['k'], errorKeys: {} });
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined, 'alice')) }, { k: 'after' });
  });

  it("publishes a batch's events before answering its calls, and reads see what was answered", async () => {
    const store = await track(openThreaded(freshPath()));
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    const seen: StoredEvent[] = [];
    const stop = await store.subscribe(app, room, (e) => seen.push(e));
    // Read once, so the room is in the read cache; each write must drop it.
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, {});
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.setAttributes(setCall(room, 'alice', [[`k${i % 3}`, `v${i}`]])).then((outcome) => {
        // Answered: its event was published, and every read sees its value.
        assert.ok(seen.some((e) => e.seq === i + 1));
        return outcome;
      }),
    );
    await Promise.all(writes);
    stop();
    assert.deepEqual(
      seen.map((e) => e.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { k0: 'v18', k1: 'v19', k2: 'v17' });
  });

  it('answers a get the read cache holds without a read transaction; a write in between is seen at once', async () => {
    const store = await track(openThreaded(freshPath()));
    await store.createUsers(app, [
      { username: 'o', passwordHash: 'h' },
      { username: 'm', passwordHash: 'h' },
    ]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'o', maxusers: 10, members: ['m'] })).id;
    await store.setAttributes(setCall(room, 'o', [['k', '1']]));
    const reader = (store as unknown as { reader: { atOneInstant: (read: () => Promise<unknown>) => Promise<unknown> } }).reader;
    let transactions = 0;
    const inner = reader.atOneInstant.bind(reader);
    reader.atOneInstant = (read) => {
      transactions += 1;
      return inner(read);
    };
    assert.equal(await store.getAttributesJson(app, room, undefined, 'o'), '{"k":"1"}');
    assert.equal(transactions, 1, 'the first get reads the file');
    assert.equal(await store.getAttributesJson(app, room, undefined, 'o'), '{"k":"1"}');
    assert.equal(await store.getAttributesJson(app, room, ['k'], 'o'), '{"k":"1"}');
    assert.equal(transactions, 1, 'the next ones come from the cache, with no transaction');
    // A member not yet looked up is read from the file once, then known.
    assert.equal(await store.getAttributesJson(app, room, undefined, 'm'), '{"k":"1"}');
    assert.equal(await store.getAttributesJson(app, room, undefined, 'm'), '{"k":"1"}');
    assert.equal(transactions, 2);
    await store.setAttributes(setCall(room, 'o', [['k', '2']]));
    assert.equal(await store.getAttributesJson(app, room, undefined, 'o'), '{"k":"2"}', 'the commit dropped the room from the cache');
    await store.removeMembers(app, room, ['m'], NO_WEBHOOKS);
    await assert.rejects(store.getAttributesJson(app, room, undefined, 'm'), /not in chatroom|not_in_room|is not in/i);
  });

  it('refuses a second store on the same file, while other connections may read it', async () => {
    const path = freshPath();
    const store = await track(openThreaded(path));
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    await assert.rejects(openThreaded(path, 50), {
      message: `${path} is in use by another process (another roomkv on the same data dir?)`,
    });
    assert.deepEqual(
      peek(path, (db) => db.prepare('SELECT username FROM users WHERE app = ?').pluck().all(app)),
      ['alice'],
    );
    await store.createUsers(app, [{ username: 'bob', passwordHash: 'h' }]);
    assert.equal((await store.getUser(app, 'bob'))?.username, 'bob');
  });

  it('answers every write with a clear error once its writer thread is gone, and ping fails', async () => {
    const store = await track(openThreaded(freshPath()));
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const stops: Error[] = [];
    store.onStopped = (err) => stops.push(err);
    const { worker } = store as unknown as { worker: { terminate(): Promise<number> } };
    await worker.terminate();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stops.length, 1, 'the stop is reported once');
    assert.match(stops[0]!.message, /SQLite writer thread exited/);
    await assert.rejects(store.createUsers(app, [{ username: 'bob', passwordHash: 'h' }]), /SQLite writer thread exited/);
    await assert.rejects(store.ping(), /SQLite writer thread exited/);
    // reads still answer from the file
    assert.equal((await store.getUser(app, 'alice'))?.username, 'alice');
  });

  it('closes with the WAL checkpointed into the file and the lock file released', async () => {
    const path = freshPath();
    const store = await openThreaded(path);
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    await store.close();
    assert.equal(
      peek(path, (db) => db.prepare('SELECT count(*) FROM users').pluck().get()),
      1,
    );
    const again = await openThreaded(path);
    assert.equal((await again.getUser(app, 'alice'))?.username, 'alice');
    await again.close();
  });
});

describe("sqlite store, the writer thread's group commit", () => {
  // The writer's SqliteStore on this thread: what it commits together, and when it answers.
  const burst = async (close: boolean): Promise<string[]> => {
    const log: string[] = [];
    const store = new SqliteStore({
      path: freshPath(),
      synchronous: 'FULL',
      eventLog: LOG_LIMITS,
      role: 'writer',
      onCommit: (note) => log.push(`commit ${note.events.length}`),
    });
    try {
      await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
      log.length = 0;
      // One turn's calls, as a message of the main thread brings them.
      const calls = Array.from({ length: 2 * WRITER_BATCH + 3 }, (_, i) =>
        store.setAttributes(setCall(room, 'alice', [[`k${i}`, 'v']])).then(() => log.push(`answer k${i}`)),
      );
      if (close) await store.close();
      await Promise.all(calls);
      return log;
    } finally {
      await store.close();
    }
  };

  it(`commits a burst ${WRITER_BATCH} calls at a time, and answers each batch before the next commits`, async () => {
    const answers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `answer k${from + i}`);
    assert.deepEqual(await burst(false), [
      `commit ${WRITER_BATCH}`,
      ...answers(0, WRITER_BATCH),
      `commit ${WRITER_BATCH}`,
      ...answers(WRITER_BATCH, WRITER_BATCH),
      'commit 3',
      ...answers(2 * WRITER_BATCH, 3),
    ]);
  });

  it('commits the whole queue when it closes, in order', async () => {
    const log = await burst(true);
    const commits = log.filter((line) => line.startsWith('commit'));
    assert.deepEqual(commits, [`commit ${WRITER_BATCH}`, `commit ${WRITER_BATCH}`, 'commit 3']);
    assert.deepEqual(
      log.filter((line) => line.startsWith('answer')),
      Array.from({ length: 2 * WRITER_BATCH + 3 }, (_, i) => `answer k${i}`),
    );
  });
});

describe('sqlite store, the checkpointer thread', () => {
  /** WAL frames the -wal file has room for (header 32 bytes, each frame 24 + a page). */
  const walFrames = (path: string): number => {
    const pageSize = peek(path, (db) => db.pragma('page_size', { simple: true }) as number);
    return Math.floor((statSync(`${path}-wal`).size - 32) / (24 + pageSize));
  };

  async function openRoom(checkpointPages?: number, checkpointIntervalMs?: number) {
    const path = freshPath();
    const store = await SqliteThreadedStore.open({
      path,
      synchronous: 'NORMAL',
      eventLog: LOG_LIMITS,
      ...(checkpointPages === undefined ? {} : { checkpointPages }),
      ...(checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs }),
    });
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    return { path, store, room };
  }

  /**
   * Commits one write after another until `frames` commits are made (each writes a few frames),
   * then tells how many frames the -wal file holds: SQLite writes the WAL from its start again
   * after a checkpoint has copied all of it, so its size is the most it held between two.
   */
  async function walAfter(
    frames: number,
    checkpointPages: number,
    beforeWrites?: (store: SqliteThreadedStore) => Promise<void>,
    checkpointIntervalMs?: number,
  ) {
    const { path, store, room } = await openRoom(checkpointPages, checkpointIntervalMs);
    try {
      await beforeWrites?.(store);
      for (let i = 0; i < frames; i++) await store.setAttributes(setCall(room, 'alice', [[`k${i % 50}`, `v${i}`]]));
      return walFrames(path);
    } finally {
      await store.close();
    }
  }

  it('copies commits into the database file on its own, long before the writer would', async () => {
    assert.equal(DEFAULT_CHECKPOINT_PAGES, 10_000);
    const { path, store, room } = await openRoom();
    try {
      const marker = `copied-by-the-checkpointer-${process.pid}`;
      await store.setAttributes(setCall(room, 'alice', [['k', marker]]));
      // A few frames in the WAL, far from the writer's own checkpoint (40,000 frames): only the
      // checkpointer's passes put the value into the file itself.
      assert.ok(walFrames(path) < 100);
      await waitFor('the value in the database file', () => readFileSync(path).includes(marker), 30_000);
    } finally {
      await store.close();
    }
  });

  it('keeps the WAL near the pages it is given under a stream of commits', async () => {
    const held = await walAfter(1500, 200);
    assert.ok(held < WRITER_CHECKPOINT_FACTOR * 200 + 60, `the WAL held ${held} frames`);
  });

  it('should the checkpointer be gone, the writer checkpoints itself at four times the pages', async () => {
    const held = await walAfter(1500, 200, async (store) => {
      await (store as unknown as { checkpointer: Worker }).checkpointer.terminate();
    });
    // Past 800 frames the writer's commit checkpoints, and the next commit writes from the start.
    assert.ok(held >= WRITER_CHECKPOINT_FACTOR * 200 && held < WRITER_CHECKPOINT_FACTOR * 200 + 60, `the WAL held ${held} frames`);
  });

  it('with an interval of 0 there is none, and the writer checkpoints itself at the pages', async () => {
    const held = await walAfter(
      1500,
      200,
      async (store) => assert.equal((store as unknown as { checkpointer: Worker | null }).checkpointer, null),
      0,
    );
    assert.ok(held >= 200 && held < 260, `the WAL held ${held} frames`);
  });

  it('tells of a checkpointer that fails, and goes on', async () => {
    const { store, room } = await openRoom();
    try {
      const told: Error[] = [];
      store.onCheckpointerStopped = (err) => told.push(err);
      const checkpointer = (store as unknown as { checkpointer: Worker }).checkpointer;
      checkpointer.emit('error', new Error('disk gone'));
      assert.deepEqual(
        told.map((e) => e.message),
        ['disk gone'],
      );
      await store.setAttributes(setCall(room, 'alice', [['k', 'still written']]));
      assert.deepEqual({ ...(await store.getAttributes(app, room, undefined, 'alice')) }, { k: 'still written' });
    } finally {
      await store.close();
    }
  });

  it('the writer copies what the passes left when asked, and its next commit writes the WAL from its start', async () => {
    const path = freshPath();
    const walFull = new Int32Array(new SharedArrayBuffer(4));
    // No checkpointer here, and the writer's own checkpoint far away: only the request copies.
    const store = new SqliteStore({ path, synchronous: 'NORMAL', eventLog: LOG_LIMITS, role: 'writer', walFull, checkpointPages: 100_000 });
    try {
      await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
      for (let i = 0; i < 20; i++) await store.setAttributes(setCall(room, 'alice', [['k', `v${i}`]]));
      // The WAL header's checkpoint sequence (bytes 12-15) moves each time the WAL starts over.
      const restarts = () => readFileSync(`${path}-wal`).readUInt32BE(12);
      const before = restarts();
      await store.setAttributes(setCall(room, 'alice', [['k', 'not asked yet']]));
      assert.equal(restarts(), before, 'no restart unasked');

      Atomics.store(walFull, 0, 1);
      await store.setAttributes(setCall(room, 'alice', [['k', 'asked']]));
      await waitFor('the writer to copy the rest', () => Atomics.load(walFull, 0) === 0);
      await store.setAttributes(setCall(room, 'alice', [['k', 'from the start']]));
      assert.equal(restarts(), before + 1);
      assert.deepEqual({ ...(await store.getAttributes(app, room, undefined, 'alice')) }, { k: 'from the start' });
    } finally {
      await store.close();
    }
  });

  it('holds the database file open for the checkpointer, and lets go of it once the writer has closed', async () => {
    /** What the process has open under `path` and its -wal and -shm files, from /proc/self/fd. */
    const openUnder = (path: string): string[] =>
      readdirSync('/proc/self/fd').flatMap((fd) => {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          return target.startsWith(path) ? [target] : [];
        } catch {
          return []; // the descriptor readdir itself used, closed since
        }
      });
    const { path, store, room } = await openRoom();
    const dbFd = (store as unknown as { dbFd: number | null }).dbFd;
    assert.equal(typeof dbFd, 'number');
    assert.equal(readlinkSync(`/proc/self/fd/${dbFd}`), path);
    await store.setAttributes(setCall(room, 'alice', [['k', 'v']]));
    await store.close();
    assert.deepEqual(openUnder(path), [], 'nothing of the file left open');
    assert.ok(!existsSync(`${path}-wal`), 'the writer closed last and removed the WAL');
  });

  it('refuses a page count that is not a positive integer', async () => {
    for (const checkpointPages of [0, -1, 1.5]) {
      assert.throws(
        () => new SqliteStore({ path: ':memory:', synchronous: 'FULL', eventLog: LOG_LIMITS, checkpointPages }),
        /checkpointPages must be a positive integer/,
      );
    }
  });
});
