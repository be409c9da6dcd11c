import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { RoomCache } from '../../src/store/sqlite/room-cache.js';
import { tempDir } from '../support/apps.js';
import { runStoreSuite } from './conformance.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';

const dirs: string[] = [];
const freshPath = (): string => {
  const dir = tempDir('roomkv-sqlite-');
  dirs.push(dir);
  return join(dir, 'roomkv.sqlite');
};
// Module-level: runs after every suite of this file has closed its stores.
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const open = (path: string): SqliteStore => new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS });

runStoreSuite('sqlite', () => open(freshPath()), {
  // An attrs row's recorded size, through the store's own connection (it holds the file).
  async breakAttribute(store, appId, roomId, key) {
    const { db } = store as unknown as { db: Database.Database };
    const { changes } = db.prepare('UPDATE attrs SET bytes = bytes + 1 WHERE app = ? AND room = ? AND key = ?').run(appId, roomId, key);
    assert.equal(changes, 1);
  },
});

/** Reads the file through a second, independent connection. */
function peek<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const schemaOf = (db: Database.Database) =>
  db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all();

describe('sqlite store specifics', () => {
  const opened: SqliteStore[] = [];
  const track = (s: SqliteStore): SqliteStore => {
    opened.push(s);
    return s;
  };
  after(async () => {
    for (const s of opened) await s.close();
  });

  it('runs in WAL mode, as seen by a second connection once the store is closed', async () => {
    const path = freshPath();
    await open(path).close();
    assert.equal(
      peek(path, (db) => db.pragma('journal_mode', { simple: true })),
      'wal',
    );
  });

  it('stores the current schema version in user_version', async () => {
    const path = freshPath();
    await open(path).close();
    assert.ok(SCHEMA_VERSION >= 1);
    assert.equal(
      peek(path, (db) => db.pragma('user_version', { simple: true })),
      SCHEMA_VERSION,
    );
  });

  it('holds the file while open: a second store or connection on it is refused, with a clear error', async () => {
    const path = freshPath();
    const app = 'c'.repeat(32);
    const first = open(path);
    await first.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    assert.throws(() => new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS, busyTimeoutMs: 50 }), {
      message: `${path} is in use by another process (another roomkv on the same data dir?)`,
    });
    assert.throws(() => peek(path, (db) => db.prepare('SELECT count(*) FROM users').get()), { code: 'SQLITE_BUSY' });
    // the refused open changed nothing, and the first store goes on working
    assert.equal((await first.getUser(app, 'alice'))?.username, 'alice');
    await first.createUsers(app, [{ username: 'bob', passwordHash: 'h' }]);
    await first.close();
    const second = open(path);
    assert.equal((await second.getUser(app, 'alice'))?.username, 'alice');
    assert.equal((await second.getUser(app, 'bob'))?.username, 'bob');
    await second.close();
  });

  it('with locking normal, lets another connection read the file while open', async () => {
    const path = freshPath();
    const app = 'd'.repeat(32);
    const store = track(new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS, locking: 'normal' }));
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    assert.deepEqual(
      peek(path, (db) => db.prepare('SELECT username FROM users WHERE app = ?').pluck().all(app)),
      ['alice'],
    );
    await store.createUsers(app, [{ username: 'bob', passwordHash: 'h' }]);
    assert.equal((await store.getUser(app, 'bob'))?.username, 'bob');
  });

  it('keeps the data when reopened and does not re-run migrations', async () => {
    const path = freshPath();
    const app = 'a'.repeat(32);
    const first = open(path);
    await first.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const room = await first.createRoom(app, { name: 'r', description: 'd', owner: 'alice', maxusers: 10, members: [] });
    await first.setAttributes({
      appId: app,
      roomId: room.id,
      user: 'alice',
      forced: false,
      autoDelete: 'NO_DELETE',
      pairs: [['k', 'v']],
      limits: DEFAULT_LIMITS,
      routing: NO_WEBHOOKS,
    });
    await first.close();
    const schemaBefore = peek(path, schemaOf);

    const second = open(path);
    assert.equal((await second.getUser(app, 'alice'))?.username, 'alice');
    assert.deepEqual(await second.getRoom(app, room.id), room);
    assert.deepEqual(await second.listAttributes(app, room.id), [{ key: 'k', value: 'v', owner: 'alice', autoDelete: 'NO_DELETE' }]);
    // the room counter survives too: a new room does not reuse an id
    const next = await second.createRoom(app, { name: 'r2', description: '', owner: 'alice', maxusers: 10, members: [] });
    assert.notEqual(next.id, room.id);
    assert.deepEqual(await second.integrityCheck(), []);
    await second.close();
    assert.equal(
      peek(path, (db) => db.pragma('user_version', { simple: true })),
      SCHEMA_VERSION,
    );
    assert.deepEqual(peek(path, schemaOf), schemaBefore, 'the schema is untouched by the second open');
  });

  it('integrityCheck finds nothing after a mixed workload, and does report a broken byte count', async () => {
    const path = freshPath();
    let store = open(path);
    const app = 'b'.repeat(32);
    const limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: 6, maxAppBytes: 200 };
    await store.createUsers(
      app,
      ['o', 'u1', 'u2', 'u3'].map((username) => ({ username, passwordHash: 'h' })),
    );
    const r1 = (await store.createRoom(app, { name: 'a', description: '', owner: 'o', maxusers: 10, members: ['u1', 'u2', 'u3'] })).id;
    const r2 = (await store.createRoom(app, { name: 'b', description: '', owner: 'o', maxusers: 10, members: ['u1', 'u2'] })).id;
    const set = (
      room: string,
      user: string,
      pairs: Array<[string, unknown]>,
      forced = false,
      autoDelete: 'DELETE' | 'NO_DELETE' = 'DELETE',
    ) => store.setAttributes({ appId: app, roomId: room, user, forced, autoDelete, pairs, limits, routing: NO_WEBHOOKS });
    await set(r1, 'u1', [
      ['a', '😀'],
      ['b', 'x'.repeat(40)],
      ['bad key', 'v'],
      ['n', 3],
    ]);
    await set(
      r1,
      'u2',
      [
        ['a', 'steal'],
        ['c', 'é'],
        ['d', ''],
      ],
      false,
      'NO_DELETE',
    );
    await set(r1, 'u2', [['a', 'forced value']], true);
    await set(r1, 'u3', [
      ['e', 'x'.repeat(90)],
      ['f', 'y'],
      ['g', 'z'],
    ]); // quota and room limit refusals
    await set(
      r2,
      'u1',
      [
        ['a', 'r2'],
        ['z', 'keep'],
      ],
      false,
      'NO_DELETE',
    );
    await set(r2, 'u2', [['b', 'gone']]);
    await set(r1, 'u1', [['b', 'short']]);
    await store.deleteAttributes({
      appId: app,
      roomId: r1,
      user: 'u1',
      forced: false,
      checkMembership: true,
      keys: ['a', 'b', 'ghost'],
      routing: NO_WEBHOOKS,
    });
    await store.deleteAttributes({
      appId: app,
      roomId: r1,
      user: 'admin',
      forced: true,
      checkMembership: false,
      keys: ['c'],
      routing: NO_WEBHOOKS,
    });
    await store.removeMembers(app, r1, ['u3', 'o', 'nobody'], NO_WEBHOOKS);
    await store.deleteUser(app, 'u2', NO_WEBHOOKS);
    await store.addMembers(app, r2, ['u3']);
    await set(r2, 'u3', [['u3k', 'v']]);
    await store.destroyRoom(app, r2, NO_WEBHOOKS);
    assert.deepEqual(await store.integrityCheck(), []);
    const before = (await store.listAttributes(app, r1)).reduce((sum, a) => sum + Buffer.byteLength(a.key) + Buffer.byteLength(a.value), 0);
    await store.close();

    const broken = new Database(path);
    broken.prepare('UPDATE app_usage SET bytes = bytes + 1 WHERE app = ?').run(app);
    broken.close();
    store = track(open(path));
    assert.deepEqual(
      await store.integrityCheck(),
      [`app ${app}: attributes hold ${before} bytes, usage says ${before + 1}`],
      'the check is able to fail',
    );
  });

  it('fails a whole batch when SQLite rolls its transaction back during a call: the calls after it do not commit alone', async () => {
    const path = freshPath();
    const app = 'r'.repeat(32);
    const store = track(open(path));
    await store.createUsers(app, [{ username: 'before', passwordHash: 'h' }]);
    // What SQLite does on some full-disk and I/O errors: the whole transaction is rolled back, and
    // the statement fails. Queued through the store's own write path, in the same turn as two calls.
    const internals = store as unknown as { db: Database.Database; write: (fn: () => unknown) => Promise<unknown> };
    const first = store.createUsers(app, [{ username: 'first', passwordHash: 'h' }]);
    const failing = internals.write(() => {
      internals.db.exec('ROLLBACK');
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    const after = store.createUsers(app, [{ username: 'after', passwordHash: 'h' }]);
    const outcomes = await Promise.allSettled([first, failing, after]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected', 'rejected'],
    );
    for (const o of outcomes) assert.equal((o as PromiseRejectedResult).reason.code, 'SQLITE_FULL');
    assert.equal(await store.getUser(app, 'first'), null, 'rolled back with the batch');
    assert.equal(await store.getUser(app, 'after'), null, 'not committed on its own');
    // the store goes on: the next batch commits
    await store.createUsers(app, [{ username: 'next', passwordHash: 'h' }]);
    assert.equal((await store.getUser(app, 'next'))?.username, 'next');
    assert.equal((await store.getUser(app, 'before'))?.username, 'before');
    assert.deepEqual(await store.integrityCheck(), []);
  });

  it('refuses to open a database whose schema is newer than the code', () => {
    const path = freshPath();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => open(path), {
      message: `the database schema is version ${SCHEMA_VERSION + 1}, newer than this roomkv knows (${SCHEMA_VERSION})`,
    });
    // and it left the file as it was
    assert.equal(
      peek(path, (d) => d.pragma('user_version', { simple: true })),
      SCHEMA_VERSION + 1,
    );
    assert.deepEqual(peek(path, schemaOf), []);
  });
});

/** The page numbers of the WAL frames written after byte `from` of the file (frame header: page number, big-endian). */
function walPagesSince(path: string, from: number, pageSize: number): number[] {
  const wal = readFileSync(`${path}-wal`);
  const pages: number[] = [];
  for (let at = Math.max(from, 32); at + 24 + pageSize <= wal.length; at += 24 + pageSize) pages.push(wal.readUInt32BE(at));
  return pages;
}

describe('sqlite pages a write changes', () => {
  const opened: SqliteStore[] = [];
  after(async () => {
    for (const s of opened) await s.close();
  });

  /**
   * Runs `call` and names the tables and indexes whose pages its commit wrote to the WAL, read
   * through dbstat by a second connection (the store runs with locking normal to allow it).
   */
  async function touched(path: string, call: () => Promise<unknown>): Promise<string[]> {
    const pageSize = peek(path, (db) => db.pragma('page_size', { simple: true }) as number);
    const before = statSync(`${path}-wal`).size;
    await call();
    const pages = new Set(walPagesSince(path, before, pageSize));
    assert.ok(pages.size > 0, 'the call wrote to the WAL');
    const owners = peek(path, (db) => db.prepare('SELECT name, pageno FROM dbstat').all() as Array<{ name: string; pageno: number }>);
    return [...new Set(owners.filter((o) => pages.has(o.pageno)).map((o) => o.name))].sort();
  }

  it('an owner rewriting its keys writes the attribute and the event pages, not the owner index or the room', async () => {
    const path = freshPath();
    const app = 'p'.repeat(32);
    const store = new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS, locking: 'normal' });
    opened.push(store);
    await store.createUsers(
      app,
      ['alice', 'bob'].map((username) => ({ username, passwordHash: 'h' })),
    );
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['bob'] })).id;
    const set = (user: string, pairs: Array<[string, unknown]>, forced = false) =>
      store.setAttributes({
        appId: app,
        roomId: room,
        user,
        forced,
        autoDelete: 'DELETE',
        pairs,
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });
    await set('alice', [
      ['seat1', 'alice'],
      ['seat2', 'alice'],
    ]);

    // the same size: the app's byte count does not move either
    assert.deepEqual(
      await touched(path, () =>
        set('alice', [
          ['seat1', 'ALICE'],
          ['seat2', 'ALICE'],
        ]),
      ),
      ['attrs', 'events'],
    );
    assert.deepEqual(await touched(path, () => set('alice', [['seat1', 'alice, longer']])), ['app_usage', 'attrs', 'events']);
    // a new owner moves the key in the owner index: that page is written, and the index stays right
    assert.deepEqual(await touched(path, () => set('bob', [['seat2', 'bob!!']], true)), ['attrs', 'attrs_by_owner', 'events']);
    const events = await store.readEvents(app, room, 0, 10);
    assert.deepEqual(
      events.events.map((e) => e.seq),
      [1, 2, 3, 4],
    );
    assert.equal(events.lastSeq, 4);

    await store.removeMembers(app, room, ['bob'], NO_WEBHOOKS);
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { seat1: 'alice, longer' }, "bob's key went with him");
    assert.deepEqual(await store.integrityCheck(), []);
    assert.deepEqual(
      peek(path, (db) => db.pragma('integrity_check', { simple: true })),
      'ok',
    );
  });

  it("numbers a room's events from its newest logged event, across pruning, reopening, and a database of an earlier release", async () => {
    const path = freshPath();
    const app = 'q'.repeat(32);
    // the log keeps only the newest event: the next seq must still follow it
    const tight = { minEvents: 1, minAgeMs: 0 };
    let now = 1_700_000_000_000;
    const clock = () => (now += 1000);
    let store = new SqliteStore({ path, synchronous: 'FULL', eventLog: tight, clock });
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'h' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    const set = (s: SqliteStore, value: string) =>
      s.setAttributes({
        appId: app,
        roomId: room,
        user: 'alice',
        forced: false,
        autoDelete: 'NO_DELETE',
        pairs: [['k', value]],
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });
    for (let i = 1; i <= 130; i++) await set(store, `v${i}`);
    let log = await store.readEvents(app, room, 0, 500);
    assert.ok(log.events.length < 130, 'pruned');
    assert.equal(log.lastSeq, 130);
    assert.equal(log.events.at(-1)?.seq, 130);
    assert.equal((await store.snapshot(app, room))?.seq, 130);
    await store.close();

    store = new SqliteStore({ path, synchronous: 'FULL', eventLog: tight, clock });
    await set(store, 'after reopen');
    assert.equal((await store.readEvents(app, room, 130, 10)).events[0]?.seq, 131);
    await store.close();

    // A file of an earlier release (schema 2), which counted in rooms.seq: a room whose counter is
    // ahead of its log (as such a file may hold) goes on from the counter, never back.
    const old = new Database(path);
    old.prepare('DELETE FROM events WHERE app = ? AND room = ?').run(app, room);
    old.prepare('UPDATE rooms SET seq = 500 WHERE app = ? AND id = ?').run(app, room);
    old.pragma('user_version = 2');
    old.close();
    store = new SqliteStore({ path, synchronous: 'FULL', eventLog: tight, clock });
    assert.equal((store as unknown as { db: Database.Database }).db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'migrated');
    opened.push(store);
    log = await store.readEvents(app, room, 0, 10);
    assert.deepEqual([log.lastSeq, log.events.length, log.exists], [500, 0, true]);
    assert.equal((await store.snapshot(app, room))?.seq, 500);
    await set(store, 'on an old file');
    assert.deepEqual(
      (await store.readEvents(app, room, 0, 10)).events.map((e) => e.seq),
      [501],
    );
    assert.throws(
      () => new SqliteStore({ path: freshPath(), synchronous: 'FULL', eventLog: { minEvents: 0, minAgeMs: 0 } }),
      /minEvents must be at least 1/,
    );
    // an unknown room has no events and no seq
    const none = await store.readEvents(app, '999999999999999', 0, 10);
    assert.deepEqual([none.lastSeq, none.events.length, none.exists], [0, 0, false]);
  });
});

describe('sqlite read cache', () => {
  type Op =
    | { t: 'set'; room: number; user: number; key: number; value: string; forced: boolean; auto: boolean }
    | { t: 'del'; room: number; user: number; key: number; forced: boolean }
    | { t: 'add'; room: number; user: number }
    | { t: 'remove'; room: number; user: number }
    | { t: 'deleteUser'; user: number }
    | { t: 'createUser'; user: number }
    | { t: 'destroy'; room: number }
    | { t: 'get'; room: number; user: number | null; keys: number[] | null };

  const USERS = ['u0', 'u1', 'u2', 'u3'];
  const KEYS = ['a', 'b', 'c', '__proto__'];
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('set' as const),
        room: fc.nat(2),
        user: fc.nat(3),
        key: fc.nat(3),
        value: fc.string({ maxLength: 6 }),
        forced: fc.boolean(),
        auto: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ t: fc.constant('del' as const), room: fc.nat(2), user: fc.nat(3), key: fc.nat(3), forced: fc.boolean() }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('add' as const), room: fc.nat(2), user: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), room: fc.nat(2), user: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('deleteUser' as const), user: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('createUser' as const), user: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('destroy' as const), room: fc.nat(2) }) },
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant('get' as const),
        room: fc.nat(2),
        user: fc.option(fc.nat(3)),
        keys: fc.option(fc.array(fc.nat(3), { maxLength: 3 })),
      }),
    },
  );

  /** What a call answered: its value, or the error it was refused with. */
  async function outcome(p: Promise<unknown>): Promise<unknown> {
    try {
      return {
        ok: JSON.parse(JSON.stringify(await p, (_k, v) => (v instanceof Object && Object.getPrototypeOf(v) === null ? { ...v } : v))),
      };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  /** Runs the same calls on a cached store and on an uncached one; every answer must agree. */
  async function differential(ops: Op[], cacheBytes: number): Promise<void> {
    const app = 'e'.repeat(32);
    const stores = [cacheBytes, 0].map(
      (readCacheBytes) => new SqliteStore({ path: freshPath(), synchronous: 'NORMAL', eventLog: LOG_LIMITS, readCacheBytes }),
    );
    try {
      const roomIds: string[][] = [];
      for (const s of stores) {
        await s.createUsers(
          app,
          USERS.map((username) => ({ username, passwordHash: 'h' })),
        );
        const ids: string[] = [];
        for (let r = 0; r < 3; r++)
          ids.push((await s.createRoom(app, { name: `r${r}`, description: '', owner: 'u0', maxusers: 10, members: ['u1', 'u2'] })).id);
        roomIds.push(ids);
      }
      for (const o of ops) {
        const answers = await Promise.all(
          stores.map((s, i) => {
            const room = 'room' in o ? at(at(roomIds, i), o.room) : '';
            switch (o.t) {
              case 'set':
                return outcome(
                  s.setAttributes({
                    appId: app,
                    roomId: room,
                    user: at(USERS, o.user),
                    forced: o.forced,
                    autoDelete: o.auto ? 'DELETE' : 'NO_DELETE',
                    pairs: [[at(KEYS, o.key), o.value]],
                    limits: DEFAULT_LIMITS,
                    routing: NO_WEBHOOKS,
                  }),
                );
              case 'del':
                return outcome(
                  s.deleteAttributes({
                    appId: app,
                    roomId: room,
                    user: at(USERS, o.user),
                    forced: o.forced,
                    checkMembership: true,
                    keys: [at(KEYS, o.key)],
                    routing: NO_WEBHOOKS,
                  }),
                );
              case 'add':
                return outcome(s.addMembers(app, room, [at(USERS, o.user)]));
              case 'remove':
                return outcome(s.removeMembers(app, room, [at(USERS, o.user)], NO_WEBHOOKS));
              case 'deleteUser':
                return outcome(s.deleteUser(app, at(USERS, o.user), NO_WEBHOOKS).then((u) => u !== null));
              case 'createUser':
                return outcome(s.createUsers(app, [{ username: at(USERS, o.user), passwordHash: 'h' }]).then(() => true));
              case 'destroy':
                return outcome(s.destroyRoom(app, room, NO_WEBHOOKS));
              case 'get':
                return outcome(
                  s.getAttributes(
                    app,
                    room,
                    o.keys === null ? undefined : o.keys.map((k) => at(KEYS, k)),
                    o.user === null ? undefined : at(USERS, o.user),
                  ),
                );
            }
          }),
        );
        assert.deepEqual(answers[0], answers[1], `after ${JSON.stringify(o)}`);
      }
    } finally {
      for (const s of stores) await s.close();
    }
  }

  /** Each write that changes what a get answers, between two gets of the same room. */
  const around = (write: Op, user: number | null, before: Op[] = []): Op[] => [
    ...before,
    { t: 'get', room: 0, user, keys: null },
    write,
    { t: 'get', room: 0, user, keys: null },
  ];
  const examples: Op[][] = [
    around({ t: 'deleteUser', user: 1 }, 1),
    around({ t: 'deleteUser', user: 1 }, null, [{ t: 'set', room: 0, user: 1, key: 0, value: 'v', forced: false, auto: true }]),
    around({ t: 'add', room: 0, user: 3 }, 3),
    around({ t: 'remove', room: 0, user: 1 }, 1),
    around({ t: 'remove', room: 0, user: 1 }, null, [{ t: 'set', room: 0, user: 1, key: 1, value: 'v', forced: false, auto: true }]),
    around({ t: 'destroy', room: 0 }, null),
    around({ t: 'set', room: 0, user: 2, key: 0, value: 'new', forced: true, auto: false }, 2),
    around({ t: 'del', room: 0, user: 2, key: 0, forced: true }, 2, [
      { t: 'set', room: 0, user: 1, key: 0, value: 'v', forced: false, auto: false },
    ]),
  ];

  it('answers every get as the file does, whatever the writes in between (differential, random calls)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => differential(ops, 64 * 1024 * 1024)),
      {
        numRuns: 60,
        examples: examples.map((e) => [e]),
      },
    );
  });

  it('answers the same with a budget too small to keep every room (eviction)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => differential(ops, 3000)),
      { numRuns: 20 },
    );
  });

  it('serves a repeated get from memory, and a write in between is seen at once', async () => {
    const app = 'f'.repeat(32);
    const store = new SqliteStore({ path: freshPath(), synchronous: 'FULL', eventLog: LOG_LIMITS });
    try {
      await store.createUsers(app, [{ username: 'o', passwordHash: 'h' }]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'o', maxusers: 10, members: [] })).id;
      const set = (v: string) =>
        store.setAttributes({
          appId: app,
          roomId: room,
          user: 'o',
          forced: false,
          autoDelete: 'NO_DELETE',
          pairs: [['k', v]],
          limits: DEFAULT_LIMITS,
          routing: NO_WEBHOOKS,
        });
      await set('1');
      assert.equal((await store.getAttributes(app, room, ['k'], 'o')).k, '1');
      // A statement that reads the attributes table would now see a changed value: the cache does not.
      const db = (store as unknown as { db: Database.Database }).db;
      db.prepare('UPDATE attrs SET value = ? WHERE app = ? AND room = ? AND key = ?').run('changed behind its back', app, room, 'k');
      assert.equal((await store.getAttributes(app, room, ['k'], 'o')).k, '1', 'the second get came from the cache');
      await set('2');
      assert.equal((await store.getAttributes(app, room, ['k'], 'o')).k, '2', 'a write drops the room from the cache');
    } finally {
      await store.close();
    }
  });
});

describe('sqlite read cache accounting (RoomCache)', () => {
  it("counts a room's JSON text in its bytes once, and gives them back when the room is dropped", () => {
    const cache = new RoomCache(200_000);
    const key = RoomCache.key('app', 'room');
    const room = cache.put(key, [
      ['__proto__', 'p'],
      ['k', 'v'.repeat(100)],
    ]);
    const before = cache.heldBytes;
    const json = cache.json(key, room);
    assert.deepEqual(JSON.parse(json), JSON.parse('{"__proto__":"p","k":"' + 'v'.repeat(100) + '"}'));
    assert.equal(cache.heldBytes, before + json.length * 2, 'the text counts');
    assert.equal(cache.json(key, room), json, 'made once');
    assert.equal(cache.heldBytes, before + json.length * 2, 'and counted once');
    cache.drop(key);
    assert.equal(cache.heldBytes, 0);
    // a room too big to keep still answers with its text, counting nothing
    const big = new RoomCache(1000);
    const bigRoom = big.put(RoomCache.key('app', 'big'), [['k', 'v'.repeat(200)]]);
    assert.equal(big.size, 0);
    assert.equal(JSON.parse(big.json(RoomCache.key('app', 'big'), bigRoom)).k, 'v'.repeat(200));
    assert.equal(big.heldBytes, 0);
  });

  it('counts membership answers in its budget, caps them per room, and holds nothing once dropped or cleared', () => {
    const cache = new RoomCache(200_000);
    const rows: Array<[string, string]> = [['k', 'v'.repeat(100)]];
    for (let r = 0; r < 20; r++) cache.put(RoomCache.key('app', `room${r}`), rows);
    const afterRooms = cache.heldBytes;
    assert.ok(afterRooms > 0 && afterRooms <= 200_000);
    // 5,000 different members asked about in one room: answers are capped per room and counted
    const key = RoomCache.key('app', 'room19');
    for (let u = 0; u < 5000; u++) cache.noteMember(key, `user-${u}`, u % 2 === 0);
    assert.ok(cache.get(key)!.members.size <= 1024, 'at most 1024 answers per room');
    assert.ok(cache.heldBytes > afterRooms, 'the answers count');
    assert.ok(cache.heldBytes <= 200_000, 'and the budget holds');
    // many rooms full of answers: the oldest rooms go, the budget holds
    for (let r = 20; r < 400; r++) {
      const k = RoomCache.key('app', `room${r}`);
      cache.put(k, rows);
      for (let u = 0; u < 50; u++) cache.noteMember(k, `member-${u}`, true);
      assert.ok(cache.heldBytes <= 200_000, `budget after room ${r}`);
    }
    assert.equal(cache.get(RoomCache.key('app', 'room0')), undefined, 'the first rooms were evicted');
    cache.drop(RoomCache.key('app', 'room399'));
    assert.equal(cache.get(RoomCache.key('app', 'room399')), undefined);
    // dropping every room one by one gives back exactly what was counted
    for (let r = 0; r < 400; r++) cache.drop(RoomCache.key('app', `room${r}`));
    assert.equal(cache.size, 0);
    assert.equal(cache.heldBytes, 0, 'no bytes counted for rooms no longer held');
    cache.put(RoomCache.key('app', 'again'), rows);
    cache.clear();
    assert.equal(cache.heldBytes, 0);
    assert.equal(cache.size, 0);
  });
});
