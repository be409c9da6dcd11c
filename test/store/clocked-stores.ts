import { join } from 'node:path';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { removeTempDir, tempDir } from '../support/apps.js';
import { LOG_LIMITS } from '../support/routing.js';
import type { RedisTestEnv } from '../support/server.js';

type Clock = () => number;

/** An SQLite store on a file of its own, on a test clock; close removes the file. */
export function clockedSqlite(clock: Clock, file: string): { store: SqliteStore; close: () => Promise<void> } {
  const dir = tempDir();
  const store = new SqliteStore({ path: join(dir, file), synchronous: 'NORMAL', eventLog: LOG_LIMITS, clock });
  return {
    store,
    close: async () => {
      await store.close();
      removeTempDir(dir);
    },
  };
}

/** Two Redis store instances on one test prefix and a test clock (two roomkv instances, as far as the store goes). */
export async function clockedRedisPair(env: RedisTestEnv, clock: Clock): Promise<{ store: RedisStore; twin: RedisStore }> {
  const open = async () =>
    new RedisStore({
      client: await connectRedis({
        url: env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
      }),
      prefix: env.ROOMKV_REDIS_PREFIX,
      eventLog: LOG_LIMITS,
      clock,
    });
  return { store: await open(), twin: await open() };
}
