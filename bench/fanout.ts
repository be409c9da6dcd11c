/**
 * `npm run bench -- --fanout`: one room, many subscribers. roomkv from dist/ in its own process
 * (one instance on SQLite, and two instances on one Redis with the subscribers split between
 * them), the subscribers in load processes of their own (bench/fanout-load.ts), and a writer that
 * sets a key of the room at a steady rate, each write carrying the time it was sent. Every event is
 * counted on every connection (none lost, none doubled, in order); a delivery's delay is its arrival
 * minus its write's send time. Server CPU (from /proc) is divided by the deliveries. Then idle
 * connections: the server's memory before and after they connect. A missed delay target is followed
 * by a CPU profile of the server under that load. Results: bench/results/fanout.md.
 *
 * Options: --subscribers=1000,10000 (0: no fan-out runs) --rates=5,20 --duration=10 --transports=sse,ws --idle=50000 (0: none)
 *          --idle-heap (heap snapshots of the idle runs' server: what each connection holds, by kind of object)
 *          --setups=one,two (one: one instance on SQLite; two: two instances on Redis)
 *          --redis-url=... (default: a redis-server started for the run, so that its CPU is the run's alone)
 *          --no-build --no-profile --out=DIR
 *          --compare=dist-before (another commit's `npm run build`, copied beside dist/): every run and idle
 *          measurement is made with it too, right after the same one with dist/: before/after figures
 *          from the same run, on the same machine load
 */
import agoraToken from 'agora-token';
import { Redis } from 'ioredis';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { collectedRssKb } from './collect.js';
import { freePort, sleep } from './common.js';
import type { LoadReport } from './fanout-load.js';
import { heapDiff } from './heap-diff.js';
import { renderReport, type Build, type IdleResult, type ProfileResult, type RunResult, type Setup } from './fanout-report.js';
import {
  LoadProcess,
  children,
  cpuMs,
  hardFileLimit,
  must,
  rssKb,
  startServer,
  stopProcess,
  writeAtRate,
  type Server,
} from './fanout-targets.js';
import { summarizeProfile } from './profile-summary.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ORG = 'bench';
const APP = 'fanout';
const OWNER = 'owner';
/** How long after its last write a run's events may take to arrive before they count as lost. */
const DELIVERY_WAIT_MS = 30_000;
/**
 * Connections a load process holds at most: below its open-files limit, and few enough that the
 * subscribers of a 10,000-room are read by two processes, which take the cores the server leaves.
 */
const PER_LOAD_PROCESS = 5_000;
/** The delay target of the issue: p99 at 20 writes/s to 10,000 subscribers. */
const P99_TARGET_MS = 150;

const { values: opts } = parseArgs({
  options: {
    fanout: { type: 'boolean', default: true },
    subscribers: { type: 'string', default: '1000,10000' },
    rates: { type: 'string', default: '5,20' },
    duration: { type: 'string', default: '10' },
    transports: { type: 'string', default: 'sse,ws' },
    idle: { type: 'string', default: '50000' },
    setups: { type: 'string', default: 'one,two' },
    'redis-url': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    /** Heap snapshots of the idle runs' server before and after, and what grew between them by kind of object. */
    'idle-heap': { type: 'boolean', default: false },
    out: { type: 'string' },
    compare: { type: 'string' },
  },
  strict: true,
});
const SUBSCRIBERS = opts.subscribers!.split(',').map(Number);
const RATES = opts.rates!.split(',').map(Number);
const DURATION = Number(opts.duration);
const TRANSPORTS = opts.transports!.split(',') as Array<'sse' | 'ws'>;
const IDLE = Number(opts.idle);
const SETUPS = opts.setups!.split(',') as Setup[];
/** The Redis of the two-instance setup: --redis-url, or one started for the run (its CPU is then the run's alone). */
let redisUrl = opts['redis-url'] ?? process.env.ROOMKV_BENCH_REDIS_URL;
let ownRedis = false;
const RESULTS = opts.out ?? join(ROOT, 'bench', 'results');
/** The builds measured: dist/, and with --compare the one to compare it with, each run right after dist/'s. */
const BUILDS: Build[] = [{ label: 'this', dist: 'dist' }, ...(opts.compare ? [{ label: 'before' as const, dist: opts.compare }] : [])];
const COMMAND = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
for (const t of TRANSPORTS) if (t !== 'sse' && t !== 'ws') throw new Error(`--transports: sse and/or ws, not ${t}`);
for (const s of SETUPS) if (s !== 'one' && s !== 'two') throw new Error(`--setups: one and/or two, not ${s}`);

// Not /tmp/roomkv-*: the test runner takes any new entry there for a test's leftover, and tests run beside benchmarks.
const work = mkdtempSync(join(tmpdir(), 'rkbench-fanout-'));
const app = {
  org: ORG,
  app: APP,
  appId: randomBytes(16).toString('hex'),
  appCertificate: randomBytes(16).toString('hex'),
  clientId: 'fanout-client',
  clientSecret: randomBytes(16).toString('hex'),
  // Lifted for the benchmark: opening a stream spends one call, and 10,000 open at once.
  limits: { rateLimitPerSecond: 1_000_000_000 },
};
const appsFile = join(work, 'apps.json');
writeFileSync(appsFile, JSON.stringify({ apps: [app] }));
const token = agoraToken.ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, 86_400);
const A = `/${ORG}/${APP}`;
const METRICS_TOKEN = randomBytes(16).toString('hex');
const redisPrefixes: string[] = [];
/** Each group of connections takes fresh source addresses: a closed one's ports wait in TIME_WAIT. */
let nextAddress = 2;

function log(msg: string): void {
  process.stderr.write(`[fanout ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The server's settings: the stream and connection caps raised past what the benchmark opens. */
function serverEnv(store: 'sqlite' | 'redis', prefix?: string): Record<string, string> {
  return {
    ROOMKV_DATA_DIR: mkdtempSync(join(work, 'data-')),
    ROOMKV_APPS_FILE: appsFile,
    ROOMKV_LOG_LEVEL: 'warn',
    ROOMKV_MAX_CONNECTIONS: '1000000',
    ROOMKV_MAX_STREAMS_PER_APP: '1000000',
    ROOMKV_MAX_STREAMS_PER_USER: '1000000',
    ROOMKV_METRICS_TOKEN: METRICS_TOKEN,
    ...(store === 'redis' ? { ROOMKV_STORE: 'redis', ROOMKV_REDIS_URL: redisUrl!, ROOMKV_REDIS_PREFIX: prefix! } : {}),
  };
}

/** The servers of a setup, and the benchmark's room made through the first. */
async function startSetup(setup: Setup, build: Build = BUILDS[0]!, nodeArgs: string[] = []): Promise<{ servers: Server[]; room: string }> {
  const servers: Server[] = [];
  if (setup === 'one') servers.push(await startServer(ROOT, work, 'one', serverEnv('sqlite'), nodeArgs, build.dist));
  else {
    const prefix = `rkfanout:${randomBytes(4).toString('hex')}:`;
    redisPrefixes.push(prefix);
    for (const name of ['two-a', 'two-b'])
      servers.push(await startServer(ROOT, work, name, serverEnv('redis', prefix), nodeArgs, build.dist));
  }
  const url = servers[0]!.url;
  await must(url, 'POST', `${A}/users`, token, { username: OWNER, password: 'owner-password' });
  const room = (await must(url, 'POST', `${A}/chatrooms`, token, { name: 'fanout', description: 'bench', owner: OWNER })).data.id as string;
  return { servers, room };
}

/** `count` subscribers split over the servers, each server's share over load processes; resolves when all have a snapshot. */
async function subscribe(
  servers: Server[],
  room: string,
  transport: 'sse' | 'ws',
  count: number,
): Promise<{ loads: LoadProcess[]; seq: number }> {
  const loads: LoadProcess[] = [];
  const started = performance.now();
  const plans = servers.flatMap((server, s) => {
    const share = Math.floor(count / servers.length) + (s < count % servers.length ? 1 : 0);
    const procs = Math.max(1, Math.ceil(share / PER_LOAD_PROCESS));
    return Array.from({ length: procs }, (_, p) => ({ server, n: Math.floor(share / procs) + (p < share % procs ? 1 : 0) }));
  });
  const results = await Promise.all(
    plans.map(({ server, n }) => {
      const load = LoadProcess.start(ROOT);
      loads.push(load);
      const firstAddress = nextAddress;
      nextAddress = nextAddress + 2 > 250 ? 2 : nextAddress + 2;
      return load.connect({ transport, port: server.port, path: A, room, token, count: n, firstAddress, addresses: 2, window: 200 });
    }),
  );
  const ready = results.reduce((a, r) => a + r.ready, 0);
  const failures = results.flatMap((r) => r.failures);
  const seqs = new Set(results.flatMap((r) => (r.ready > 0 ? r.seqs : [])));
  if (ready !== count)
    throw new Error(`${ready} of ${count} ${transport} subscribers got their snapshot; failures: ${failures.join('; ')}`);
  if (seqs.size !== 1) throw new Error(`the subscribers' snapshots are at different seqs: ${[...seqs].join(', ')}`);
  log(`${count} ${transport} subscribers on ${servers.length} instance(s) in ${Math.round(performance.now() - started)} ms`);
  return { loads, seq: [...seqs][0]! };
}

/** Merged reports of every load process. */
async function reportAll(loads: LoadProcess[], target: number, full: boolean): Promise<LoadReport> {
  const reports = await Promise.all(loads.map((l) => l.report(target, full)));
  const hist = new Map<number, number>();
  for (const r of reports) for (const [b, n] of r.histogram) hist.set(b, (hist.get(b) ?? 0) + n);
  const sum = (f: (r: LoadReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  return {
    connections: sum((r) => r.connections),
    ended: sum((r) => r.ended),
    received: sum((r) => r.received),
    duplicates: sum((r) => r.duplicates),
    gaps: sum((r) => r.gaps),
    behind: sum((r) => r.behind),
    ahead: sum((r) => r.ahead),
    histogram: [...hist].sort((a, b) => a[0] - b[0]),
    maxMs: Math.max(...reports.map((r) => r.maxMs)),
    cpuMs: sum((r) => r.cpuMs),
  };
}

/** The delay at percentile p of a histogram of 0.1 ms buckets (the bucket's upper edge). */
function percentileOf(hist: Array<[number, number]>, p: number): number {
  const total = hist.reduce((a, [, n]) => a + n, 0);
  let seen = 0;
  for (const [b, n] of hist) {
    seen += n;
    if (seen >= (p / 100) * total) return (b + 1) / 10;
  }
  return NaN;
}

async function redisCpuMs(): Promise<number> {
  const r = new Redis(redisUrl!, { maxRetriesPerRequest: 1 });
  try {
    const info = await r.info('cpu');
    const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    return (v('used_cpu_sys') + v('used_cpu_user')) * 1000;
  } finally {
    r.disconnect();
  }
}

/** One run: `rate` writes a second for DURATION s, then every subscriber's last event awaited. */
async function measure(
  build: Build,
  setup: Setup,
  servers: Server[],
  loads: LoadProcess[],
  room: string,
  seq: number,
  transport: 'sse' | 'ws',
  subscribers: number,
  rate: number,
): Promise<RunResult> {
  await Promise.all(loads.map((l) => l.reset()));
  const cpu0 = servers.map((s) => cpuMs(s.child.pid!));
  const redis0 = setup === 'two' ? await redisCpuMs() : NaN;
  const writes = await writeAtRate(
    servers.map((s) => s.url),
    `${A}/metadata/chatroom/${room}`,
    OWNER,
    token,
    rate,
    DURATION,
  );
  const target = seq + writes.acknowledged;
  const waitFrom = performance.now();
  let progress = await reportAll(loads, target, false);
  while (progress.behind > 0 && performance.now() - waitFrom < DELIVERY_WAIT_MS) {
    await sleep(50);
    progress = await reportAll(loads, target, false);
  }
  const allInAt = performance.now();
  const serverCpuMs = servers.reduce((a, s, i) => a + cpuMs(s.child.pid!) - cpu0[i]!, 0);
  const redisMs = setup === 'two' ? (await redisCpuMs()) - redis0 : NaN;
  const r = await reportAll(loads, target, true);
  const windowMs = allInAt - writes.firstAt;
  const result: RunResult = {
    build: build.label,
    setup,
    transport,
    subscribers,
    rate,
    durationS: DURATION,
    writes: writes.sent,
    acknowledged: writes.acknowledged,
    writeFailures: writes.failures.slice(0, 3),
    expected: writes.acknowledged * subscribers,
    delivered: r.received,
    duplicates: r.duplicates,
    gaps: r.gaps,
    behind: r.behind,
    ahead: r.ahead,
    ended: r.ended,
    p50: percentileOf(r.histogram, 50),
    p99: percentileOf(r.histogram, 99),
    max: r.maxMs,
    deliveriesPerS: r.received / (windowMs / 1000),
    serverCpuMs,
    windowMs,
    allInAfterMs: allInAt - writes.lastAt,
    loadCpuMs: r.cpuMs,
    redisCpuMs: redisMs,
  };
  log(
    `${build.label}: ${setup} ${transport} ${subscribers} subs ${rate}/s: ${r.received}/${result.expected} delivered, p50 ${result.p50} p99 ${result.p99} max ${Math.round(r.maxMs)} ms, ` +
      `server CPU ${((serverCpuMs * 1000) / Math.max(1, r.received)).toFixed(2)} µs/delivery, dup ${r.duplicates} gaps ${r.gaps} behind ${r.behind}`,
  );
  return result;
}

async function fanoutRuns(): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const setup of SETUPS) {
    for (const n of SUBSCRIBERS) {
      if (n === 0) continue;
      for (const transport of TRANSPORTS) {
        for (const build of BUILDS) {
          const { servers, room } = await startSetup(setup, build);
          const { loads, seq: first } = await subscribe(servers, room, transport, n);
          let seq = first;
          for (const rate of RATES) {
            const r = await measure(build, setup, servers, loads, room, seq, transport, n, rate);
            results.push(r);
            seq += r.acknowledged;
          }
          await Promise.all(loads.map((l) => l.stop()));
          for (const s of servers) await stopProcess(s.child);
        }
      }
    }
  }
  return results;
}

/** Server memory before and after `wanted` idle subscribers connect (as many as one process may hold). */
async function idleRun(build: Build, transport: 'sse' | 'ws', wanted: number): Promise<IdleResult> {
  const limit = hardFileLimit();
  const count = Math.min(wanted, limit - 500);
  const warm = Math.min(500, Math.floor(count / 10));
  const heapDir = opts['idle-heap'] ? mkdtempSync(join(work, `heap-${transport}-`)) : null;
  const nodeArgs = heapDir === null ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`];
  // The inspector, on loopback, for full collections at the readings (collected()).
  const inspectPort = await freePort();
  nodeArgs.push(`--inspect=127.0.0.1:${inspectPort}`);
  const { servers, room } = await startSetup('one', build, nodeArgs);
  const server = servers[0]!;
  const first = await subscribe(servers, room, transport, warm);
  await sleep(2000);
  const before = { rssKb: rssKb(server.child.pid!), heap: await heapUsed(server) };
  const collectedBefore = await collected(server, inspectPort);
  const heapBefore = heapDir === null ? null : await heapSnapshot(server, heapDir);
  const rest = await subscribe(servers, room, transport, count - warm);
  await sleep(5000);
  const after = { rssKb: rssKb(server.child.pid!), heap: await heapUsed(server) };
  const collectedAfter = await collected(server, inspectPort);
  const heapAfter = heapDir === null ? null : await heapSnapshot(server, heapDir);
  await Promise.all([...first.loads, ...rest.loads].map((l) => l.stop()));
  await stopProcess(server.child);
  const result: IdleResult = {
    build: build.label,
    transport,
    wanted,
    connected: count,
    fileLimit: limit,
    measured: count - warm,
    before,
    after,
    collected: { before: collectedBefore, after: collectedAfter },
    ...(heapBefore !== null && heapAfter !== null ? { heapDiff: heapDiff(heapBefore, heapAfter, count - warm, 20) } : {}),
  };
  const perConnection = (a: { rssKb: number }, b: { rssKb: number }) => (((a.rssKb - b.rssKb) * 1024) / (count - warm) / 1000).toFixed(1);
  log(
    `${build.label}: idle ${transport}: ${count} connections, ${perConnection(after, before)} KB RSS each as read, ` +
      `${perConnection(collectedAfter, collectedBefore)} once collected`,
  );
  return result;
}

/**
 * The server's RSS and heap after a full garbage collection, asked of its inspector (the
 * DevTools protocol's HeapProfiler.collectGarbage, bench/collect.ts): what the process holds,
 * without what V8 has not collected or given back yet (it does, on its own schedule: a quiet server
 * of 19,000 WebSockets was seen to do it after about 95 s).
 */
async function collected(server: Server, inspectPort: number): Promise<{ rssKb: number; heap: number }> {
  return { rssKb: await collectedRssKb(server.child.pid!, inspectPort), heap: await heapUsed(server) };
}

/**
 * A heap snapshot of the server (started with --heapsnapshot-signal=SIGUSR2 and --diagnostic-dir=dir):
 * the file's path once it is written (the server answers again and the file stops growing).
 */
async function heapSnapshot(server: Server, dir: string): Promise<string> {
  const had = new Set(readdirSync(dir));
  server.child.kill('SIGUSR2');
  const deadline = Date.now() + 120_000;
  let file: string | undefined;
  let size = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no heap snapshot of ${server.name} in ${dir}`);
    await sleep(500);
    file ??= readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !had.has(f));
    if (file === undefined) continue;
    // The snapshot is written on the main thread: an answer means it is done, if the size holds too.
    await fetch(`${server.url}/healthz`);
    const now = statSync(join(dir, file)).size;
    if (now > 0 && now === size) return join(dir, file);
    size = now;
  }
}

async function heapUsed(server: Server): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  const m = /^roomkv_nodejs_heap_size_used_bytes (\S+)$/m.exec(await res.text());
  return m ? Number(m[1]) : NaN;
}

/**
 * A CPU profile under the run that missed its delay target: of the one instance, or of the first
 * of two (which delivers half the events).
 */
async function profileRun(setup: Setup, transport: 'sse' | 'ws', subscribers: number, rate: number): Promise<ProfileResult> {
  const dir = mkdtempSync(join(work, `profile-${setup}-${transport}-`));
  const { servers, room } = await startSetup(setup, BUILDS[0]!, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const { loads, seq } = await subscribe(servers, room, transport, subscribers);
  const started = performance.now();
  const run = await measure(BUILDS[0]!, setup, servers, loads, room, seq, transport, subscribers, rate);
  await Promise.all(loads.map((l) => l.stop()));
  for (const s of servers) await stopProcess(s.child, 'SIGINT');
  const windowMs = performance.now() - started;
  const pid = servers[0]!.child.pid!;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.split('.').includes(String(pid)));
  if (!file) throw new Error(`no profile of ${pid} written in ${dir}`);
  const calls = Math.round(run.delivered / servers.length);
  return { setup, transport, subscribers, rate, run, summary: summarizeProfile(join(dir, file), ROOT, 20, windowMs, calls) };
}

/** A redis-server of the run's own, on a free port, no persistence; stopped with the rest. */
async function startRedis(): Promise<string> {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.ping();
      return url;
    } catch {
      await sleep(100);
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`redis-server did not answer on ${url}`);
}

async function dropRedisPrefix(prefix: string): Promise<void> {
  const r = new Redis(redisUrl!, { maxRetriesPerRequest: 1 });
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

async function cleanup(): Promise<void> {
  // A Redis of the run's own goes with its keys; in another Redis the run's keys are deleted.
  if (!ownRedis) for (const p of redisPrefixes) await dropRedisPrefix(p).catch((err: Error) => log(`could not drop ${p}*: ${err.message}`));
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

export async function fanoutMain(): Promise<number> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().then(() => process.exit(130)));
  // However it ends, no process or temp folder stays behind (the Redis keys need the async cleanup).
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
  try {
    if (!opts['no-build']) {
      log('npm run build');
      if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
    }
    if (SETUPS.includes('two') && redisUrl === undefined) {
      redisUrl = await startRedis();
      ownRedis = true;
    }
    const loadBefore = loadavg()[0]!;
    const runs = await fanoutRuns();
    const idle: IdleResult[] = [];
    if (IDLE > 0) for (const t of TRANSPORTS) for (const b of BUILDS) idle.push(await idleRun(b, t, IDLE));
    const profiles: ProfileResult[] = [];
    const top = Math.max(...SUBSCRIBERS);
    const fastest = Math.max(...RATES);
    if (!opts['no-profile']) {
      for (const setup of SETUPS) {
        for (const t of TRANSPORTS) {
          const r = runs.find(
            (x) => x.build === 'this' && x.setup === setup && x.transport === t && x.subscribers === top && x.rate === fastest,
          );
          if (r && !(r.p99 < P99_TARGET_MS && r.delivered === r.expected)) profiles.push(await profileRun(setup, t, top, fastest));
        }
      }
    }
    const lines = renderReport({
      command: COMMAND,
      root: ROOT,
      loadBefore,
      loadAfter: loadavg()[0]!,
      redisUrl: redisUrl ?? '',
      runs,
      idle,
      profiles,
      p99TargetMs: P99_TARGET_MS,
    });
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'fanout.md'), `${lines.join('\n')}\n`);
    console.log(lines.join('\n'));
    console.log(`\n(written to ${join(RESULTS, 'fanout.md')})`);
    await cleanup();
    return 0;
  } catch (err) {
    console.error(err);
    await cleanup();
    return 1;
  }
}
