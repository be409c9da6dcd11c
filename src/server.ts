import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { AppRegistry, loadAppsFile, loadOrCreateDemoApp, type AppRecord } from './config/apps.js';
import type { Config } from './config/config.js';
import { buildApp } from './http/app.js';
import { redactUrl } from './http/redact.js';
import { Metrics } from './http/metrics.js';
import { OpenStreams } from './http/routes/events.js';
import { WebhookDispatcher } from './events/webhooks.js';
import { memoryLimiter, RateLimiter, redisLimiter } from './http/rate-limit.js';
import { memoryLoginCounters, redisLoginCounters, type LoginCounters } from './auth/login-guard.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import { SqliteThreadedStore } from './store/sqlite/threaded-store.js';
import { connectRedis } from './store/redis/connect.js';
import { RedisStore } from './store/redis/redis-store.js';
import type { Store } from './store/types.js';
import type { EventLogLimits } from './store/event-log.js';

export interface RunningServer {
  app: FastifyInstance;
  store: Store;
  apps: AppRegistry;
  /** Set when the development app is in use (no apps file). */
  demo?: { app: AppRecord; created: boolean };
  url: string;
  /** Drains for `drainMs` (answers say Connection: close, /readyz 503), then closes. */
  close(drainMs?: number): Promise<void>;
}

interface Backend {
  store: Store;
  /** The rate limit's counters: in memory for one instance, in Redis when instances share it. */
  limiter: RateLimiter;
  /** The failed-login counters, kept where the rate limit's are. */
  loginCounters: LoginCounters;
}

function logLimits(config: Config): EventLogLimits {
  return { minEvents: config.eventLogSize, minAgeMs: config.eventLogMs };
}

/** The store named by ROOMKV_STORE; a Redis that cannot be reached stops start-up. */
export async function openBackend(config: Config): Promise<Backend> {
  switch (config.store) {
    case 'sqlite': {
      const options = {
        path: join(config.dataDir, 'roomkv.sqlite'),
        synchronous: config.sqliteSynchronous,
        locking: config.sqliteLocking,
        readCacheBytes: config.sqliteCacheMb * 1024 * 1024,
        checkpointPages: config.sqliteCheckpointPages,
        checkpointIntervalMs: config.sqliteCheckpointIntervalMs,
        eventLog: logLimits(config),
      };
      return {
        store: config.sqliteWriter === 'thread' ? await SqliteThreadedStore.open(options) : new SqliteStore(options),
        limiter: new RateLimiter(memoryLimiter),
        loginCounters: memoryLoginCounters,
      };
    }
    case 'redis': {
      const client = await connectRedis({
        url: config.redisUrl,
        clusterNodes: config.redisClusterNodes,
        commandTimeoutMs: config.redisCommandTimeoutMs,
      });
      return {
        store: new RedisStore({
          client,
          prefix: config.redisPrefix,
          eventLog: logLimits(config),
          planCacheKeys: config.redisPlanCacheKeys,
        }),
        limiter: new RateLimiter(redisLimiter(client, config.redisPrefix)),
        loginCounters: redisLoginCounters(client, config.redisPrefix),
      };
    }
  }
}

/**
 * Gives the store a new log epoch, for after a restore from a copy: every resume point handed out
 * before then gets a snapshot. On SQLite the server must be stopped (it holds the file).
 */
export async function renewLogEpoch(config: Config): Promise<string> {
  const { store } = await openBackend(config);
  try {
    return await store.renewLogEpoch();
  } finally {
    await store.close();
  }
}

/** Wires config -> apps -> store -> HTTP and listens. Everything a caller needs to stop it is returned. */
/** Query parameters whose values never reach a log line. */

/** The pino logger of a server: one JSON line per request, tokens and secrets redacted. */
export function makeLogger(level: Config['logLevel']): Logger {
  return pino({
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; hostname?: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        host: req.hostname,
        remoteAddress: req.ip,
      }),
      // Any other URL a line carries (a request's, a webhook endpoint's) loses its query-string tokens too.
      url: redactUrl,
      endpoint: redactUrl,
    },
  });
}

export async function startServer(config: Config, logger: Logger = makeLogger(config.logLevel)): Promise<RunningServer> {
  let demo: RunningServer['demo'];
  let apps: AppRecord[];
  if (config.appsFile !== undefined) {
    apps = loadAppsFile(config.appsFile);
  } else {
    demo = loadOrCreateDemoApp(config.dataDir);
    apps = [demo.app];
  }
  const registry = new AppRegistry(apps);
  const { store, limiter, loginCounters } = await openBackend(config);
  if (store instanceof SqliteThreadedStore) {
    store.onStopped = (err) =>
      logger.error({ err }, 'the SQLite writer thread stopped: every write fails and /readyz answers 503 until roomkv is restarted');
    store.onCheckpointerStopped = (err) =>
      logger.warn(
        { err },
        'the SQLite checkpointer thread stopped: the writer checkpoints the WAL itself, at 4 x ROOMKV_SQLITE_CHECKPOINT_PAGES',
      );
  }
  let app: FastifyInstance;
  const streams = new OpenStreams({ maxPerUser: config.maxStreamsPerUser, maxPerApp: config.maxStreamsPerApp });
  const lifecycle = { draining: false };
  const metrics = new Metrics(apps, store, () => streams.size);
  try {
    app = await buildApp({ config, apps: registry, store, limiter, loginCounters, logger, metrics, streams, lifecycle });
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await store.close();
    throw err;
  }
  const webhooks = new WebhookDispatcher(
    store,
    apps,
    {
      retryMs: config.webhookRetryMs,
      backoffMs: config.webhookBackoffMs,
      backoffMaxMs: config.webhookBackoffMaxMs,
      timeoutMs: config.webhookTimeoutMs,
    },
    logger.child({ component: 'webhooks' }),
  );
  webhooks.onAttempt = (endpoint, attempt) => {
    const owner = apps.find((a) => a.webhooks.includes(endpoint));
    if (owner) metrics.countAttempt(owner, attempt);
  };
  webhooks.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    app,
    store,
    apps: registry,
    demo,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    /** Stops accepting, ends event streams, finishes calls and deliveries in flight, closes the store. */
    async close(drainMs = 0) {
      lifecycle.draining = true;
      // Calls already on their way (or read from a kept-alive socket) are still served meanwhile;
      // Node's close() would reset keep-alive sockets that look idle with a request in flight.
      if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
      await app.close();
      await webhooks.stop();
      await store.close();
    },
  };
}
