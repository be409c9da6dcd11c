import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { runStoreSuite } from './conformance.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { freshPath, open, peek } from './sqlite-support.js';

// The store conformance suite on SQLite, and what only the SQLite store does with its file. The
// pages a write changes: sqlite-write-pages.test.ts; the read cache: sqlite-read-cache.test.ts.

runStoreSuite('sqlite', () => open(freshPath()), {
  // An attrs row's recorded size, through the store's own connection (it holds the file).
  async breakAttribute(store, appId, roomId, key) {
    const { db } = store as unknown as { db: Database.Database };
    const { changes } = db.prepare('UPDATE attrs SET bytes = bytes + 1 WHERE app = ? AND room = ? AND key = ?').run(appId, roomId, key);
    assert.equal(changes, 1);
  },
});

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
