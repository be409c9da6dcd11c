import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './redis-store.js';

export interface RedisConnectOptions {
  url: string;
  clusterNodes?: string;
  commandTimeoutMs: number;
  /** CLIENT SETNAME of every connection, the live feed's too (what CLIENT LIST shows). */
  connectionName?: string;
}

/** The live feed is sharded pub/sub (SPUBLISH, SSUBSCRIBE), which came with Redis 7.0. */
const MIN_REDIS_MAJOR = 7;

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
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
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
    client.on('+node', (node: Redis) => coalesceWrites(node));
  } else {
    client = new Redis(options.url, common);
    coalesceWrites(client);
  }
  // Errors surface on commands as 503s; without a listener ioredis would print each reconnect.
  client.on('error', () => {});
  const where = options.clusterNodes ?? options.url;
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new Error(`cannot reach Redis at ${where}: ${(err as Error).message}`, { cause: err });
  }
  // A server that will not answer INFO (an ACL without it) is let through: its first write then fails, naming SPUBLISH.
  const version = /redis_version:(\d+)\.(\S+)/.exec(await client.info('server').catch(() => ''));
  if (version !== null && Number(version[1]) < MIN_REDIS_MAJOR) {
    client.disconnect();
    throw new Error(
      `Redis at ${where} is version ${version[1]}.${version[2]}: roomkv needs Redis ${MIN_REDIS_MAJOR}.0 or newer (sharded pub/sub)`,
    );
  }
  return client;
}

/**
 * The commands a connection is given during one turn of the event loop leave in few socket writes:
 * the socket is corked at the first, and uncorked after every COMMANDS_PER_WRITE commands and at
 * the end of the turn's I/O phase (setImmediate). On a busy server the calls of one turn share
 * writes, and so wake-ups of Redis: on the 2-core benchmark machine each write of a command cost
 * more CPU than the rest of the call. The writes within a turn let Redis start on the first calls
 * while roomkv still reads the next requests, instead of both taking turns to wait for the other.
 * Order and replies are unchanged: each command is still written, in order, before its reply is
 * awaited.
 */
export const COMMANDS_PER_WRITE = 4;

function coalesceWrites(redis: Redis): void {
  const send = redis.sendCommand.bind(redis);
  // The socket corked in this turn (after a reconnect, redis.stream may be another one).
  let corked: typeof redis.stream | null = null;
  let queued = 0;
  redis.sendCommand = (command, stream) => {
    const socket = redis.stream;
    if (corked === null && stream === undefined && socket !== undefined && socket !== null) {
      corked = socket;
      queued = 0;
      socket.cork();
      setImmediate(() => {
        corked = null;
        socket.uncork();
      });
    }
    const sent = send(command, stream);
    if (corked !== null && ++queued === COMMANDS_PER_WRITE) {
      queued = 0;
      corked.uncork();
      corked.cork();
    }
    return sent;
  };
}
