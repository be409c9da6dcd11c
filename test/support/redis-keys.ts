import type { Cluster, Redis } from 'ioredis';
import { connectRedis } from '../../src/store/redis/connect.js';
import type { Target } from './server.js';

async function keysOf(node: Redis, match: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/**
 * Deletes every key a test made under the target's Redis prefix for the given App IDs (the
 * store's keys and the login counters both name the app). Nothing to do for SQLite.
 */
export async function dropAppKeys(target: Target, appIds: string[]): Promise<number> {
  const env = target.env();
  if (env.ROOMKV_STORE !== 'redis') return 0;
  const client = await connectRedis({
    url: env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
    clusterNodes: env.ROOMKV_REDIS_CLUSTER_NODES,
    commandTimeoutMs: 5000,
  });
  try {
    const nodes = env.ROOMKV_REDIS_CLUSTER_NODES !== undefined ? (client as Cluster).nodes('master') : [client as Redis];
    let dropped = 0;
    for (const node of nodes) {
      const mine = (await keysOf(node, `${env.ROOMKV_REDIS_PREFIX}*`)).filter((k) => appIds.some((id) => k.includes(id)));
      // One at a time: in a cluster, keys of different slots cannot share a command.
      for (const key of mine) dropped += await client.del(key);
    }
    return dropped;
  } finally {
    client.disconnect();
  }
}
