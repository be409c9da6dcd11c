import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { dropPrefix, redisEnv } from '../support/server.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';

/**
 * Counters on the Redis write path (spec section 10, `increment`): many members adding to one key
 * at once lose no increment, and a hot counter causes no storm of replans. Increments of a room
 * go one after another on an instance, so through one instance no call plans twice; through two
 * instances a call plans again only when the other instance wrote in between, so replans stay
 * under the number of calls.
 */
const MEMBERS = 50;

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`counters on the write path [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  const url = found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const clusterNodes = found.env.ROOMKV_REDIS_CLUSTER_NODES;
  const where = clusterNodes !== undefined ? { url, clusterNodes } : { url };
  const open = async (prefix: string) =>
    new RedisStore({ client: await connectRedis({ ...where, commandTimeoutMs: 5000 }), prefix, eventLog: LOG_LIMITS });
  const app = 'test#counters';
  const names = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);

  async function roomWith(store: RedisStore): Promise<string> {
    await store.createUsers(
      app,
      names.map((username) => ({ username, passwordHash: 'x' })),
    );
    const room = await store.createRoom(app, { name: 'hot', description: '', owner: names[0]!, maxusers: 1000, members: names.slice(1) });
    return room.id;
  }
  const increment = (store: RedisStore, roomId: string, user: string) =>
    store.setAttributes({
      appId: app,
      roomId,
      user,
      forced: true,
      autoDelete: 'NO_DELETE',
      pairs: [['hot', 1]],
      increment: {},
      limits: DEFAULT_LIMITS,
      routing: NO_WEBHOOKS,
    });
  const replans = (s: RedisStore) => (s as unknown as { writes: { stats: { replans: number } } }).writes.stats.replans;

  describe(`counters on the write path [${kind}]`, () => {
    it(`${MEMBERS} members adding to one counter at once through one instance: every increment counted, no replan`, async () => {
      const prefix = `${found.env.ROOMKV_REDIS_PREFIX}ctr1:`;
      const store = await open(prefix);
      try {
        const roomId = await roomWith(store);
        const out = await Promise.all(names.map((u) => increment(store, roomId, u)));
        const values = out.map((o) => Number(o.values?.hot)).sort((a, b) => a - b);
        assert.deepEqual(
          values,
          Array.from({ length: MEMBERS }, (_, i) => i + 1),
        );
        assert.deepEqual({ ...(await store.getAttributes(app, roomId, ['hot'])) }, { hot: String(MEMBERS) });
        assert.equal(replans(store), 0);
      } finally {
        await store.close();
        await dropPrefix(prefix, where);
      }
    });

    it(`${MEMBERS} members through two instances: every increment counted, replans under the number of calls`, async () => {
      const prefix = `${found.env.ROOMKV_REDIS_PREFIX}ctr2:`;
      const [a, b] = [await open(prefix), await open(prefix)];
      try {
        const roomId = await roomWith(a);
        const out = await Promise.all(names.map((u, i) => increment(i % 2 === 0 ? a : b, roomId, u)));
        const values = out.map((o) => Number(o.values?.hot)).sort((x, y) => x - y);
        assert.deepEqual(
          values,
          Array.from({ length: MEMBERS }, (_, i) => i + 1),
        );
        assert.deepEqual({ ...(await a.getAttributes(app, roomId, ['hot'])) }, { hot: String(MEMBERS) });
        assert.ok(replans(a) + replans(b) < MEMBERS, `replans ${replans(a) + replans(b)}`);
      } finally {
        await a.close();
        await b.close();
        await dropPrefix(prefix, where);
      }
    });
  });
}
