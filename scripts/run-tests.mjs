#!/usr/bin/env node
// `npm test` (and `npm run test:soak`): starts what the tests need that the machine does not already run (a 3-master Redis
// Cluster on free local ports, and a Redis server when none answers on 6379), runs every
// test/**/*.test.ts with Node's test runner (TypeScript through tsx), and tears it all down.
// `--fast` (npm run test:fast) runs the tier that needs no Redis: domain, SQLite store, HTTP and WebSocket on SQLite, the client.
// Every run fails when it leaves something behind: a new /tmp/roomkv-* entry or a new key in the Redis on 6379.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = [];
const dirs = [];
/** This run's tag, in the names of the temp folders and Redis key prefixes the tests make (test/support). */
const RUN = randomBytes(3).toString('hex');
/** Another run's tag: what it leaves is its own check's business, not this run's. */
const otherRun = (name) => {
  const m = /run([0-9a-f]{6})-/.exec(name);
  return m !== null && m[1] !== RUN;
};

function find(dir, suffix) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p, suffix);
    return p.endsWith(suffix) ? [p] : [];
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const cli = (...args) => spawnSync('redis-cli', args, { encoding: 'utf8' });
const pong = (port) => cli('-h', '127.0.0.1', '-p', String(port), 'ping').stdout?.trim() === 'PONG';

async function waitFor(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startRedis(extra = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `roomkv-redis-run${RUN}-`));
  dirs.push(dir);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
    { stdio: 'ignore' },
  );
  children.push(child);
  await waitFor(`redis-server on ${port}`, () => pong(port));
  return { port, dir };
}

async function startCluster() {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000', '--cluster-config-file', 'nodes.conf']));
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  const made = cli('--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes');
  if (made.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${made.stdout}\n${made.stderr}`);
  await waitFor('the cluster to be healthy', () =>
    nodes.every((n) => {
      const info = cli('-h', '127.0.0.1', '-p', String(n.port), 'cluster', 'info').stdout ?? '';
      return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
    }),
  );
  return addrs.join(',');
}

/**
 * The fast tier, to run after every change: no Redis, no processes of roomkv's own (the CLI and
 * crash tests spawn them), under two minutes on two cores. A folder stands for its *.test.ts files.
 */
const FAST = [
  'test/domain/',
  'test/events/',
  'test/auth/',
  'test/service/',
  'test/store/sqlite.test.ts',
  'test/store/sqlite-write-pages.test.ts',
  'test/store/sqlite-read-cache.test.ts',
  'test/store/redis-write-views.test.ts',
  'test/http/sqlite.test.ts',
  'test/http/ws-sqlite.test.ts',
  'test/client/replica.test.ts',
  'test/client/connection.test.ts',
  'test/client/package.test.ts',
  'test/http/deep-json.test.ts',
  'test/http/envelope-text.test.ts',
  'test/http/series-histogram.test.ts',
  'test/ops/openapi.test.ts',
  'test/bench/verdict.test.ts',
  'test/bench/heap-diff.test.ts',
];
const fastFiles = () => FAST.flatMap((f) => (f.endsWith('/') ? (existsSync(f) ? find(f, '.test.ts').sort() : []) : [f]));

/** What a run could leave behind: the roomkv-* entries of the temp dir, the keys of db 0 on 6379. */
function leftovers() {
  const dir = tmpdir();
  const entries = readdirSync(dir)
    .filter((n) => n.startsWith('roomkv-'))
    .map((n) => join(dir, n));
  const keys = pong(6379) ? (cli('-h', '127.0.0.1', '-p', '6379', '-n', '0', '--scan').stdout ?? '').split('\n').filter(Boolean) : [];
  return { entries, keys };
}

/** What is there now and was not before the run, named; empty when nothing was left. */
function leftBehind(before) {
  const now = leftovers();
  const had = { entries: new Set(before.entries), keys: new Set(before.keys) };
  const entries = now.entries.filter((e) => !had.entries.has(e) && !otherRun(e));
  const keys = now.keys.filter((k) => !had.keys.has(k) && !otherRun(k));
  const problems = [];
  if (entries.length > 0)
    problems.push(`${entries.length} new temp entries: ${entries.slice(0, 20).join(', ')}${entries.length > 20 ? ', ...' : ''}`);
  if (keys.length > 0) {
    // Grouped by prefix (the first two segments, e.g. rktest:ab12cd34:): the prefix names the test.
    const byPrefix = new Map();
    for (const k of keys) {
      const p = k.split(':').slice(0, 2).join(':');
      byPrefix.set(p, (byPrefix.get(p) ?? 0) + 1);
    }
    problems.push(`${keys.length} new keys in the Redis on 6379 (db 0): ${[...byPrefix].map(([p, n]) => `${p}:* (${n})`).join(', ')}`);
  }
  return problems;
}

function teardown() {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});
process.on('SIGTERM', () => {
  teardown();
  process.exit(143);
});

const env = { ...process.env };
const fast = process.argv.includes('--fast');
env.ROOMKV_TEST_RUN = RUN;
const before = leftovers();
try {
  if (fast) {
    delete env.ROOMKV_TEST_REDIS_URL;
    delete env.ROOMKV_TEST_CLUSTER_NODES;
    env.ROOMKV_TEST_FAST = '1';
  } else if (hasRedis) {
    env.ROOMKV_TEST_REDIS_URL ??= pong(6379) ? 'redis://127.0.0.1:6379' : `redis://127.0.0.1:${(await startRedis()).port}`;
    env.ROOMKV_TEST_CLUSTER_NODES ??= await startCluster();
    console.log(`redis: ${env.ROOMKV_TEST_REDIS_URL}; redis cluster: ${env.ROOMKV_TEST_CLUSTER_NODES}`);
  } else {
    console.warn('\n!!! redis-server is not installed: the Redis suites will ' + (process.env.CI ? 'FAIL' : 'be SKIPPED') + ' !!!\n');
  }
  // `--soak` runs the long rounds (test/**/*.soak.ts) instead; their size comes from SOAK_* env.
  const soak = process.argv.includes('--soak');
  const only = process.argv.slice(2).filter((a) => a !== '--soak' && a !== '--fast');
  const files = only.length > 0 ? only : fast ? fastFiles() : find('test', soak ? '.soak.ts' : '.test.ts').sort();
  const run = (list, concurrency) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...list], {
      stdio: 'inherit',
      env,
    });
  // The packaging test compiles better-sqlite3 from source: run it alone first, so that its CPU load
  // does not slow the timing-sensitive tests beside it.
  const alone = files.filter((f) => f.endsWith('packaging.test.ts'));
  // The benchmark's own test loads both cores for minutes: it runs alone too, after the rest, on the
  // dist/ that the packaging test built.
  const last = files.filter((f) => f.endsWith('bench-harness.test.ts'));
  const rest = files.filter((f) => !alone.includes(f) && !last.includes(f));
  const statuses = [
    alone.length > 0 ? run(alone, 1).status : 0,
    rest.length > 0 ? run(rest, 2).status : 0,
    last.length > 0 ? run(last, 1).status : 0,
  ];
  teardown();
  const left = leftBehind(before);
  if (left.length > 0) console.error(`\n!!! the tests left things behind:\n  ${left.join('\n  ')}\n`);
  const failed = statuses.find((s) => s !== 0);
  process.exit(failed !== undefined ? failed || 1 : left.length > 0 ? 1 : 0);
} catch (err) {
  console.error(err);
  teardown();
  process.exit(1);
}
