import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { redisEnv } from '../support/server.js';
import { runStoreSuite } from './conformance.js';
import { LOG_LIMITS } from '../support/routing.js';

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`store conformance [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  runStoreSuite(
    kind,
    async () => {
      const client = await connectRedis({
        url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
      });
      return new RedisStore({ client, prefix: found.env.ROOMKV_REDIS_PREFIX, eventLog: LOG_LIMITS });
    },
    {
      // The attribute's meta entry (owner, autoDelete flag, size) goes; its value and autoDelete set stay.
      async breakAttribute(store, appId, roomId, key) {
        const { r } = store as unknown as { r: Redis };
        assert.equal(await r.hdel(`${found.env.ROOMKV_REDIS_PREFIX}{${appId}:${roomId}}:meta`, key), 1);
      },
    },
  );
}
