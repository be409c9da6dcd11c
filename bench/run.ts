/**
 * `npm run bench`: builds roomkv, starts each target as its own process (roomkv on SQLite, roomkv
 * on Redis when one answers, and a baseline Fastify server), loads the same data into each, runs
 * every workload against every target with the same load (a separate load generator process: wrk when installed, else autocannon),
 * the order of the targets turning from round to round, and prints one table, also written to bench/results/.
 *
 *   npm run bench                          the workloads; bench/results/latest.md
 *   npm run bench -- --scale               1,000,000 preloaded attributes vs an empty store; latest-scale.md
 *   npm run bench -- --profile=set,get-all CPU profile of roomkv per workload (--profile-store=sqlite|redis); profile-latest.md
 *   npm run bench -- --live               set with change events consumed: 1,000 event streams and a webhook
 *                                          endpoint on "-live" targets, beside the same targets without
 *                                          them; every acknowledged write's event counted; latest-live.md
 *   npm run bench -- --fanout              one room, 1,000 and 10,000 subscribers (SSE, WebSocket), writes at 5 and 20/s,
 *                                          one instance and two on Redis, then idle connections; fanout.md (bench/fanout.ts)
 *   npm run bench -- --compare=dist-before also runs the roomkv built in dist-before/ (another commit's
 *                                          `npm run build`, copied beside dist/) as sqlite-before and
 *                                          redis-before: before/after figures from the same run;
 *                                          `npm run bench:ablate` makes dist-no-store-writes and
 *                                          dist-no-observability for it: ceilings (bench/ablate.ts)
 *
 * Options: --rounds=3 --duration=5 --warmup=1 --connections=32 --workloads=set,get-all --no-build
 *          --load=auto|wrk|autocannon (auto: wrk when it is installed, else autocannon)
 *          --no-redis --no-sqlite (the other store's targets alone) --redis-url=redis://127.0.0.1:6379 (or ROOMKV_BENCH_REDIS_URL)
 *          --out=DIR (results there, not in bench/results/) --scale-rooms=20000 (the scale run's preload, x 50 keys)
 */
import agoraToken from 'agora-token';
import { Redis } from 'ioredis';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  APP,
  BASE_KEYS,
  DELETABLE_PER_MEMBER,
  MEMBERS_PER_ROOM,
  ORG,
  ROOMS,
  WORKLOADS,
  baseKey,
  freePort,
  median,
  percentile,
  sleep,
  userName,
  type LoadResult,
  type LoadSpec,
  type Workload,
} from './common.js';
import { summarizeProfile } from './profile-summary.js';
import { ratioText, roundOrder, rowVerdict } from './verdict.js';
import type { SeedSpec } from './seed-store.js';
import type { ListenerReport } from './listeners.js';

// `--fanout` is a mode with options of its own (bench/fanout.ts): dispatched before this file's setup.
if (process.argv.includes('--fanout')) {
  const { fanoutMain } = await import('./fanout.js');
  process.exit(await fanoutMain());
}

const { ChatTokenBuilder } = agoraToken;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    scale: { type: 'boolean', default: false },
    live: { type: 'boolean', default: false },
    /** --live: CPU profiles of the "-live" targets (node --cpu-prof), written to this folder. */
    'live-profile': { type: 'string' },
    /** --live: the webhook endpoint batches, `maxEvents,maxDelayMs` (e.g. 100,200). */
    'webhook-batch': { type: 'string' },
    profile: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
    workloads: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'no-redis': { type: 'boolean', default: false },
    'no-sqlite': { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
    compare: { type: 'string' },
    load: { type: 'string', default: 'auto' },
    'profile-store': { type: 'string', default: 'sqlite' },
    out: { type: 'string' },
    'scale-rooms': { type: 'string', default: '20000' },
  },
  strict: true,
});
/** Where the result files go: bench/results/, or --out (a trial run that must not replace the committed results). */
const RESULTS = opts.out ?? join(ROOT, 'bench', 'results');
const ROUNDS = Number(opts.rounds);
const DURATION = Number(opts.duration);
const WARMUP = Number(opts.warmup);
const CONNECTIONS = Number(opts.connections);
const REDIS_URL = opts['redis-url'] ?? process.env.ROOMKV_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LOG_LEVEL = 'warn';
const WRK_INSTALLED = spawnSync('wrk', ['-v']).error === undefined;
if (!['auto', 'wrk', 'autocannon'].includes(opts.load!)) throw new Error(`--load: auto, wrk or autocannon, not ${opts.load}`);
if (opts.load === 'wrk' && !WRK_INSTALLED) throw new Error('--load=wrk: wrk is not installed (apt-get install wrk)');
const GENERATOR: 'wrk' | 'autocannon' = opts.load === 'autocannon' || (opts.load === 'auto' && !WRK_INSTALLED) ? 'autocannon' : 'wrk';
const RATE_LIMIT = 1_000_000_000;
const COMMAND = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

/** Ratio-to-baseline targets of the issue (2-core machine). */
const RATIO_TARGETS: Record<'sqlite' | 'redis', Record<Workload, number>> = {
  // increment and conditional-set (spec section 10): the targets of set.
  sqlite: {
    'get-all': 0.8,
    'get-keys': 0.8,
    set: 0.65,
    'forced-set': 0.65,
    delete: 0.65,
    mixed: 0.75,
    increment: 0.65,
    'conditional-set': 0.65,
  },
  redis: { 'get-all': 0.6, 'get-keys': 0.6, set: 0.5, 'forced-set': 0.5, delete: 0.5, mixed: 0.55, increment: 0.5, 'conditional-set': 0.5 },
};
const SCALE_TARGET = 0.85;
/** The scale run's preload: 20,000 rooms x 50 keys (1,000,000 attributes), or --scale-rooms rooms. */
const SCALE_ROOMS = Number(opts['scale-rooms']);
const SCALE_KEYS = 50;
const SCALE_ATTRS = SCALE_ROOMS * SCALE_KEYS;
/** The preloaded targets' name: "1M" for the issue's figure, else the count. */
const SCALE_LABEL = SCALE_ATTRS === 1_000_000 ? '1M' : SCALE_ATTRS.toLocaleString('en-US');
if (!Number.isInteger(SCALE_ROOMS) || SCALE_ROOMS < 1)
  throw new Error(`--scale-rooms: a whole number of rooms, not ${opts['scale-rooms']}`);
const RSS_TARGET_MB = 300;

// ---------------------------------------------------------------- the app, tokens, scratch space

const work = mkdtempSync(join(tmpdir(), 'roomkv-bench-'));
const bench = {
  org: ORG,
  app: APP,
  appId: randomBytes(16).toString('hex'),
  appCertificate: randomBytes(16).toString('hex'),
  clientId: 'bench-client',
  clientSecret: randomBytes(16).toString('hex'),
  // Lifted for the benchmark: the limiter still runs on every call, it never refuses one.
  // Rooms: 20 base keys, 2 per member from set, and during a delete run 20 per member (200 in all).
  limits: { rateLimitPerSecond: RATE_LIMIT, maxAttributesPerRoom: 300 },
};
const appsFile = join(work, 'apps.json');
writeFileSync(appsFile, JSON.stringify({ apps: [bench] }));
const appToken = ChatTokenBuilder.buildAppToken(bench.appId, bench.appCertificate, 86_400);
const users: string[] = [];
for (let r = 0; r < ROOMS; r++) for (let m = 0; m < MEMBERS_PER_ROOM; m++) users.push(userName(r, m));
const tokens: Record<string, string> = {};
for (const u of users) tokens[u] = ChatTokenBuilder.buildUserToken(bench.appId, bench.appCertificate, u, 86_400);
const tokensFile = join(work, 'tokens.json');
writeFileSync(tokensFile, JSON.stringify(tokens));

// ---------------------------------------------------------------- processes

type Kind = 'baseline' | 'sqlite' | 'redis';

interface Target {
  name: string;
  kind: Kind;
  url: string;
  child: ChildProcess;
  logFile: string;
  dataDir?: string;
  redisPrefix?: string;
  roomIds: string[];
  seed?: { usersMs: number; preloadMs: number; attributes: number };
  /** Peak RSS, read before the process is stopped. */
  peakRssMb?: number;
  /** An apps file of its own (the live targets' declares a webhook); else the benchmark's. */
  appsFile?: string;
  /** The process consuming its change events (live targets). */
  listener?: Listener;
}

const live = new Set<ChildProcess>();

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function runChild(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    live.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      live.delete(child);
      if (code === 0) resolve(out.trim().split('\n').pop() ?? '');
      else reject(new Error(`${args.join(' ')} exited with ${code}: ${out.slice(-500)}`));
    });
  });
}

async function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; logFile: string }> {
  const port = await freePort();
  const logFile = join(work, `${name}.log`);
  const logStream = createWriteStream(logFile);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.stdout!.pipe(logStream);
  child.stderr!.pipe(logStream);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
    live.delete(child);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`${name} exited with ${exited}: ${readFileSync(logFile, 'utf8').slice(-1000)}`);
    try {
      await fetch(`${url}/`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${name} did not answer on ${url}`);
      await sleep(100);
    }
  }
  return { child, url, logFile };
}

function peakRssMb(child: ChildProcess): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function startBaseline(): Promise<Target> {
  const p = await startProcess('baseline', ['--import', 'tsx', 'bench/baseline-server.ts'], {});
  // The baseline answers whatever ids it is sent.
  return { name: 'baseline', kind: 'baseline', ...p, roomIds: Array.from({ length: ROOMS }, (_, r) => String(200_000_000_001 + r)) };
}

function serverEnv(t: { kind: Kind; dataDir?: string; redisPrefix?: string; appsFile?: string }): Record<string, string> {
  const env: Record<string, string> = {
    ROOMKV_DATA_DIR: t.dataDir!,
    ROOMKV_APPS_FILE: t.appsFile ?? appsFile,
    ROOMKV_LOG_LEVEL: LOG_LEVEL,
  };
  if (t.kind === 'redis') Object.assign(env, { ROOMKV_STORE: 'redis', ROOMKV_REDIS_URL: REDIS_URL, ROOMKV_REDIS_PREFIX: t.redisPrefix! });
  return env;
}

/**
 * A roomkv target with the benchmark's data: users (and the scale preload) through the store,
 * then rooms, members and keys through the HTTP API with app and user tokens.
 */
async function startRoomkv(
  name: string,
  kind: 'sqlite' | 'redis',
  preload: boolean,
  nodeArgs: string[] = [],
  ownAppsFile?: string,
): Promise<Target> {
  const dataDir = mkdtempSync(join(work, `${name}-`));
  const redisPrefix = kind === 'redis' ? `rkbench:${randomBytes(4).toString('hex')}:` : undefined;
  const seedSpec: SeedSpec = {
    kind,
    dataDir,
    redisUrl: REDIS_URL,
    redisPrefix,
    appId: bench.appId,
    appKey: `${ORG}#${APP}`,
    users,
    ...(preload ? { preload: { rooms: SCALE_ROOMS, keysPerRoom: SCALE_KEYS, membersPerRoom: 5, users: 1000 } } : {}),
    // An earlier build's server reads what its own store wrote (its schema version, its keys).
    ...(name.endsWith('-before') ? { build: opts.compare! } : {}),
  };
  const seedFile = join(work, `${name}-seed.json`);
  writeFileSync(seedFile, JSON.stringify(seedSpec));
  log(`${name}: seeding the store${preload ? ` (${SCALE_ROOMS.toLocaleString('en-US')} rooms x ${SCALE_KEYS} keys preload)` : ''}`);
  const seed = JSON.parse(await runChild(['--import', 'tsx', 'bench/seed-store.ts', seedFile])) as Target['seed'];
  log(`${name}: seeded ${JSON.stringify(seed)}`);
  const t: Target = {
    name,
    kind,
    dataDir,
    redisPrefix,
    roomIds: [],
    seed,
    url: '',
    child: undefined as unknown as ChildProcess,
    logFile: '',
    appsFile: ownAppsFile,
  };
  await restartRoomkv(t, nodeArgs);
  await loadData(t);
  return t;
}

async function restartRoomkv(t: Target, nodeArgs: string[] = []): Promise<void> {
  const cli = t.name.endsWith('-before') ? join(opts.compare!, 'cli.js') : join('dist', 'cli.js');
  const p = await startProcess(t.name, [...nodeArgs, cli, 'serve'], serverEnv(t));
  Object.assign(t, p);
}

// ---------------------------------------------------------------- HTTP helpers and data

async function call(url: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

async function must(url: string, method: string, path: string, token: string, body?: unknown): Promise<any> {
  const r = await call(url, method, path, token, body);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  return r.json;
}

async function pool(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const A = `/${ORG}/${APP}`;

async function loadData(t: Target): Promise<void> {
  const started = performance.now();
  const ids: string[] = new Array(ROOMS);
  await pool(ROOMS, 16, async (r) => {
    const members = Array.from({ length: MEMBERS_PER_ROOM - 1 }, (_, m) => userName(r, m + 1));
    const res = await must(t.url, 'POST', `${A}/chatrooms`, appToken, {
      name: `room-${r}`,
      description: 'bench',
      owner: userName(r, 0),
      members,
    });
    ids[r] = res.data.id as string;
  });
  t.roomIds = ids;
  // The owner sets the 20 keys that get-all reads, 10 per call (the batch limit).
  await pool(ROOMS * 2, 16, async (i) => {
    const r = i >> 1;
    const owner = userName(r, 0);
    const metaData: Record<string, string> = {};
    for (let k = (i & 1) * 10; k < (i & 1) * 10 + 10; k++) metaData[baseKey(k)] = `value-of-${baseKey(k)}-${r}`;
    await must(t.url, 'PUT', `${A}/metadata/chatroom/${ids[r]}/user/${owner}`, tokens[owner]!, { metaData, autoDelete: 'NO_DELETE' });
  });
  await primeTokens(t);
  log(
    `${t.name}: ${ROOMS} rooms x ${MEMBERS_PER_ROOM} members, ${BASE_KEYS} keys each, over HTTP in ${Math.round(performance.now() - started)} ms`,
  );
}

/**
 * Every member reads once: clients keep their token, so in steady state every token is verified
 * and cached; the first workload would otherwise pay 10,000 first verifications.
 */
async function primeTokens(t: Target): Promise<void> {
  await eachMember(t, (user, room) => must(t.url, 'POST', `${A}/metadata/chatroom/${room}`, tokens[user]!, { keys: [baseKey(0)] }));
}

/** Runs `fn` for every member of every room, 32 at a time. */
async function eachMember(t: Target, fn: (user: string, roomId: string) => Promise<unknown>): Promise<void> {
  await pool(ROOMS * MEMBERS_PER_ROOM, 32, (i) => fn(userName(i % ROOMS, Math.floor(i / ROOMS)), t.roomIds[i % ROOMS]!));
}

/** The deletable keys of a member, in calls of at most 10 (the default maxBatchSize). */
function deletableBatches(user: string): string[][] {
  const keys = Array.from({ length: DELETABLE_PER_MEMBER }, (_, j) => `${user}.d${j}`);
  const batches: string[][] = [];
  for (let i = 0; i < keys.length; i += 10) batches.push(keys.slice(i, i + 10));
  return batches;
}

/** Every member (again) owns keys d0..d19, so the delete run removes a real key with every call. */
async function refillDeletable(t: Target): Promise<void> {
  await eachMember(t, async (user, room) => {
    for (const batch of deletableBatches(user)) {
      const metaData = Object.fromEntries(batch.map((key) => [key, `deletable-${key}`]));
      await must(t.url, 'PUT', `${A}/metadata/chatroom/${room}/user/${user}`, tokens[user]!, { metaData });
    }
  });
}

/** The keys a run of `workload` adds to each member, in calls of at most 10; none for the others. */
function addedBatches(workload: Workload): ((user: string) => string[][]) | null {
  if (workload === 'delete') return deletableBatches;
  if (workload === 'set' || workload === 'mixed' || workload === 'conditional-set') return (user) => [[`${user}.a`, `${user}.b`]];
  if (workload === 'increment') return (user) => [[`${user}.c`]];
  return null;
}

/**
 * After a run, the keys it added go: what a delete run left of the deletable keys, the keys `set`
 * (alone or in `mixed`) gave each member. So every workload finds the rooms as the issue has them
 * (20 keys, the owner's), on every target, however many calls each target made.
 */
async function tidyAfter(t: Target, workload: Workload): Promise<void> {
  const batchesOf = addedBatches(workload);
  // --live counts every event of the run's rooms: the tidying's own events would be extra ones.
  if (batchesOf === null || t.kind === 'baseline' || opts.live) return;
  await eachMember(t, async (user, room) => {
    for (const keys of batchesOf(user)) {
      await must(t.url, 'DELETE', `${A}/metadata/chatroom/${room}/user/${user}`, tokens[user]!, { keys });
    }
  });
}

async function runLoad(t: Target, workload: Workload, round: number): Promise<LoadResult> {
  const result = await runLoadOnce(t, workload, round);
  await tidyAfter(t, workload);
  return result;
}

/** One run; `refill`: a delete run first gives every member its deletable keys again. */
async function runLoadOnce(t: Target, workload: Workload, round: number, refill = true): Promise<LoadResult> {
  if (refill && workload === 'delete' && t.kind !== 'baseline') await refillDeletable(t);
  const spec: LoadSpec = {
    url: t.url,
    workload,
    connections: CONNECTIONS,
    durationS: DURATION,
    warmupS: WARMUP,
    roomIds: t.roomIds,
    tokensFile,
    counterStart: workload === 'delete' ? 0 : round * ROOMS * MEMBERS_PER_ROOM * DELETABLE_PER_MEMBER,
    checkContent: t.kind !== 'baseline',
    serverPid: t.child.pid,
    generator: GENERATOR,
  };
  const specFile = join(work, `load-${t.name}-${workload}-${round}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  await sleep(300);
  const result = JSON.parse(await runChild(['--import', 'tsx', 'bench/load.ts', specFile])) as LoadResult;
  log(
    `${workload} round ${round + 1} ${t.name}: ${Math.round(result.rps)} req/s p50 ${result.p50} p99 ${result.p99}` +
      ` server CPU ${f0(cpuPerRequestUs(result))} µs/req (${f0(busyPercent(result))}% busy), load generator ${f0(result.loadCpuMs / result.durationS / 10)}%` +
      ` errors ${result.errors} non-2xx ${result.non2xx} per-key ${result.perKeyErrors}${result.probe !== 'ok' ? ` PROBE: ${result.probe}` : ''}`,
  );
  return result;
}

// ---------------------------------------------------------------- Redis

async function redisInfo(): Promise<string | null> {
  if (opts['no-redis']) return null;
  const r = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    const info = await r.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

async function dropRedisPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

// ---------------------------------------------------------------- figures and tables

interface Cell {
  runs: LoadResult[];
  ratios: number[];
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** Server CPU time per answered request over the measured run, µs. */
const cpuPerRequestUs = (r: LoadResult) => (r.serverCpuMs * 1000) / r.requests;
/** Share of one core the server used over the measured run, %. */
const busyPercent = (r: LoadResult) => r.serverCpuMs / r.durationS / 10;

function cellFigures(c: Cell) {
  return {
    rps: median(c.runs.map((r) => r.rps)),
    p50: median(c.runs.map((r) => r.p50)),
    p99: median(c.runs.map((r) => r.p99)),
    errors: sum(c.runs.map((r) => r.errors)),
    non2xx: sum(c.runs.map((r) => r.non2xx)),
    perKey: sum(c.runs.map((r) => r.perKeyErrors)),
    ratio: median(c.ratios),
    ratioMin: Math.min(...c.ratios),
    ratioMax: Math.max(...c.ratios),
    cpuUs: median(c.runs.map(cpuPerRequestUs)),
    busy: median(c.runs.map(busyPercent)),
    probes: c.runs.map((r) => r.probe).filter((p) => p !== 'ok'),
    samples: c.runs.flatMap((r) => [r.sampleNon2xx, r.samplePerKeyError]).filter((s): s is string => s !== undefined),
  };
}

/** What the --compare build was made from: its COMMIT file when it has one, else its folder. */
function compareBuild(): string {
  const file = join(ROOT, opts.compare!, 'COMMIT');
  return existsSync(file) ? `${readFileSync(file, 'utf8').trim()} (\`${opts.compare}\`)` : `\`${opts.compare}\``;
}

function machine(): string[] {
  const c = cpus();
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  return [
    `- command: \`${COMMAND}\``,
    `- date: ${new Date().toISOString()}; roomkv at ${git}${dirty ? ' with uncommitted changes in src/' : ''}`,
    `- machine: ${c.length} cores (${c[0]?.model ?? 'unknown'}), Node ${process.version}, ${process.platform}/${process.arch}`,
  ];
}

function setup(redisVersion: string | null): string[] {
  return [
    `- load: ${GENERATOR === 'wrk' ? 'wrk (one thread)' : 'autocannon'} in its own process, ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s per run, ` +
      `${ROUNDS} rounds; the order of the targets within a round turns with the rounds (rotated every second round, reversed in odd ones), so drift and what ran just before hit all alike. Figures are medians over the rounds; ` +
      'a ratio is the median of the per-round ratios.',
    `- data: ${ROOMS.toLocaleString('en-US')} rooms x ${MEMBERS_PER_ROOM} members (rooms, members and keys made over the HTTP API; ` +
      "users written through the store to skip 10,000 scrypt hashes), 20 keys per room; each call carries the member's 007 user token " +
      '(agora-token) and the body the official SDK sends.',
    `- roomkv: \`node dist/cli.js serve\`, ROOMKV_LOG_LEVEL=${LOG_LEVEL}; SQLite synchronous=FULL (every write fsynced), exclusive lock and 64 MiB read cache (the defaults) in a fresh temp dir; ` +
      (redisVersion ? `Redis ${redisVersion} at ${REDIS_URL} (same machine), fresh key prefix.` : 'no Redis answered: Redis not measured.'),
    `- **rate limit lifted**: the benchmark app declares \`limits.rateLimitPerSecond: ${RATE_LIMIT}\` (and \`maxAttributesPerRoom: 300\`, for the delete run's keys) in its apps file ` +
      '(the limiter still runs on every call and never refuses one; on Redis an instance takes leases of 1% of the budget from the shared ' +
      'window, so at this budget it asks Redis about once a second; at a budget of 10,000 it would ask once per 100 calls).',
    '- baseline: Fastify with the same five routes, JSON body parsed, canned success envelope; no auth, no store, no logging.',
  ];
}

/** The load average line; a busy machine is called out, since every figure then carries its noise. */
function loadLine(before: number, after: number): string {
  const busy = Math.max(before, after) > cpus().length;
  return (
    `- load average (1 min) before / after: ${before.toFixed(2)} / ${after.toFixed(2)}` +
    (busy ? ' — **the machine was busy with other work (load above its core count): figures are noisy**' : '')
  );
}

function verdict(ok: boolean): string {
  return ok ? 'ok' : '**BELOW TARGET**';
}

// ---------------------------------------------------------------- modes

async function benchMode(): Promise<void> {
  const redisVersion = await redisInfo();
  const workloads = (opts.workloads?.split(',') ?? [...WORKLOADS]) as Workload[];
  const loadBefore = loadavg()[0]!;
  const targets: Target[] = [await startBaseline()];
  if (!opts['no-sqlite']) targets.push(await startRoomkv('sqlite', 'sqlite', false));
  if (opts.compare && !opts['no-sqlite']) targets.push(await startRoomkv('sqlite-before', 'sqlite', false));
  if (redisVersion) targets.push(await startRoomkv('redis', 'redis', false));
  if (opts.compare && redisVersion) targets.push(await startRoomkv('redis-before', 'redis', false));
  const cells = new Map<string, Cell>();
  for (const w of workloads) {
    for (let round = 0; round < ROUNDS; round++) {
      const byTarget = new Map<string, LoadResult>();
      for (const t of roundOrder(targets, round)) byTarget.set(t.name, await runLoad(t, w, round));
      const base = byTarget.get('baseline')!.rps;
      for (const t of targets) {
        const key = `${w}/${t.name}`;
        const c = cells.get(key) ?? { runs: [], ratios: [] };
        c.runs.push(byTarget.get(t.name)!);
        c.ratios.push(byTarget.get(t.name)!.rps / base);
        cells.set(key, c);
      }
    }
  }
  for (const t of targets) t.peakRssMb = peakRssMb(t.child);
  const loadAfter = loadavg()[0]!;

  const lines = [
    '# roomkv benchmark',
    '',
    ...machine(),
    ...setup(redisVersion),
    loadLine(loadBefore, loadAfter),
    `- server peak RSS: ${targets.map((t) => `${t.name} ${f0(t.peakRssMb!)} MB`).join(', ')}`,
    ...(opts.compare
      ? [`- sqlite-before / redis-before: the same servers built from ${compareBuild()}, in the same rounds; not counted in the verdicts`]
      : []),
    '',
    "| workload | target | req/s | p50 ms | p99 ms | errors | non-2xx | per-key errors | server CPU µs/req | server busy | ratio to baseline | rounds' ratios, lowest-highest | target | p99 / baseline p99 | verdict |",
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const missed: string[] = [];
  // Verdicts whose per-round ratios fall on both sides of the target: another run may well read the other way.
  const unsettled: string[] = [];
  const notes: string[] = [];
  for (const w of workloads) {
    const base = cellFigures(cells.get(`${w}/baseline`)!);
    for (const t of targets) {
      const c = cellFigures(cells.get(`${w}/${t.name}`)!);
      const clean = c.errors === 0 && c.non2xx === 0 && c.perKey === 0 && c.probes.length === 0;
      if (t.kind === 'baseline') {
        lines.push(
          `| ${w} | baseline | ${f0(c.rps)} | ${f1(c.p50)} | ${f1(c.p99)} | ${c.errors} | ${c.non2xx} | ${c.perKey} | ${f0(c.cpuUs)} | ${f0(c.busy)}% | 1.00 | | | 1.0 | ${clean ? '' : '**ERRORS**'} |`,
        );
        continue;
      }
      const target = RATIO_TARGETS[t.kind][w];
      const { met, text: v, unsettled: split, p99x } = rowVerdict({ ...c, clean }, base.p99, target);
      const before = t.name.endsWith('-before');
      if (!met && !before) missed.push(`${w}/${t.name}`);
      if (!before && split) unsettled.push(`${w}/${t.name} (${ratioText(c.ratioMin, target)}-${ratioText(c.ratioMax, target)})`);
      lines.push(
        `| ${w} | ${t.name} | ${f0(c.rps)} | ${f1(c.p50)} | ${f1(c.p99)} | ${c.errors} | ${c.non2xx} | ${c.perKey} | ${f0(c.cpuUs)} | ${f0(c.busy)}% | ${ratioText(c.ratio, target)} | ${ratioText(c.ratioMin, target)}-${ratioText(c.ratioMax, target)} | >= ${f2(target)} | ${f1(p99x)} | ${before ? `(earlier build) ${v}` : v} |`,
      );
      for (const p of c.probes) notes.push(`- ${w}/${t.name}: ${p}`);
      for (const s of c.samples.slice(0, 1)) notes.push(`- ${w}/${t.name} sample failure: \`${s.replace(/`/g, "'")}\``);
    }
  }
  lines.push('', `Targets missed: ${missed.length === 0 ? 'none' : missed.join(', ')}.`);
  lines.push(
    '',
    'Ratio verdicts the rounds do not settle (some rounds above the target, some below): ' +
      `${unsettled.length === 0 ? 'none' : unsettled.join(', ')}.`,
  );
  if (notes.length > 0) lines.push('', 'Notes:', ...notes);
  await finish(targets, 'latest.md', lines);
}

async function scaleMode(): Promise<void> {
  const redisVersion = await redisInfo();
  const loadBefore = loadavg()[0]!;
  const workloads: Workload[] = ['get-all', 'set'];
  const pairs: Array<[Target, Target]> = [];
  pairs.push([await startRoomkv('sqlite-empty', 'sqlite', false), await startRoomkv(`sqlite-${SCALE_LABEL}`, 'sqlite', true)]);
  if (redisVersion)
    pairs.push([await startRoomkv('redis-empty', 'redis', false), await startRoomkv(`redis-${SCALE_LABEL}`, 'redis', true)]);
  const cells = new Map<string, Cell>();
  for (const w of workloads) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [empty, full] of pairs) {
        // Alternate which goes first, so neither always runs right after the other's writes.
        const order = round % 2 === 0 ? [empty, full] : [full, empty];
        const got = new Map<string, LoadResult>();
        for (const t of order) got.set(t.name, await runLoad(t, w, round));
        for (const t of [empty, full]) {
          const c = cells.get(`${w}/${t.name}`) ?? { runs: [], ratios: [] };
          c.runs.push(got.get(t.name)!);
          c.ratios.push(got.get(t.name)!.rps / got.get(empty.name)!.rps);
          cells.set(`${w}/${t.name}`, c);
        }
      }
    }
  }
  const removal = new Map<string, number[]>();
  for (const [empty, full] of pairs) {
    for (const t of [empty, full]) removal.set(t.name, await timeMemberRemoval(t));
  }
  for (const [empty, full] of pairs) for (const t of [empty, full]) t.peakRssMb = peakRssMb(t.child);

  const lines = [
    '# roomkv benchmark: scale',
    '',
    ...machine(),
    ...setup(redisVersion),
    `- scale: the "${SCALE_LABEL}" targets hold, besides the benchmark's data, ${SCALE_ROOMS.toLocaleString('en-US')} rooms x ${SCALE_KEYS} keys ` +
      `(${SCALE_ATTRS.toLocaleString('en-US')} attributes, 5 members each) ` +
      'written through the store before the server started; the "empty" targets hold only the benchmark\'s data. ' +
      `Ratio = ${SCALE_LABEL} / empty, target >= ${SCALE_TARGET}.`,
    loadLine(loadBefore, loadavg()[0]!),
    '',
    '| workload | target | req/s | p50 ms | p99 ms | errors | non-2xx | per-key errors | ratio to empty | verdict |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const missed: string[] = [];
  for (const w of workloads) {
    for (const [empty, full] of pairs) {
      for (const t of [empty, full]) {
        const c = cellFigures(cells.get(`${w}/${t.name}`)!);
        const clean = c.errors === 0 && c.non2xx === 0 && c.perKey === 0 && c.probes.length === 0;
        const isFull = t === full;
        const ok = (!isFull || c.ratio >= SCALE_TARGET) && clean;
        if (!ok) missed.push(`${w}/${t.name}`);
        lines.push(
          `| ${w} | ${t.name} | ${f0(c.rps)} | ${f1(c.p50)} | ${f1(c.p99)} | ${c.errors} | ${c.non2xx} | ${c.perKey} | ${isFull ? f2(c.ratio) : '1.00'} | ${isFull || !clean ? verdict(ok) : ''} |`,
        );
      }
    }
  }
  lines.push(
    '',
    `| target | preload | remove 1 member (10 keys) from a room of 100: median ms | p90 ms | ${SCALE_LABEL} / empty | server peak RSS MB | RSS verdict |`,
    '|---|---|---:|---:|---:|---:|---|',
  );
  for (const [empty, full] of pairs) {
    for (const t of [empty, full]) {
      const ms = removal.get(t.name)!;
      const ratio = median(ms) / median(removal.get(empty.name)!);
      const rssOk = t.peakRssMb! < RSS_TARGET_MB;
      if (!rssOk) missed.push(`rss/${t.name}`);
      const pre = t.seed!.attributes > 0 ? `${t.seed!.attributes.toLocaleString('en-US')} attrs in ${f1(t.seed!.preloadMs / 1000)} s` : '';
      lines.push(
        `| ${t.name} | ${pre} | ${f2(median(ms))} | ${f2(percentile(ms, 90))} | ${t === full ? f2(ratio) : ''} | ${f0(t.peakRssMb!)} | ${verdict(rssOk)} (< ${RSS_TARGET_MB}) |`,
      );
    }
  }
  lines.push(
    '',
    `Removing a member is independent of the number of rooms when ${SCALE_LABEL} / empty stays near 1.`,
    '',
    `Targets missed: ${missed.length === 0 ? 'none' : missed.join(', ')}.`,
  );
  await finish(pairs.flat(), 'latest-scale.md', lines);
}

/**
 * 20 rooms of 100 members; in each, the leaving member owns 10 keys (autoDelete) and four others
 * own 10 each. Times the admin call that removes the member; checks its keys went and no other.
 */
async function timeMemberRemoval(t: Target): Promise<number[]> {
  const times: number[] = [];
  for (let n = 0; n < 20; n++) {
    const group = Array.from({ length: 100 }, (_, m) => users[(n * 100 + m) % users.length]);
    const room = (
      await must(t.url, 'POST', `${A}/chatrooms`, appToken, {
        name: `removal-${n}`,
        description: 'bench',
        owner: group[0],
        members: group.slice(1),
      })
    ).data.id as string;
    for (let m = 1; m <= 5; m++) {
      const metaData: Record<string, string> = {};
      for (let k = 0; k < 10; k++) metaData[`${group[m]}.r${k}`] = `value-${k}`;
      await must(t.url, 'PUT', `${A}/metadata/chatroom/${room}/user/${group[m]}`, tokens[group[m]!]!, { metaData, autoDelete: 'DELETE' });
    }
    const started = performance.now();
    await must(t.url, 'DELETE', `${A}/chatrooms/${room}/users/${group[1]}`, appToken);
    times.push(performance.now() - started);
    const left = Object.keys((await must(t.url, 'POST', `${A}/metadata/chatroom/${room}`, appToken, {})).data as object);
    if (left.length !== 40 || left.some((k) => k.startsWith(`${group[1]}.`)))
      throw new Error(`${t.name}: removal left ${left.length} keys`);
  }
  log(`${t.name}: member removal median ${f2(median(times))} ms`);
  return times;
}

async function profileMode(): Promise<void> {
  const workloads = opts.profile!.split(',') as Workload[];
  // Outside the scratch dir: the raw profiles stay for chrome://inspect or speedscope.
  const profDir = mkdtempSync(join(tmpdir(), 'roomkv-bench-profiles-'));
  const store = opts['profile-store'];
  if (store !== 'sqlite' && store !== 'redis') throw new Error(`--profile-store: sqlite or redis, not ${store}`);
  const lines = [
    `# roomkv CPU profiles (${store === 'redis' ? 'Redis' : 'SQLite'})`,
    '',
    ...machine(),
    `- each: a fresh ${store === 'redis' ? 'Redis' : 'SQLite'} target with the benchmark's data, restarted with \`node --cpu-prof\`, one ${WARMUP} s + ${DURATION} s run ` +
      `of ${CONNECTIONS} connections, stopped with SIGINT; only the samples of that run count (not start-up, seeding or token priming); self time by function, as a share of the non-idle samples. ` +
      'After each, the baseline under the same load, profiled the same way; "µs busy a call" is the main thread\'s busy time over the calls of the run, warm-up included.',
  ];
  // With --compare, each workload is profiled in the earlier build too, right after this one's.
  const runs = workloads.flatMap((w) => [{ w, name: `profile-${w}` }, ...(opts.compare ? [{ w, name: `profile-${w}-before` }] : [])]);
  for (const { w, name } of runs) {
    const t = await startRoomkv(name, store, false);
    await stopProcess(t.child);
    const dir = join(profDir, name);
    mkdirSync(dir, { recursive: true });
    await restartRoomkv(t, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    await primeTokens(t);
    if (w === 'delete') await refillDeletable(t);
    const loadStart = performance.now();
    const result = await runLoadOnce(t, w, 0, false);
    await stopProcess(t.child, 'SIGINT');
    // The profile covers the whole process: keep only the samples of the run (and the shutdown).
    const windowMs = performance.now() - loadStart;
    // One profile per thread: the main thread's (thread id 0) first, then the SQLite writer's.
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort((a, b) => Number(/\.0\.\d+\.cpuprofile$/.test(b)) - Number(/\.0\.\d+\.cpuprofile$/.test(a)));
    if (files.length === 0) throw new Error(`no profile written in ${dir}`);
    lines.push(
      '',
      `## ${w}${name.endsWith('-before') ? ` (the earlier build, ${compareBuild()})` : ''}: ${f0(result.rps)} req/s, p99 ${f1(result.p99)} ms`,
    );
    files.forEach((file, i) => {
      if (files.length > 1) lines.push('', i === 0 ? '### the main thread' : `### another thread (the SQLite writer): ${file}`);
      lines.push('', ...summarizeProfile(join(dir, file), ROOT, 25, windowMs, result.issued));
    });
    // The baseline under the same load, profiled the same way: what any Fastify server pays a call.
    const bdir = join(profDir, `${name}-baseline`);
    mkdirSync(bdir, { recursive: true });
    const base = await startProcess(
      'profile-baseline',
      ['--cpu-prof', `--cpu-prof-dir=${bdir}`, '--import', 'tsx', 'bench/baseline-server.ts'],
      {},
    );
    const bt: Target = { name: 'profile-baseline', kind: 'baseline', ...base, roomIds: t.roomIds };
    const bStart = performance.now();
    const bResult = await runLoadOnce(bt, w, 0, false);
    await stopProcess(bt.child, 'SIGINT');
    const bWindowMs = performance.now() - bStart;
    // tsx runs a loader thread of its own: keep the main thread's profile (thread id 0).
    const bfile = readdirSync(bdir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!bfile) throw new Error(`no baseline profile written in ${bdir}`);
    lines.push(
      '',
      `### ${w}, the baseline under the same load: ${f0(bResult.rps)} req/s, p99 ${f1(bResult.p99)} ms`,
      '',
      ...summarizeProfile(join(bdir, bfile), ROOT, 10, bWindowMs, bResult.issued),
    );
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'profile-latest.md'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  console.log(`\n(written to ${join(RESULTS, 'profile-latest.md')}; raw profiles in ${profDir})`);
}

// ---------------------------------------------------------------- change events (--live)

/** bench/listeners.ts, driven over IPC: event streams to every room and a webhook endpoint. */
class Listener {
  private constructor(
    private readonly child: ChildProcess,
    readonly webhookPort: number,
  ) {}

  static async start(): Promise<Listener> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/listeners.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const [ready] = (await once(child, 'message')) as [{ webhookPort: number }];
    return new Listener(child, ready.webhookPort);
  }

  private ask<T>(msg: Record<string, unknown>, reply: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string } & Record<string, unknown>) => {
        if (m.type !== reply) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`the event listener exited with ${code}`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(msg);
    });
  }

  async subscribe(t: Target): Promise<number> {
    return (
      await this.ask<{ streams: number }>({ type: 'subscribe', url: t.url, path: A, roomIds: t.roomIds, token: appToken }, 'subscribed')
    ).streams;
  }

  async reset(): Promise<void> {
    await this.ask({ type: 'reset' }, 'reset');
  }

  async report(): Promise<ListenerReport> {
    return (await this.ask<{ report: ListenerReport }>({ type: 'report' }, 'report')).report;
  }

  stop(): void {
    if (this.child.connected) this.child.send({ type: 'stop' });
  }
}

/** How long after a run its last events may take to arrive before they count as lost. */
const DELIVERY_WAIT_MS = 60_000;

interface Delivery {
  acknowledged: number;
  report: ListenerReport;
  allInMs: number;
}

/** Waits until both channels have every acknowledged write's event (or the wait is over). */
async function awaitDelivery(l: Listener, acknowledged: number): Promise<Delivery> {
  const started = performance.now();
  for (;;) {
    const report = await l.report();
    const done = report.sse.events >= acknowledged && report.webhook.events >= acknowledged;
    if (done || performance.now() - started > DELIVERY_WAIT_MS) {
      return { acknowledged, report, allInMs: done ? performance.now() - started : NaN };
    }
    await sleep(100);
  }
}

/** Waits until the webhook endpoint has taken the events of loading the data (none still arriving for 2 s). */
async function settle(l: Listener): Promise<void> {
  let last = -1;
  let still = 0;
  while (still < 10) {
    const n = (await l.report()).webhook.requests;
    still = n === last ? still + 1 : 0;
    last = n;
    await sleep(200);
  }
}

/** --webhook-batch=maxEvents,maxDelayMs as the endpoint's `batch`; null without it. */
function webhookBatch(): { maxEvents: number; maxDelayMs: number } | null {
  const given = opts['webhook-batch'];
  if (given === undefined) return null;
  const [maxEvents, maxDelayMs] = given.split(',').map(Number);
  if (!Number.isInteger(maxEvents) || !Number.isInteger(maxDelayMs)) throw new Error(`--webhook-batch: maxEvents,maxDelayMs, not ${given}`);
  return { maxEvents: maxEvents!, maxDelayMs: maxDelayMs! };
}

async function startLiveRoomkv(name: string, kind: 'sqlite' | 'redis'): Promise<Target> {
  const listener = await Listener.start();
  const file = join(work, `apps-${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      apps: [
        {
          ...bench,
          webhooks: [
            {
              url: `http://127.0.0.1:${listener.webhookPort}/hook`,
              secret: randomBytes(16).toString('hex'),
              ...(webhookBatch() ? { batch: webhookBatch() } : {}),
            },
          ],
        },
      ],
    }),
  );
  const profileDir = opts['live-profile'];
  const t = await startRoomkv(name, kind, false, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`] : [], file);
  t.listener = listener;
  const streams = await listener.subscribe(t);
  if (streams !== ROOMS) throw new Error(`${name}: ${streams} of ${ROOMS} event streams sent their first message`);
  await settle(listener);
  log(`${name}: ${streams} event streams open, webhook endpoint on port ${listener.webhookPort}`);
  return t;
}

async function liveMode(): Promise<void> {
  const redisVersion = await redisInfo();
  const loadBefore = loadavg()[0]!;
  const w: Workload = 'set';
  const targets: Target[] = [await startBaseline()];
  for (const kind of ['sqlite', 'redis'] as const) {
    if (kind === 'redis' && !redisVersion) continue;
    targets.push(await startRoomkv(kind, kind, false), await startLiveRoomkv(`${kind}-live`, kind));
    // The earlier build's pair, named so that restartRoomkv runs it from the --compare folder.
    if (opts.compare) targets.push(await startRoomkv(`${kind}-before`, kind, false), await startLiveRoomkv(`${kind}-live-before`, kind));
  }
  const cells = new Map<string, Cell & { quiet: number[] }>();
  const deliveries = new Map<string, Delivery[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const got = new Map<string, LoadResult>();
    for (const t of roundOrder(targets, round)) {
      if (t.listener) await t.listener.reset();
      const r = await runLoad(t, w, round);
      got.set(t.name, r);
      if (t.listener) {
        const d = await awaitDelivery(t.listener, r.acknowledgedWrites);
        log(
          `${t.name}: ${d.acknowledged} writes acknowledged; streams got ${d.report.sse.events}, the webhook ${d.report.webhook.events}` +
            ` (all in ${f0(d.allInMs)} ms after the run)`,
        );
        deliveries.set(t.name, [...(deliveries.get(t.name) ?? []), d]);
      }
    }
    const base = got.get('baseline')!.rps;
    for (const t of targets) {
      const c = cells.get(t.name) ?? { runs: [], ratios: [], quiet: [] };
      const r = got.get(t.name)!;
      c.runs.push(r);
      c.ratios.push(r.rps / base);
      if (t.listener) c.quiet.push(r.rps / got.get(t.name.replace('-live', ''))!.rps);
      cells.set(t.name, c);
    }
  }
  for (const t of targets) t.peakRssMb = peakRssMb(t.child);

  const lines = [
    '# roomkv benchmark: change events',
    '',
    ...machine(),
    ...setup(redisVersion),
    `- live: the "-live" targets are the same servers with their change events consumed: one event stream (SSE, app token) per room, ` +
      `${ROOMS.toLocaleString('en-US')} in all, and one webhook endpoint declared for the app that answers 200 at once` +
      `${webhookBatch() ? ` (batching: ${JSON.stringify(webhookBatch())})` : ' (one event a POST)'}; both run in one ` +
      'other process (bench/listeners.ts) on the same machine, so their CPU is taken from the same two cores. ' +
      'Each run of `set` is followed by a wait for its events: every answer that stored a key (probe, warm-up and run) must have ' +
      `its event arrive on both channels within ${DELIVERY_WAIT_MS / 1000} s, with no seq of a room skipped. A few more events than ` +
      `acknowledged writes are expected: the calls in flight when the load generator stops (up to one per connection, after the warm-up and ` +
      `after the run) are carried out, but their answers are not read.`,
    loadLine(loadBefore, loadavg()[0]!),
    `- server peak RSS: ${targets.map((t) => `${t.name} ${f0(t.peakRssMb!)} MB`).join(', ')}`,
    ...(opts.compare ? [`- "-before" targets: the same servers built from ${compareBuild()}, in the same rounds`] : []),
    '',
    '| workload | target | req/s | p50 ms | p99 ms | errors | non-2xx | per-key errors | server CPU µs/req | server busy | ratio to baseline | live / without |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of targets) {
    const c = cellFigures(cells.get(t.name)!);
    const quiet = cells.get(t.name)!.quiet;
    lines.push(
      `| ${w} | ${t.name} | ${f0(c.rps)} | ${f1(c.p50)} | ${f1(c.p99)} | ${c.errors} | ${c.non2xx} | ${c.perKey} | ${f0(c.cpuUs)} | ${f0(c.busy)}% | ` +
        `${t.kind === 'baseline' ? '1.00' : f2(c.ratio)} | ${quiet.length > 0 ? f2(median(quiet)) : ''} |`,
    );
  }
  lines.push(
    '',
    '| target | round | writes acknowledged | stream events | lost | duplicates | out of order | stream delay p50 / p99 / max ms ' +
      '| webhook events | lost | duplicates | out of order | webhook delay p50 / p99 / max ms | all arrived after the run, ms | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|',
  );
  const lost: string[] = [];
  for (const [name, ds] of deliveries) {
    ds.forEach((d, i) => {
      const s = d.report.sse;
      const h = d.report.webhook;
      const sLost = Math.max(0, d.acknowledged - s.events);
      const hLost = Math.max(0, d.acknowledged - h.events);
      // Beyond the acknowledged writes, at most the calls still in flight when the load generator stopped
      // (one per connection, after the warm-up and after the run): done, but their answers unread.
      const extraOk = (n: number) => n - d.acknowledged <= 2 * CONNECTIONS;
      const ok = sLost === 0 && hLost === 0 && s.gaps === 0 && h.gaps === 0 && extraOk(s.events) && extraOk(h.events);
      if (!ok) lost.push(`${name} round ${i + 1}`);
      lines.push(
        `| ${name} | ${i + 1} | ${f0(d.acknowledged)} | ${f0(s.events)} | ${sLost} | ${s.duplicates} | ${s.gaps} | ${f0(s.lagP50)} / ${f0(s.lagP99)} / ${f0(s.lagMax)} ` +
          `| ${f0(h.events)} | ${hLost} | ${h.duplicates} | ${h.gaps} | ${f0(h.lagP50)} / ${f0(h.lagP99)} / ${f0(h.lagMax)} | ${f0(d.allInMs)} | ${ok ? 'ok' : '**EVENTS MISSING OR EXTRA**'} |`,
      );
    });
  }
  lines.push(
    '',
    lost.length === 0
      ? "Every acknowledged write's event reached its room's stream subscriber and the webhook endpoint, in seq order, none skipped."
      : `Events missing or extra: ${lost.join(', ')}.`,
  );
  for (const t of targets) t.listener?.stop();
  await finish(targets, 'latest-live.md', lines);
}

async function finish(targets: Target[], file: string, lines: string[]): Promise<void> {
  for (const t of targets) await stopProcess(t.child);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, file), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  console.log(`\n(written to ${join(RESULTS, file)})`);
}

// ---------------------------------------------------------------- main

async function cleanup(): Promise<void> {
  for (const c of live) c.kill('SIGKILL');
  const prefixes = readdirSync(work)
    .filter((f) => f.endsWith('-seed.json'))
    .map((f) => (JSON.parse(readFileSync(join(work, f), 'utf8')) as SeedSpec).redisPrefix)
    .filter((p): p is string => p !== undefined);
  for (const p of prefixes) await dropRedisPrefix(p).catch((err: Error) => log(`could not drop ${p}*: ${err.message}`));
  rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

try {
  if (!opts['no-build']) {
    log('npm run build');
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('npm run build failed');
  }
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run npm run build');
  if (opts.compare && !existsSync(join(ROOT, opts.compare, 'cli.js'))) throw new Error(`--compare: no cli.js in ${opts.compare}`);
  if (opts.profile) await profileMode();
  else if (opts.scale) await scaleMode();
  else if (opts.live) await liveMode();
  else await benchMode();
  await cleanup();
  process.exit(0);
} catch (err) {
  console.error(err);
  await cleanup();
  process.exit(1);
}
