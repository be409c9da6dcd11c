import assert from 'node:assert/strict';
import type Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { RoomCache } from '../../src/store/sqlite/room-cache.js';
import { SqliteThreadedStore } from '../../src/store/sqlite/threaded-store.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';
import { freshPath } from './sqlite-support.js';

// The SQLite store's read cache: the same answers as the file (differential, with and without
// eviction), and the byte accounting of RoomCache.

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
  async function differential(ops: Op[], cacheBytes: number, threaded = false): Promise<void> {
    const app = 'e'.repeat(32);
    const open = (readCacheBytes: number) =>
      new SqliteStore({ path: freshPath(), synchronous: 'NORMAL', eventLog: LOG_LIMITS, readCacheBytes });
    // threaded: the cached store is the server's default, its reads (and cache) on this thread.
    const stores = [
      threaded
        ? await SqliteThreadedStore.open({ path: freshPath(), synchronous: 'NORMAL', eventLog: LOG_LIMITS, readCacheBytes: cacheBytes })
        : open(cacheBytes),
      open(0),
    ];
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

  it('answers every get as the file does on the threaded store, whose cache hits run no statement (differential)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => differential(ops, 64 * 1024 * 1024, true)),
      { numRuns: 15, examples: examples.map((e) => [e]) },
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
