import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '../../src/store/redis/connect.js';
import type { RedisClient } from '../../src/store/redis/redis-store.js';
import { RateLimiter, leaseSize, redisLimiter } from '../../src/http/rate-limit.js';
import type { AppRecord } from '../../src/config/apps.js';
import { redisEnv } from '../support/server.js';
import { at } from '../support/at.js';

/** The shared rate limit on Redis: leases of points per instance, never more than the budget per window. */

function appWithBudget(rateLimitPerSecond: number): AppRecord {
  const appId = `rl${Math.random().toString(36).slice(2, 10)}`;
  return { appId, limits: { rateLimitPerSecond } } as unknown as AppRecord;
}

/** Runs `n` consumes at once; how many passed, and the errors of the others by status. */
async function burst(limiter: RateLimiter, app: AppRecord, n: number): Promise<{ passed: number; statuses: number[] }> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => limiter.consume(app)));
  return {
    passed: results.filter((r) => r.status === 'fulfilled').length,
    statuses: results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { status: number }).status] : [])),
  };
}

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`shared rate limit [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  describe(`shared rate limit [${kind}]`, () => {
    const prefix = found.env.ROOMKV_REDIS_PREFIX;
    /** One client per roomkv instance. */
    const clients: RedisClient[] = [];
    const connect = async () => {
      const client = await connectRedis({
        url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
      });
      clients.push(client);
      return client;
    };
    let instances: RateLimiter[];
    let admin: RedisClient;
    before(async () => {
      instances = await Promise.all([0, 1, 2].map(async () => new RateLimiter(redisLimiter(await connect(), prefix))));
      admin = await connect();
    });
    after(() => {
      for (const c of clients) c.disconnect();
    });

    it('three instances in a burst of 3,000 calls get the budget of 1,000 between them, less at most one lease each', async () => {
      const app = appWithBudget(1000);
      const started = Date.now();
      const results = await Promise.all(instances.map((limiter) => burst(limiter, app, 1000)));
      const elapsed = Date.now() - started;
      const passed = results.reduce((sum, r) => sum + r.passed, 0);
      for (const r of results) for (const status of r.statuses) assert.equal(status, 429);
      assert.ok(elapsed < 900, `the burst took ${elapsed} ms, more than one window`);
      assert.ok(passed <= 1000, `${passed} passed in one window of 1,000`);
      assert.ok(passed >= 1000 - 3 * leaseSize(1000), `${passed} passed: more was lost to unspent leases than one lease per instance`);
    });

    it('an instance takes 1% of a large budget at once: 1,500 calls cost Redis 2 leases, not 1,500 counts', async () => {
      const app = appWithBudget(100_000);
      const key = `${prefix}rl:${app.appId}`;
      for (let i = 0; i < 500; i++) await at(instances, 0).consume(app);
      assert.equal(await admin.get(key), '1000');
      for (let i = 0; i < 1000; i++) await at(instances, 0).consume(app);
      assert.equal(await admin.get(key), '2000');
    });

    it('at the default budget (100) every call is counted in Redis, and a spent window is refused without asking Redis again', async () => {
      const app = appWithBudget(100);
      const key = `${prefix}rl:${app.appId}`;
      assert.equal(leaseSize(100), 1);
      for (let i = 0; i < 40; i++) await at(instances, i % 2).consume(app);
      assert.equal(await admin.get(key), '40');
      const rest = await burst(at(instances, 1), app, 100);
      assert.equal(rest.passed, 60);
      // The window is spent; with its counter gone, an instance that saw it spent still refuses
      // (it remembers until the window ends) ...
      await admin.del(key);
      await assert.rejects(
        at(instances, 1).consume(app),
        (err: { status: number; error: string }) => err.status === 429 && err.error === 'reach_limit',
      );
      assert.equal(await admin.get(key), null, 'the refusal did not reach Redis');
      // ... and passes again once it has.
      await new Promise((r) => setTimeout(r, 1000));
      await at(instances, 1).consume(app);
      assert.equal(await admin.get(key), '1');
    });

    it('a Redis that cannot be reached makes calls fail as store unavailable (503), not pass unlimited', async () => {
      const client = await connect();
      const limiter = new RateLimiter(redisLimiter(client, prefix));
      const app = appWithBudget(1000);
      await limiter.consume(app);
      client.disconnect();
      // The lease taken while Redis answered is still this instance's to spend (10 points) ...
      for (let i = 1; i < leaseSize(1000); i++) await limiter.consume(app);
      // ... after which every call needs Redis.
      await assert.rejects(limiter.consume(app), (err: { status: number; error: string }) => err.status === 503);
    });
  });
}
