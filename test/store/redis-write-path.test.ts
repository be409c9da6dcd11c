import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { AutoDelete } from '../../src/domain/attributes.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { redisEnv } from '../support/server.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { waitFor } from '../support/wait.js';
import { ownRedisSkip, startOwnRedis } from '../ops/support.js';
import { at } from '../support/at.js';
import { recordingClient } from '../support/recording-redis.js';

/**
 * The one write path (src/store/redis/attribute-writes.ts): a call is planned from what the
 * instance last saw of the room and applied by a script only while the plan's preconditions hold:
 * one command per call when the view is current, one replan when it is not. On a single Redis the
 * app's usage counter is checked in the script too, so the byte quota holds exactly under
 * concurrent calls. (On a cluster the counter is in another slot; the conformance suite covers it.)
 */
const found = redisEnv('redis');
if ('missing' in found) {
  describe('the attribute write path [redis]', { skip: found.missing }, () => {});
} else {
  describe('the attribute write path [redis]', () => {
    let client: Redis;
    let store: RedisStore;
    const sent: string[] = [];
    const prefix = `${found.env.ROOMKV_REDIS_PREFIX}planned:${randomUUID()}:`;

    before(async () => {
      client = await recordingClient(found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379', sent);
      store = new RedisStore({ client, prefix, eventLog: LOG_LIMITS });
    });
    after(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await store.close();
    });

    async function roomsOf(app: string, n: number): Promise<Array<{ room: string; user: string }>> {
      const names = Array.from({ length: n }, (_, i) => `u${i}`);
      await store.createUsers(
        app,
        names.map((username) => ({ username, passwordHash: 'x' })),
      );
      return Promise.all(
        names.map(async (user) => ({
          room: (await store.createRoom(app, { name: 'r', description: '', owner: user, maxusers: 10, members: [] })).id,
          user,
        })),
      );
    }

    const set = (
      app: string,
      room: string,
      user: string,
      pairs: Record<string, string>,
      opts: { forced?: boolean; limits?: Limits; ttl?: Record<string, number>; autoDelete?: AutoDelete } = {},
    ) =>
      store.setAttributes({
        appId: app,
        roomId: room,
        user,
        forced: opts.forced ?? false,
        autoDelete: opts.autoDelete ?? 'DELETE',
        pairs: Object.entries(pairs),
        limits: opts.limits ?? DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
        ...(opts.ttl ? { ttl: opts.ttl } : {}),
      });

    /** A new app with users alice and bob, and a room alice owns with bob in it. */
    async function aliceAndBob(): Promise<{ app: string; room: string }> {
      const app = randomUUID().replaceAll('-', '');
      await store.createUsers(app, [
        { username: 'alice', passwordHash: 'x' },
        { username: 'bob', passwordHash: 'x' },
      ]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['bob'] })).id;
      return { app, room };
    }

    /** A member's own delete, with the membership check. */
    const del = (app: string, room: string, user: string, keys: string[]) =>
      store.deleteAttributes({ appId: app, roomId: room, user, forced: false, checkMembership: true, keys, routing: NO_WEBHOOKS });

    it('a set, a forced set and a delete are each one command to Redis', async () => {
      const { app, room } = await aliceAndBob();
      const user = 'alice';
      // The first calls load the scripts (NOSCRIPT, then EVAL): count the calls after them.
      await set(app, room, user, { warm: '1' });
      await del(app, room, user, ['warm']);
      sent.length = 0;
      assert.deepEqual((await set(app, room, user, { a: '1', b: '2' })).successKeys, ['a', 'b']);
      assert.deepEqual(sent, ['evalsha']);
      sent.length = 0;
      assert.deepEqual((await set(app, room, 'bob', { a: '3' }, { forced: true })).successKeys, ['a']);
      assert.deepEqual(sent, ['evalsha']);
      sent.length = 0;
      const removed = await del(app, room, user, ['a', 'b']);
      assert.deepEqual(removed.successKeys, ['b']);
      assert.deepEqual({ ...removed.errorKeys }, { a: { code: 'not_yours' } });
      assert.deepEqual(sent, ['evalsha']);
    });

    it('keys written by this instance, with and without a ttl, by their owner or forced by another, are written again with no call planned blind', async () => {
      // Each write notes the key's entry as the script stored it; a note that differs from it in
      // any part (owner, autoDelete, bytes, revision, expiry) makes the next call plan again.
      const { app, room } = await aliceAndBob();
      await set(app, room, 'alice', { warm: '1' });
      const before = store.writes.stats.replans;
      await set(app, room, 'alice', { a: '1', b: '22' }, { ttl: { a: 60 } });
      await set(app, room, 'alice', { a: '333', b: '4' }, { autoDelete: 'NO_DELETE' });
      await set(app, room, 'bob', { a: '5' }, { forced: true, ttl: { a: 120 } });
      await set(app, room, 'bob', { a: '66', b: '7' }, { forced: true });
      await set(app, room, 'bob', { b: '8' }, { ttl: { b: 30 } });
      assert.deepEqual((await del(app, room, 'bob', ['a', 'b'])).successKeys, ['a', 'b']);
      await set(app, room, 'alice', { a: '9' });
      assert.equal(store.writes.stats.replans - before, 0, 'no call planned blind');
    });

    it("a working set of the benchmark's size (400 rooms x 300 keys, written through this instance) is written again in one command a call", async () => {
      const app = randomUUID().replaceAll('-', '');
      const rooms = await roomsOf(app, 400);
      const limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: 300, maxBatchSize: 100 };
      for (const { room, user } of rooms)
        for (let b = 0; b < 3; b++) {
          const pairs = Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`k${b * 100 + k}`, 'v']));
          assert.equal((await set(app, room, user, pairs, { limits })).successKeys.length, 100);
        }
      // Each room again, the first written first: what the instance saw of it is still there.
      const before = store.writes.stats.replans;
      sent.length = 0;
      for (const { room, user } of rooms) assert.deepEqual((await del(app, room, user, ['k7'])).successKeys, ['k7']);
      assert.equal(store.writes.stats.replans - before, 0, 'no call planned blind');
      assert.equal(sent.length, rooms.length);
    });

    it('a room of 1,000 keys (an app may allow up to 1,000,000), written through this instance, is written again with no call planned blind', async () => {
      const app = randomUUID().replaceAll('-', '');
      const { room, user } = at(await roomsOf(app, 1), 0);
      const limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: 1000, maxBatchSize: 100 };
      for (let b = 0; b < 10; b++) {
        const pairs = Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`k${b * 100 + k}`, 'v']));
        assert.equal((await set(app, room, user, pairs, { limits })).successKeys.length, 100);
      }
      const before = store.writes.stats.replans;
      for (let k = 0; k < 1000; k += 7) assert.deepEqual((await del(app, room, user, [`k${k}`])).successKeys, [`k${k}`]);
      assert.equal(store.writes.stats.replans - before, 0, 'no call planned blind');
    });

    it('a plan made from a stale view is not applied: the script answers the room as it is, and the call is planned again', async () => {
      const { app, room } = await aliceAndBob();
      assert.deepEqual((await set(app, room, 'alice', { seat: 'alice' })).successKeys, ['seat']);
      // A second instance has never seen the room: it plans bob's claim as if the seat were free.
      const other = new RedisStore({
        client: await connectRedis({ url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2000 }),
        prefix,
        eventLog: LOG_LIMITS,
      });
      try {
        const base = `${prefix}{${app}:${room}}`;
        const seqBefore = await client.hget(`${base}:room`, 'seq');
        const out = await other.setAttributes({
          appId: app,
          roomId: room,
          user: 'bob',
          forced: false,
          autoDelete: 'DELETE',
          pairs: [['seat', 'bob']],
          limits: DEFAULT_LIMITS,
          routing: NO_WEBHOOKS,
        });
        assert.deepEqual(
          { successKeys: out.successKeys, errorKeys: { ...out.errorKeys } },
          { successKeys: [], errorKeys: { seat: { code: 'not_yours' } } },
        );
        assert.deepEqual(other.writes.stats, { calls: 1, replans: 1 });
        assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { seat: 'alice' });
        assert.equal(await client.hget(`${base}:room`, 'seq'), seqBefore, 'no event');
        // Its view is current now: the next call is one round trip.
        await other.setAttributes({
          appId: app,
          roomId: room,
          user: 'bob',
          forced: false,
          autoDelete: 'DELETE',
          pairs: [['seat', 'bob']],
          limits: DEFAULT_LIMITS,
          routing: NO_WEBHOOKS,
        });
        assert.deepEqual(other.writes.stats, { calls: 2, replans: 1 });
      } finally {
        await other.close();
      }
    });

    it('50 members claiming one new key at once: one owner, and each other member plans at most once more', async () => {
      const app = randomUUID().replaceAll('-', '');
      const names = Array.from({ length: 50 }, (_, i) => `m${i}`);
      await store.createUsers(
        app,
        names.map((username) => ({ username, passwordHash: 'x' })),
      );
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'm0', maxusers: 100, members: names })).id;
      const before = { ...store.writes.stats };
      const results = await Promise.all(names.map((user) => set(app, room, user, { hot: user })));
      const winners = names.filter((_, i) => at(results, i).successKeys.length === 1);
      assert.equal(winners.length, 1);
      assert.ok(results.every((r) => r.successKeys.length === 1 || r.errorKeys.hot?.code === 'not_yours'));
      assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { hot: winners[0] });
      assert.equal(store.writes.stats.calls - before.calls, 50);
      assert.ok(store.writes.stats.replans - before.replans <= 49, `replans: ${store.writes.stats.replans - before.replans}`);
    });

    it('the byte quota holds exactly when calls in many rooms of one app race for its last bytes', async () => {
      const app = randomUUID().replaceAll('-', '');
      const rooms = await roomsOf(app, 40);
      // 40 calls at once, each in its own room, each adding 10 bytes against a quota of 100.
      const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: 100 };
      const results = await Promise.all(rooms.map(({ room, user }) => set(app, room, user, { k: '123456789' }, { limits })));
      assert.equal(results.filter((r) => r.successKeys.length === 1).length, 10);
      assert.equal(results.filter((r) => r.errorKeys.k?.code === 'app_quota').length, 30);
      let stored = 0;
      for (const { room } of rooms) {
        for (const a of await store.listAttributes(app, room)) stored += Buffer.byteLength(a.key) + Buffer.byteLength(a.value);
      }
      assert.equal(stored, 100);
      assert.equal(await client.get(`${prefix}{${app}}:usage`), '100');
    });
  });
}

describe('writes on a server in cluster mode reached by a plain URL', { skip: ownRedisSkip() }, () => {
  let child: ChildProcess;
  let client: Redis;
  let store: RedisStore;
  const sent: string[] = [];

  before(async () => {
    // One node holding every slot: a plain client reaches all keys, but scripts must stay in one slot.
    const own = await startOwnRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']);
    child = own.child;
    const cli = (...args: string[]) => spawnSync('redis-cli', ['-p', String(own.port), ...args], { encoding: 'utf8' }).stdout ?? '';
    assert.match(cli('cluster', 'addslotsrange', '0', '16383'), /OK/);
    await waitFor('the one-node cluster', () => cli('cluster', 'info').includes('cluster_state:ok'), 10_000);
    client = await recordingClient(`redis://127.0.0.1:${own.port}`, sent);
    store = new RedisStore({ client, prefix: 'rk:', eventLog: LOG_LIMITS });
  });
  after(async () => {
    await store?.close();
    child?.kill();
  });

  it('a set and a delete keep each script in one slot (the usage counter moves beside it) and succeed', async () => {
    const app = randomUUID().replaceAll('-', '');
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'x' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    sent.length = 0;
    const set = await store.setAttributes({
      appId: app,
      roomId: room,
      user: 'alice',
      forced: false,
      autoDelete: 'DELETE',
      pairs: [
        ['a', '1'],
        ['b', '22'],
      ],
      limits: DEFAULT_LIMITS,
      routing: NO_WEBHOOKS,
    });
    assert.deepEqual(set.successKeys, ['a', 'b']);
    assert.equal(sent[0], 'info');
    assert.ok(sent.includes('incrby'), `the usage counter moves outside the room's script: ${sent.join(' ')}`);
    const removed = await store.deleteAttributes({
      appId: app,
      roomId: room,
      user: 'alice',
      forced: false,
      checkMembership: true,
      keys: ['a'],
      routing: NO_WEBHOOKS,
    });
    assert.deepEqual(removed.successKeys, ['a']);
    assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { b: '22' });
    assert.equal(await client.get(`rk:{${app}}:usage`), '3');
    assert.equal(sent.filter((c) => c === 'info').length, 1, 'the server is asked once');
  });

  it('the byte quota holds exactly when calls in many rooms race for its last bytes (the usage is reserved first)', async () => {
    const app = randomUUID().replaceAll('-', '');
    const names = Array.from({ length: 40 }, (_, i) => `u${i}`);
    await store.createUsers(
      app,
      names.map((username) => ({ username, passwordHash: 'x' })),
    );
    const rooms = await Promise.all(
      names.map(async (user) => ({
        user,
        room: (await store.createRoom(app, { name: 'r', description: '', owner: user, maxusers: 10, members: [] })).id,
      })),
    );
    const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: 100 };
    const results = await Promise.all(
      rooms.map(({ room, user }) =>
        store.setAttributes({
          appId: app,
          roomId: room,
          user,
          forced: false,
          autoDelete: 'DELETE',
          pairs: [['k', '123456789']],
          limits,
          routing: NO_WEBHOOKS,
        }),
      ),
    );
    assert.equal(results.filter((r) => r.successKeys.length === 1).length, 10);
    assert.equal(results.filter((r) => r.errorKeys.k?.code === 'app_quota').length, 30);
    assert.equal(await client.get(`rk:{${app}}:usage`), '100');
  });
});

describe('scripts Redis does not have (a new or flushed server)', { skip: ownRedisSkip() }, () => {
  let child: ChildProcess;
  let client: Redis;
  let store: RedisStore;
  const sent: string[] = [];

  before(async () => {
    const own = await startOwnRedis();
    child = own.child;
    client = await recordingClient(`redis://127.0.0.1:${own.port}`, sent);
    store = new RedisStore({ client, prefix: 'rk:', eventLog: LOG_LIMITS });
  });
  after(async () => {
    await store?.close();
    child?.kill();
  });

  it('are sent with their text once Redis answers NOSCRIPT, and the calls answer as usual', async () => {
    const app = randomUUID().replaceAll('-', '');
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'x' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    const setCall = (pairs: Array<[string, string]>) =>
      store.setAttributes({
        appId: app,
        roomId: room,
        user: 'alice',
        forced: false,
        autoDelete: 'DELETE',
        pairs,
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });
    for (const round of [1, 2]) {
      // Round 1 runs on a server that has never seen the scripts; round 2 after they are flushed.
      if (round === 2) assert.equal(await client.script('FLUSH'), 'OK');
      sent.length = 0;
      assert.deepEqual((await setCall([['a', `v${round}`]])).successKeys, ['a']);
      assert.deepEqual({ ...(await store.getAttributes(app, room, ['a'])) }, { a: `v${round}` });
      assert.deepEqual(
        sent.filter((c) => c !== 'info'),
        ['evalsha', 'eval', 'evalsha', 'eval'],
        `round ${round}: ${sent.join(' ')}`,
      );
      // Loaded now: one EVALSHA each.
      sent.length = 0;
      assert.deepEqual((await setCall([['b', `w${round}`]])).successKeys, ['b']);
      assert.deepEqual({ ...(await store.getAttributes(app, room, undefined)) }, { a: `v${round}`, b: `w${round}` });
      assert.deepEqual(sent, ['evalsha', 'evalsha'], `round ${round}`);
    }
  });

  it('an error other than NOSCRIPT is not retried', async () => {
    const app = randomUUID().replaceAll('-', '');
    await store.createUsers(app, [{ username: 'alice', passwordHash: 'x' }]);
    const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    // A meta key of the wrong type: the script fails at its first check, before it writes.
    await client.set(`rk:{${app}:${room}}:meta`, 'garbage');
    sent.length = 0;
    await assert.rejects(
      store.setAttributes({
        appId: app,
        roomId: room,
        user: 'alice',
        forced: false,
        autoDelete: 'DELETE',
        pairs: [['a', '1']],
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      }),
      (err: { status?: number }) => err.status === 503,
    );
    assert.deepEqual(
      sent.filter((c) => c !== 'info'),
      ['evalsha'],
      sent.join(' '),
    );
  });
});
