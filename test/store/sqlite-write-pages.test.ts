import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync, statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { freshPath, peek } from './sqlite-support.js';

// The SQLite store's writes at the page level (which tables and indexes a commit writes to the WAL),
// and the numbering of a room's events across pruning, reopening and an older file.

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
    // What the steps after schema 2 added, taken out again: this file is as that release left it.
    old.exec('ALTER TABLE attrs DROP COLUMN revision; DROP TABLE IF EXISTS presence; DROP INDEX IF EXISTS rooms_in_id_order;');
    old.exec('DROP INDEX attrs_expiry; ALTER TABLE attrs DROP COLUMN expires_at;');
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
