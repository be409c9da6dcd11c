import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Every setting of roomkv: one schema, the source of the type, the defaults, the environment
 * variable names and the --help text. Validated once at boot; a bad value names its variable.
 */
const setting = <T extends TSchema>(env: string, schema: T, description: string) => Type.Unsafe<Static<T>>({ ...schema, env, description });

export const ConfigSchema = Type.Object(
  {
    port: setting('PORT', Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }), 'TCP port to listen on'),
    host: setting('HOST', Type.String({ minLength: 1, default: '127.0.0.1' }), 'address to listen on (0.0.0.0 for all)'),
    dataDir: setting(
      'ROOMKV_DATA_DIR',
      Type.String({ minLength: 1, default: './data' }),
      'folder for the SQLite database and the development app',
    ),
    appsFile: setting(
      'ROOMKV_APPS_FILE',
      Type.Optional(Type.String({ minLength: 1 })),
      'JSON file declaring the apps; without it a development app demo#demo is made',
    ),
    corsOrigins: setting('ROOMKV_CORS_ORIGINS', Type.String({ default: '*' }), 'allowed CORS origins, comma-separated, or * for any'),
    logLevel: setting(
      'ROOMKV_LOG_LEVEL',
      Type.Union(
        [
          Type.Literal('fatal'),
          Type.Literal('error'),
          Type.Literal('warn'),
          Type.Literal('info'),
          Type.Literal('debug'),
          Type.Literal('trace'),
          Type.Literal('silent'),
        ],
        { default: 'info' },
      ),
      'log level (pino)',
    ),
    bodyLimit: setting(
      'ROOMKV_BODY_LIMIT',
      Type.Integer({ minimum: 1024, default: 1_048_576 }),
      'largest request body in bytes; larger bodies get 413',
    ),
    sqliteSynchronous: setting(
      'ROOMKV_SQLITE_SYNCHRONOUS',
      Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')], { default: 'FULL' }),
      'FULL: each acknowledged write is fsynced before the answer; NORMAL: faster, survives a process crash but not a power loss',
    ),
    sqliteCacheMb: setting(
      'ROOMKV_SQLITE_CACHE_MB',
      Type.Integer({ minimum: 0, maximum: 65_536, default: 64 }),
      'memory for recently read rooms, served to attribute gets without a query (MiB; 0 turns it off; only with the exclusive lock)',
    ),
    sqliteCheckpointPages: setting(
      'ROOMKV_SQLITE_CHECKPOINT_PAGES',
      Type.Integer({ minimum: 100, maximum: 1_000_000, default: 10_000 }),
      'the WAL is copied into the database file once it holds about this many pages (4 KiB each), by a checkpointer thread beside the SQLite writer (the writer itself only at 4x); larger means fewer copies of the same pages and faster writes, and a larger roomkv.sqlite-wal (about pages x 4 KiB while roomkv runs)',
    ),
    sqliteCheckpointIntervalMs: setting(
      'ROOMKV_SQLITE_CHECKPOINT_INTERVAL_MS',
      Type.Integer({ minimum: 0, maximum: 60_000, default: 100 }),
      'how often (ms) the checkpointer thread copies the WAL into the database file; longer: faster writes and a longer wait for the writes made during a copy; 0: no checkpointer, the SQLite writer copies the WAL itself at ROOMKV_SQLITE_CHECKPOINT_PAGES (slower writes, a shorter tail)',
    ),
    sqliteLocking: setting(
      'ROOMKV_SQLITE_LOCKING',
      Type.Union([Type.Literal('exclusive'), Type.Literal('normal')], { default: 'exclusive' }),
      'exclusive: roomkv holds the data dir while it runs (a second roomkv on it is refused; gets are served from memory); with ROOMKV_SQLITE_WRITER=thread it holds roomkv.sqlite-lock and other programs may still read the file (sqlite3 .backup), with main it locks the file itself; normal: no lock and no read cache, other processes may read the file meanwhile',
    ),
    sqliteWriter: setting(
      'ROOMKV_SQLITE_WRITER',
      Type.Union([Type.Literal('thread'), Type.Literal('main')], { default: 'thread' }),
      "thread: SQLite writes and their fsync run on a worker thread, checkpoints on another, and reads on the main thread's own connection, so the event loop never waits for a commit, its fsync or a checkpoint; main: everything on the main thread (one connection)",
    ),
    requestTimeoutMs: setting(
      'ROOMKV_REQUEST_TIMEOUT_MS',
      Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
      'a request must arrive whole (headers and body) within this (ms): slow or idle clients are cut off',
    ),
    keepAliveTimeoutMs: setting(
      'ROOMKV_KEEP_ALIVE_TIMEOUT_MS',
      Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
      'an idle keep-alive connection is closed after this (ms)',
    ),
    shutdownDrainMs: setting(
      'ROOMKV_SHUTDOWN_DRAIN_MS',
      Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
      'on SIGTERM, keep serving this long (ms) with Connection: close and /readyz 503, so calls already sent are answered, then close',
    ),
    maxConnections: setting('ROOMKV_MAX_CONNECTIONS', Type.Integer({ minimum: 1, default: 10_000 }), 'connections beyond this are refused'),
    maxStreamsPerUser: setting(
      'ROOMKV_MAX_STREAMS_PER_USER',
      Type.Integer({ minimum: 1, default: 10 }),
      'live connections (event streams) one user token may hold open on one instance; more get 429',
    ),
    maxStreamsPerApp: setting(
      'ROOMKV_MAX_STREAMS_PER_APP',
      Type.Integer({ minimum: 1, default: 5000 }),
      'live connections (event streams) one app may hold open on one instance, app and user tokens together; more get 429',
    ),
    tokenMaxTtlS: setting(
      'ROOMKV_TOKEN_MAX_TTL_S',
      Type.Integer({ minimum: 1, maximum: 315_360_000, default: 31_536_000 }),
      'longest ttl (seconds) POST .../token accepts; a larger one gets 400',
    ),
    loginFailuresPerUser: setting(
      'ROOMKV_LOGIN_FAILURES_PER_USER',
      Type.Integer({ minimum: 1, default: 10 }),
      'failed password logins of one user allowed per ROOMKV_LOGIN_FAILURE_WINDOW_S; beyond, logins of that user get 429 without the password being checked',
    ),
    loginFailuresPerApp: setting(
      'ROOMKV_LOGIN_FAILURES_PER_APP',
      Type.Integer({ minimum: 1, default: 200 }),
      "failed password logins of one app allowed per ROOMKV_LOGIN_FAILURE_WINDOW_S; beyond, the app's password logins get 429",
    ),
    loginFailureWindowS: setting(
      'ROOMKV_LOGIN_FAILURE_WINDOW_S',
      Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
      'the window (seconds) the failed-login limits count in',
    ),
    loginConcurrencyPerApp: setting(
      'ROOMKV_LOGIN_CONCURRENCY_PER_APP',
      Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
      "password checks (scrypt) one app may run at once; more wait in a short queue, and past it get 429, so one app's flood cannot slow another's logins",
    ),
    metricsToken: setting(
      'ROOMKV_METRICS_TOKEN',
      Type.Optional(Type.String({ minLength: 16 })),
      'enables GET /metrics (Prometheus), for requests with Authorization: Bearer <this token>',
    ),
    store: setting(
      'ROOMKV_STORE',
      Type.Union([Type.Literal('sqlite'), Type.Literal('redis')], { default: 'sqlite' }),
      'sqlite (embedded, one instance) or redis (one Redis or a Redis Cluster, many instances)',
    ),
    redisUrl: setting(
      'ROOMKV_REDIS_URL',
      Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
      'Redis to use with ROOMKV_STORE=redis: redis://[user:password@]host:port/db',
    ),
    redisClusterNodes: setting(
      'ROOMKV_REDIS_CLUSTER_NODES',
      Type.Optional(Type.String({ pattern: '^[^,:\\s]+:[0-9]+(,[^,:\\s]+:[0-9]+)*$' })),
      'Redis Cluster seed nodes host:port,host:port,...; when set, used instead of ROOMKV_REDIS_URL',
    ),
    redisPrefix: setting(
      'ROOMKV_REDIS_PREFIX',
      Type.String({ pattern: '^[A-Za-z0-9_.:-]*$', default: 'rk:' }),
      'prefix of every Redis key, so deployments can share a Redis',
    ),
    redisCommandTimeoutMs: setting(
      'ROOMKV_REDIS_TIMEOUT_MS',
      Type.Integer({ minimum: 50, maximum: 60_000, default: 2000 }),
      'a Redis command that takes longer fails the call with 503',
    ),
    redisPlanCacheKeys: setting(
      'ROOMKV_REDIS_PLAN_CACHE_KEYS',
      Type.Integer({ minimum: 1000, maximum: 10_000_000, default: 500_000 }),
      'attribute keys an instance remembers (about 230 bytes each) to plan a write in one Redis round trip; a write to a key it forgot takes two',
    ),
    eventLogSize: setting(
      'ROOMKV_EVENT_LOG_SIZE',
      Type.Integer({ minimum: 1, default: 1000 }),
      "a room's event log keeps at least this many latest events for resume",
    ),
    eventLogMs: setting(
      'ROOMKV_EVENT_LOG_MS',
      Type.Integer({ minimum: 0, default: 600_000 }),
      '... and every event younger than this (ms); older resumes get a snapshot',
    ),
    sseHeartbeatMs: setting(
      'ROOMKV_SSE_HEARTBEAT_MS',
      Type.Integer({ minimum: 100, maximum: 15_000, default: 15_000 }),
      "an event stream sends a comment at least this often, and looks at its room's log each time (ms)",
    ),
    sseMaxBufferBytes: setting(
      'ROOMKV_SSE_MAX_BUFFER',
      Type.Integer({ minimum: 1024, default: 1_048_576 }),
      'a subscriber that falls this many bytes behind is disconnected (it resumes from its last id)',
    ),
    webhookRetryMs: setting(
      'ROOMKV_WEBHOOK_RETRY_MS',
      Type.Integer({ minimum: 0, default: 86_400_000 }),
      'a webhook delivery is retried for this long (ms) before it is given up',
    ),
    webhookBackoffMs: setting(
      'ROOMKV_WEBHOOK_BACKOFF_MS',
      Type.Integer({ minimum: 1, default: 1000 }),
      'first retry delay of a failed webhook delivery (ms); doubles each attempt, with jitter',
    ),
    webhookBackoffMaxMs: setting(
      'ROOMKV_WEBHOOK_BACKOFF_MAX_MS',
      Type.Integer({ minimum: 1, default: 600_000 }),
      'longest delay between two attempts (ms)',
    ),
    webhookTimeoutMs: setting(
      'ROOMKV_WEBHOOK_TIMEOUT_MS',
      Type.Integer({ minimum: 100, default: 10_000 }),
      'a webhook endpoint that does not answer within this (ms) counts as failed',
    ),
  },
  { additionalProperties: false },
);

export type Config = Readonly<Static<typeof ConfigSchema>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Props = Record<string, TSchema & { env: string; description: string; default?: unknown }>;

/** The settings as a table: variable, default, meaning (for --help and the README). */
export function describeSettings(): Array<{ key: string; env: string; default: unknown; description: string }> {
  return Object.entries(ConfigSchema.properties as unknown as Props).map(([key, s]) => ({
    key,
    env: s.env,
    default: s.default,
    description: s.description,
  }));
}

/** Reads the environment (and explicit overrides, e.g. CLI flags), validates, freezes. */
export function loadConfig(env: NodeJS.ProcessEnv, overrides: Record<string, string> = {}): Config {
  const props = ConfigSchema.properties as unknown as Props;
  const raw: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(props)) {
    const text = overrides[key] ?? env[schema.env];
    if (text === undefined || text === '') continue;
    raw[key] = schema.type === 'integer' ? (/^-?\d+$/.test(text.trim()) ? Number(text) : text) : text;
  }
  const withDefaults = Value.Default(ConfigSchema, raw) as Record<string, unknown>;
  const problems = [...Value.Errors(ConfigSchema, withDefaults)].map((e) => {
    const key = e.path.split('/')[1] ?? '';
    const name = props[key]?.env ?? key;
    const choices = (props[key] as { anyOf?: Array<{ const?: unknown }> } | undefined)?.anyOf?.map((c) => c.const);
    const message = choices ? `must be one of ${choices.join(', ')}` : e.message;
    return `${name}: ${message} (got ${JSON.stringify(withDefaults[key])})`;
  });
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return Object.freeze(withDefaults) as Config;
}
