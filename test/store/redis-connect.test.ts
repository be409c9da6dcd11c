import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { COMMANDS_PER_WRITE, connectRedis } from '../../src/store/redis/connect.js';
import type { RedisClient } from '../../src/store/redis/redis-store.js';
import { redisEnv } from '../support/server.js';

/** Counts the socket writes (each a system call) a connection makes from now on. */
function countWrites(redis: Redis): () => number {
  const socket = redis.stream as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
  let writes = 0;
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...a) => {
    writes++;
    return write(...a);
  };
  socket._writev = (...a) => {
    writes++;
    return writev(...a);
  };
  return () => writes;
}

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`Redis connection [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  describe(`Redis connection [${kind}]`, () => {
    const prefix = found.env.ROOMKV_REDIS_PREFIX;
    let client: RedisClient;
    after(() => client?.disconnect());

    it('the commands of one event-loop turn leave in a write per COMMANDS_PER_WRITE, in order, each with its own reply', async () => {
      client = await connectRedis({
        url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
      });
      // One slot, so on a cluster every command goes to the same node's connection.
      const key = (i: number) => `${prefix}{conn}:${i}`;
      await client.set(key(0), 'warm');
      const target = 'nodes' in client ? await findNodeOf(client, key(0)) : (client as Redis);
      const writes = countWrites(target);
      assert.equal(COMMANDS_PER_WRITE, 4);
      const sets = Array.from({ length: 50 }, (_, i) => client.set(key(i), `v${i}`));
      const gets = Array.from({ length: 50 }, (_, i) => client.get(key(i)));
      await Promise.all(sets);
      assert.deepEqual(
        await Promise.all(gets),
        Array.from({ length: 50 }, (_, i) => `v${i}`),
      );
      assert.equal(writes(), 25, '100 commands of one turn, a write per 4');
      // Fewer than COMMANDS_PER_WRITE in one turn: one write at the end of the turn.
      assert.deepEqual(await Promise.all([client.get(key(1)), client.get(key(2)), client.get(key(3))]), ['v1', 'v2', 'v3']);
      assert.equal(writes(), 26);
      // Commands of later turns go in writes of their own.
      for (let i = 0; i < 3; i++) assert.equal(await client.get(key(i)), `v${i}`);
      assert.equal(writes(), 29);
    });
  });
}

/** The connection of the cluster node that serves `key`. */
async function findNodeOf(client: RedisClient, key: string): Promise<Redis> {
  const nodes = (client as unknown as { nodes(role: string): Redis[] }).nodes('master');
  for (const n of nodes) {
    try {
      await n.get(key);
      return n;
    } catch {
      // MOVED: another node's slot
    }
  }
  throw new Error(`no node serves ${key}`);
}
