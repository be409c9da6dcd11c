import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './redis-store.js';

export interface RedisConnectOptions {
  url: string;
  clusterNodes?: string;
  commandTimeoutMs: number;
}

/**
 * A client that fails fast instead of queueing: with Redis gone, a call answers 503 at once (no
 * offline queue, one try per command, a command timeout), while the client keeps reconnecting in
 * the background so the service recovers by itself.
 */
export async function connectRedis(options: RedisConnectOptions): Promise<RedisClient> {
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs),
    retryStrategy: (times) => Math.min(50 * times, 1000),
  };
  let client: RedisClient;
  if (options.clusterNodes !== undefined) {
    const nodes = options.clusterNodes.split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
    client = new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: common,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      slotsRefreshTimeout: Math.max(1000, options.commandTimeoutMs),
    });
  } else {
    client = new Redis(options.url, common);
  }
  // Errors surface on commands as 503s; without a listener ioredis would print each reconnect.
  client.on('error', () => {});
  const where = options.clusterNodes ?? options.url;
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new Error(`cannot reach Redis at ${where}: ${(err as Error).message}`);
  }
  return client;
}
