/**
 * `npm run bench:store-writes`: the Redis write path alone, without HTTP, in two builds side by
 * side: `dist/` (this tree, `npm run build`) and `--compare=<folder>` (another commit's build, as
 * `npm run bench -- --compare` takes it). Each round runs each build in a fresh child process
 * against one redis-server started here (free port, temp folder, removed at the end), with the
 * access pattern of `npm run bench`'s write workloads (bench/load.ts): 100 rooms x 10 members;
 * set: a member sets its two keys; forced-set: a member forces two of the owner's keys; delete: a
 * member deletes one of its own keys. Calls are issued 32 at a time, rooms in turn.
 *
 * What it reports per workload and build: calls a second, roomkv's CPU a call (process.cpuUsage of
 * the child, user + system, over the measured calls), Redis's CPU a call (INFO cpu) and the part of it
 * spent running scripts (INFO commandstats: Redis's own clock around each script, so without the
 * socket work that makes the rest, and far steadier), medians of the rounds. It tells whether a write-path change costs CPU where the HTTP benchmark's noise on a
 * 2-core machine cannot. Results: bench/results/store-writes.md.
 *
 * STORE_WRITES_PROFILE=<file> with `--child` writes a CPU profile of the measured calls.
 *
 * Options: --build=dist (or another build's folder) --compare=dist-before --rounds=3 --calls=20000 --workloads=set,forced-set,delete
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './common.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'store-writes.md');
const ROOMS = 100;
const MEMBERS = 10;
const CONCURRENCY = 32;
const WORKLOADS = ['set', 'forced-set', 'delete'] as const;
type Workload = (typeof WORKLOADS)[number];

interface RunResult {
  /** Plans made again (the rules-once write path's count; null for a build without it). */
  replans: number | null;
  calls: number;
  callsPerSec: number;
  cpuUsPerCall: number;
  /** The part of it spent in the kernel (the socket writes and reads). */
  sysUsPerCall: number;
  /** Keys written (set) or removed (delete) a call. */
  keysPerCall: number;
  redisUsPerCall: number;
  /** The part of Redis's CPU spent running the calls' scripts (INFO commandstats, EVALSHA and EVAL). */
  scriptUsPerCall: number;
}

// ---- the child: one build, one workload, one fresh prefix

async function child(build: string, workload: Workload, calls: number, url: string, prefix: string): Promise<void> {
  const mod = (p: string) => import(pathToFileURL(join(ROOT, build, p)).href);
  const { connectRedis } = await mod('store/redis/connect.js');
  const { RedisStore } = await mod('store/redis/redis-store.js');
  const { DEFAULT_LIMITS } = await mod('domain/limits.js');
  const client = await connectRedis({ url, commandTimeoutMs: 10_000 });
  const store = new RedisStore({ client, prefix, eventLog: { minEvents: 1000, minAgeMs: 600_000 } });
  const routing = { appKey: 'bench#live', endpointsFor: () => [] };
  const app = 'bench#live';
  const user = (r: number, m: number) => `b${String(r * MEMBERS + m).padStart(5, '0')}`;
  const users = [];
  for (let r = 0; r < ROOMS; r++) for (let m = 0; m < MEMBERS; m++) users.push({ username: user(r, m), passwordHash: 'x' });
  for (let i = 0; i < users.length; i += 60) await store.createUsers(app, users.slice(i, i + 60));
  const rooms: string[] = [];
  for (let r = 0; r < ROOMS; r++) {
    const members = Array.from({ length: MEMBERS - 1 }, (_, m) => user(r, m + 1));
    const room = await store.createRoom(app, { name: `r${r}`, description: '', owner: user(r, 0), maxusers: 10_000, members });
    rooms.push(room.id);
  }
  // Room for every member's deletable keys (10 members x up to ~40 each, and the owner's 20): with
  // the default 100 most were refused, and most deletes found nothing to delete.
  const limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: 1000 };
  const setCall = (r: number, u: string, pairs: Array<[string, string]>, forced: boolean, auto: string) =>
    store.setAttributes({ appId: app, roomId: rooms[r], user: u, forced, autoDelete: auto, pairs, limits, routing });
  // The owner's keys k00..k19 (forced-set overwrites them) and each member's deletable keys.
  const deletable = workload === 'delete' ? Math.ceil((calls * 2) / (ROOMS * MEMBERS)) + 1 : 0;
  for (let r = 0; r < ROOMS; r++) {
    await setCall(
      r,
      user(r, 0),
      Array.from({ length: 20 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'] as [string, string]),
      false,
      'NO_DELETE',
    );
    for (let m = 0; m < MEMBERS && deletable > 0; m++)
      for (let j = 0; j < deletable; j += 20) {
        const pairs: Array<[string, string]> = [];
        for (let d = j; d < Math.min(deletable, j + 20); d++) pairs.push([`${user(r, m)}.d${d}`, 'x']);
        await setCall(r, user(r, m), pairs, false, 'DELETE');
      }
  }
  const callOf = (i: number): Promise<unknown> => {
    const p = i % (ROOMS * MEMBERS);
    const r = p % ROOMS;
    const m = Math.floor(p / ROOMS);
    const u = user(r, m);
    if (workload === 'set')
      return setCall(
        r,
        u,
        [
          [`${u}.a`, `seat-${i}`],
          [`${u}.b`, `mood-${i}`],
        ],
        false,
        'DELETE',
      );
    if (workload === 'forced-set') {
      const k = (n: number) => `k${String(n % 20).padStart(2, '0')}`;
      return setCall(
        r,
        u,
        [
          [k(2 * m), `forced-${i}`],
          [k(2 * m + 1), `forced-${i}`],
        ],
        true,
        'NO_DELETE',
      );
    }
    const j = Math.floor(i / (ROOMS * MEMBERS));
    return store.deleteAttributes({
      appId: app,
      roomId: rooms[r],
      user: u,
      forced: false,
      checkMembership: true,
      keys: [`${u}.d${j}`],
      routing,
    });
  };
  let next = 0;
  /** Keys the calls wrote or removed: a workload whose calls find nothing to do measures nothing. */
  let keysDone = 0;
  const runCalls = async (n: number) => {
    const end = next + n;
    const worker = async () => {
      while (next < end) {
        const out = (await callOf(next++)) as { successKeys?: string[] } | undefined;
        if (out === undefined) throw new Error('no outcome');
        keysDone += out.successKeys?.length ?? 0;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  const redisCpu = async () => {
    const info = (await client.info('cpu')) as string;
    const n = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
    return (n('used_cpu_user') + n('used_cpu_sys')) * 1e6;
  };
  /** Microseconds Redis spent in scripts since the last CONFIG RESETSTAT (its own clock: no I/O in it). */
  const scriptUs = async () => {
    const info = (await client.info('commandstats')) as string;
    let us = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/gm)) us += Number(m[1]);
    return us;
  };
  await runCalls(Math.min(2000, Math.floor(calls / 5))); // warm-up: JIT, script cache, the instance's views
  const measured = calls;
  await client.config('RESETSTAT');
  const r0 = await redisCpu();
  // STORE_WRITES_PROFILE=<file>: a CPU profile of the measured calls only (not the setup), for a
  // profile of the write path without the rooms' preparation in it.
  const profiler = process.env.STORE_WRITES_PROFILE ? await startProfile() : null;
  keysDone = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await runCalls(measured);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (profiler) writeFileSync(process.env.STORE_WRITES_PROFILE!, JSON.stringify(await profiler()));
  const r1 = await redisCpu();
  const s1 = await scriptUs();
  const out: RunResult = {
    replans: (store as { writes?: { stats: { replans: number } } }).writes?.stats.replans ?? null,
    calls: measured,
    callsPerSec: (measured / wall) * 1000,
    cpuUsPerCall: (c.user + c.system) / measured,
    sysUsPerCall: c.system / measured,
    keysPerCall: keysDone / measured,
    redisUsPerCall: (r1 - r0) / measured,
    scriptUsPerCall: s1 / measured,
  };
  // Remove this child's keys (the prefix is its own).
  let cursor = '0';
  do {
    const [nextCursor, keys] = (await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)) as [string, string[]];
    cursor = nextCursor;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
  await store.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Starts the V8 profiler of this process; the function given back stops it and returns the profile. */
async function startProfile(): Promise<() => Promise<object>> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return profile;
  };
}

// ---- the driver

async function driver(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      build: { type: 'string', default: 'dist' },
      compare: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      calls: { type: 'string', default: '20000' },
      workloads: { type: 'string', default: WORKLOADS.join(',') },
    },
  });
  const builds = [opts.build, ...(opts.compare ? [opts.compare] : [])];
  for (const b of builds) if (!existsSync(join(ROOT, b, 'cli.js'))) throw new Error(`no build in ${b}/ (npm run build)`);
  const workloads = opts.workloads.split(',') as Workload[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`--workloads: ${WORKLOADS.join(', ')}, not ${w}`);
  const rounds = Number(opts.rounds);
  const calls = Number(opts.calls);

  const dir = mkdtempSync(join(tmpdir(), 'rkbench-store-writes-'));
  const port = await freePort();
  const redis: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const teardown = () => {
    if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', teardown);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const deadline = Date.now() + 20_000;
  while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() !== 'PONG') {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = `redis://127.0.0.1:${port}`;
  const results = new Map<string, RunResult[]>();
  let n = 0;
  for (let round = 0; round < rounds; round++)
    for (const w of workloads)
      // Alternate which build goes first, so that neither always runs on a warmer machine.
      for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
        const run = spawnSync(
          process.execPath,
          ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', b, w, String(calls), url, `swb${process.pid}:${n++}:`],
          { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 20 },
        );
        if (run.status !== 0) throw new Error(`${b} ${w}: ${run.stderr}`);
        const res = JSON.parse(run.stdout.trim().split('\n').pop()!) as RunResult;
        console.log(
          `round ${round + 1} ${w} ${b}: ${res.callsPerSec.toFixed(0)} calls/s, ${res.cpuUsPerCall.toFixed(1)} µs roomkv, ${res.redisUsPerCall.toFixed(1)} µs Redis (${res.scriptUsPerCall.toFixed(1)} in scripts) a call`,
        );
        const k = `${w}\u0000${b}`;
        results.set(k, [...(results.get(k) ?? []), res]);
      }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const commit = (b: string) => (existsSync(join(ROOT, b, 'COMMIT')) ? readFileSync(join(ROOT, b, 'COMMIT'), 'utf8').trim() : b);
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const lines = [
    '# The Redis write path alone: two builds side by side',
    '',
    `- ${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'} (${arch()}), load average before ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
    `- builds: ${builds.map((b) => `\`${b}\` (${b === 'dist' ? `${head}, with what src/ held when built` : commit(b)})`).join(' and ')}`,
    `- ${rounds} rounds of ${calls.toLocaleString('en-US')} calls per workload and build, ${CONCURRENCY} in flight, each in a fresh process on one redis-server of its own; medians of the rounds`,
    '',
    '| workload | build | calls/s | keys done a call | roomkv CPU µs a call | of it in the kernel | Redis CPU µs a call | of it in scripts |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const w of workloads)
    for (const b of builds) {
      const rs = results.get(`${w}\u0000${b}`)!;
      lines.push(
        `| ${w} | ${b} | ${median(rs.map((r) => r.callsPerSec)).toFixed(0)} | ${median(rs.map((r) => r.keysPerCall)).toFixed(2)} | ${median(rs.map((r) => r.cpuUsPerCall)).toFixed(1)} | ${median(rs.map((r) => r.sysUsPerCall)).toFixed(1)} | ${median(rs.map((r) => r.redisUsPerCall)).toFixed(1)} | ${median(rs.map((r) => r.scriptUsPerCall)).toFixed(1)} |`,
      );
    }
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${lines.join('\n')}\n`);
  console.log(`\n${lines.join('\n')}\n\n(written to ${RESULTS})`);
}

if (process.argv[2] === '--child') {
  const [, , , build, workload, calls, url, prefix] = process.argv;
  await child(build!, workload as Workload, Number(calls), url!, prefix!);
  process.exit(0);
} else {
  await driver();
  // The redis-server child keeps the event loop alive: exit, and the exit handler stops it.
  process.exit(0);
}
