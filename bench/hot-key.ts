/**
 * `npm run bench:hot-key`: contention on one room's keys through the Redis write path
 * (src/store/redis/attribute-writes.ts), on a single Redis and on a 3-master Redis Cluster, both
 * started here from the installed redis-server on free ports of 127.0.0.1 in temp folders, and
 * removed at the end (also on failure and on Ctrl-C). Nothing touches a Redis on 6379.
 *
 * Each scenario runs --rounds times (default 200), each round in a fresh room of 50 members, all
 * 50 calls started in the same turn of the event loop:
 *   claim-1    50 members set one new key (not forced) through one store instance
 *   claim-2    the same through two store instances with their own connections (25 calls each)
 *   forced     50 members force-set one key that exists (every call writes)
 *   own-keys   50 members each set a new key of their own (no key in common)
 * The checks (one owner of the claimed key, every forced set applied, every own key stored) fail
 * the run. Replans come from RedisStore.writes.stats; the replans of each single call from the
 * number of times it ran the APPLY_SET script (counted per call through AsyncLocalStorage).
 * Results: bench/results/hot-key.md.
 *
 * Options: --rounds=200
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { KeyOutcomes } from '../src/domain/attributes.js';
import { DEFAULT_LIMITS } from '../src/domain/limits.js';
import { connectRedis } from '../src/store/redis/connect.js';
import { RedisStore } from '../src/store/redis/redis-store.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../test/support/routing.js';
import { freePort, percentile } from './common.js';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } });
const ROUNDS = Number(opts.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds: a whole number of at least 1, not ${opts.rounds}`);
const MEMBERS = 50;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'hot-key.md');

// ---- the Redis servers of this run, and their removal

const children: ChildProcess[] = [];
const dirs: string[] = [];

/** Kills this run's redis-servers and removes their folders; synchronous, so it also runs on exit. */
function teardown(): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
process.on('exit', teardown);
process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});
process.on('SIGTERM', () => {
  teardown();
  process.exit(143);
});

const cli = (...args: string[]) => spawnSync('redis-cli', args, { encoding: 'utf8' });
const pong = (port: number) => cli('-h', '127.0.0.1', '-p', String(port), 'ping').stdout?.trim() === 'PONG';

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startRedis(extra: string[] = []): Promise<number> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roomkv-hotkey-'));
  dirs.push(dir);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
    { stdio: 'ignore' },
  );
  children.push(child);
  await waitFor(`redis-server on ${port}`, () => pong(port));
  return port;
}

/** Three masters, no replicas; resolves with "host:port,..." once every slot is served. */
async function startCluster(): Promise<string> {
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    ports.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000', '--cluster-config-file', 'nodes.conf']));
  }
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const made = cli('--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes');
  if (made.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${made.stdout}\n${made.stderr}`);
  await waitFor('the cluster to be healthy', () =>
    ports.every((p) => {
      const info = cli('-h', '127.0.0.1', '-p', String(p), 'cluster', 'info').stdout ?? '';
      return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
    }),
  );
  return addrs.join(',');
}

// ---- stores, and the count of APPLY_SET runs of each call

interface Tally {
  applies: number;
}
const calls = new AsyncLocalStorage<Tally>();

/**
 * A store instance on its own connection. Its client's APPLY_SET runner (which RedisStore puts on
 * the client as rkApplySet, and the write path looks up at each attempt) is wrapped to count the
 * runs of the call it runs for: a call that ran it n times planned n - 1 times again.
 */
async function openStore(where: { url: string; clusterNodes?: string }, prefix: string): Promise<{ store: RedisStore; perCall: boolean }> {
  const client = await connectRedis({ ...where, commandTimeoutMs: 5000 });
  const store = new RedisStore({ client, prefix, eventLog: LOG_LIMITS });
  const c = client as unknown as Record<string, unknown>;
  const run = c.rkApplySet;
  if (typeof run !== 'function') return { store, perCall: false };
  c.rkApplySet = (...args: unknown[]) => {
    const tally = calls.getStore();
    if (tally !== undefined) tally.applies += 1;
    return (run as (...a: unknown[]) => unknown).apply(client, args);
  };
  return { store, perCall: true };
}

// ---- scenarios

const NAMES = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);

interface CallResult {
  user: string;
  ms: number;
  applies: number;
  outcome?: KeyOutcomes;
  error?: Error;
}

interface Round {
  wallMs: number;
  replans: number;
  results: CallResult[];
}

interface Scenario {
  name: 'claim-1' | 'claim-2' | 'forced' | 'own-keys';
  what: string;
  instances: 1 | 2;
  /** Before the burst, in the fresh room (through the first instance). */
  prepare?: (store: RedisStore, app: string, room: string) => Promise<void>;
  call: (store: RedisStore, app: string, room: string, user: string) => Promise<KeyOutcomes>;
  /** What must hold after the round; a text per problem. */
  check: (store: RedisStore, app: string, room: string, results: CallResult[]) => Promise<string[]>;
  /** Whether the first call started was the one that got the key (claims only). */
  firstWon?: (results: CallResult[]) => boolean;
}

const setCall = (store: RedisStore, app: string, room: string, user: string, pairs: Array<[string, string]>, forced: boolean) =>
  store.setAttributes({
    appId: app,
    roomId: room,
    user,
    forced,
    autoDelete: 'DELETE',
    pairs,
    limits: DEFAULT_LIMITS,
    routing: NO_WEBHOOKS,
  });

const failed = (results: CallResult[]) => results.filter((r) => r.error !== undefined).map((r) => `${r.user} failed: ${r.error?.message}`);

async function checkClaim(store: RedisStore, app: string, room: string, results: CallResult[]): Promise<string[]> {
  const problems = failed(results);
  const winners = results.filter((r) => r.outcome?.successKeys.length === 1 && r.outcome.successKeys[0] === 'hot');
  if (winners.length !== 1) problems.push(`${winners.length} calls got the key (${winners.map((w) => w.user).join(', ')}), not 1`);
  const losers = results.filter((r) => r.outcome !== undefined && !winners.includes(r));
  const odd = losers.filter((r) => r.outcome?.errorKeys.hot?.code !== 'not_yours' || r.outcome.successKeys.length !== 0);
  if (odd.length > 0) problems.push(`${odd.length} losing calls did not answer not_yours: ${JSON.stringify(odd[0]?.outcome)}`);
  const stored = await store.listAttributes(app, room);
  const owner = winners[0]?.user;
  if (stored.length !== 1 || stored[0]?.key !== 'hot' || stored[0].owner !== owner || stored[0].value !== owner) {
    problems.push(`stored ${JSON.stringify(stored)}, expected hot owned by ${owner}`);
  }
  return problems;
}

const claim = (name: 'claim-1' | 'claim-2', instances: 1 | 2, what: string): Scenario => ({
  name,
  what,
  instances,
  call: (store, app, room, user) => setCall(store, app, room, user, [['hot', user]], false),
  check: checkClaim,
  firstWon: (results) => results[0]?.outcome?.successKeys.length === 1,
});

const SCENARIOS: Scenario[] = [
  claim('claim-1', 1, '50 members claim one new key at once, one store instance'),
  claim('claim-2', 2, 'the same through two store instances (25 calls each, calls interleaved)'),
  {
    name: 'forced',
    what: '50 members force-set one existing key at once, one store instance',
    instances: 1,
    prepare: async (store, app, room) => {
      const out = await setCall(store, app, room, 'm0', [['hot', 'init']], false);
      if (out.successKeys.length !== 1) throw new Error(`forced: the key to contend for was not set: ${JSON.stringify(out)}`);
    },
    call: (store, app, room, user) => setCall(store, app, room, user, [['hot', `v-${user}`]], true),
    check: async (store, app, room, results) => {
      const problems = failed(results);
      const notApplied = results.filter((r) => r.outcome !== undefined && r.outcome.successKeys.length !== 1);
      if (notApplied.length > 0) problems.push(`${notApplied.length} forced sets not applied: ${JSON.stringify(notApplied[0]?.outcome)}`);
      const stored = await store.listAttributes(app, room);
      const one = stored[0];
      if (stored.length !== 1 || one?.key !== 'hot' || !NAMES.includes(one.owner) || one.value !== `v-${one.owner}`) {
        problems.push(`stored ${JSON.stringify(stored)}, expected hot owned by one member with that member's value`);
      }
      return problems;
    },
  },
  {
    name: 'own-keys',
    what: '50 members each set a new key of their own at once, one store instance',
    instances: 1,
    call: (store, app, room, user) => setCall(store, app, room, user, [[`k-${user}`, user]], false),
    check: async (store, app, room, results) => {
      const problems = failed(results);
      const notApplied = results.filter((r) => r.outcome !== undefined && r.outcome.successKeys.length !== 1);
      if (notApplied.length > 0) problems.push(`${notApplied.length} sets not applied: ${JSON.stringify(notApplied[0]?.outcome)}`);
      const stored = await store.listAttributes(app, room);
      const wrong = NAMES.filter((u) => !stored.some((a) => a.key === `k-${u}` && a.owner === u && a.value === u));
      if (stored.length !== MEMBERS || wrong.length > 0)
        problems.push(`${stored.length} keys stored; missing or wrong: ${wrong.join(', ')}`);
      return problems;
    },
  },
];

/** Starts every call of the round in one turn of the event loop and waits for all of them. */
async function burst(stores: RedisStore[], sc: Scenario, app: string, room: string): Promise<Round> {
  const before = stores.reduce((n, s) => n + s.writes.stats.replans, 0);
  const callsBefore = stores.reduce((n, s) => n + s.writes.stats.calls, 0);
  const t0 = performance.now();
  const results = await Promise.all(
    NAMES.map((user, i) => {
      const tally: Tally = { applies: 0 };
      // Interleaved over the instances: member i goes through instance i mod n.
      const store = stores[i % stores.length]!;
      return calls.run(tally, async (): Promise<CallResult> => {
        const start = performance.now();
        try {
          const outcome = await sc.call(store, app, room, user);
          return { user, ms: performance.now() - start, applies: tally.applies, outcome };
        } catch (err) {
          return { user, ms: performance.now() - start, applies: tally.applies, error: err as Error };
        }
      });
    }),
  );
  const wallMs = performance.now() - t0;
  const replans = stores.reduce((n, s) => n + s.writes.stats.replans, 0) - before;
  const applied = stores.reduce((n, s) => n + s.writes.stats.calls, 0) - callsBefore;
  const ok = results.filter((r) => r.error === undefined).length;
  if (applied !== ok) throw new Error(`${sc.name}: writes.stats.calls grew by ${applied} for ${ok} calls that answered`);
  return { wallMs, replans, results };
}

interface Summary {
  kind: string;
  scenario: Scenario;
  rounds: Round[];
  perCall: boolean;
  problems: string[];
}

async function measure(kind: 'redis' | 'redis-cluster', where: { url: string; clusterNodes?: string }): Promise<Summary[]> {
  const prefix = `hotkey:${randomBytes(3).toString('hex')}:`;
  const opened = [await openStore(where, prefix), await openStore(where, prefix)];
  const stores = opened.map((o) => o.store);
  const perCall = opened.every((o) => o.perCall);
  const out: Summary[] = [];
  try {
    for (const sc of SCENARIOS) {
      const app = randomBytes(8).toString('hex');
      const [first] = stores as [RedisStore, RedisStore];
      await first.createUsers(
        app,
        NAMES.map((username) => ({ username, passwordHash: 'x' })),
      );
      const used = stores.slice(0, sc.instances);
      // Warm-up, not measured: scripts loaded on every node, each instance has asked what Redis is.
      for (let i = 0; i < 12; i++) {
        const room = (await first.createRoom(app, { name: 'w', description: '', owner: 'm0', maxusers: 100, members: NAMES })).id;
        for (const s of used) await setCall(s, app, room, 'm0', [['warm', 'x']], true);
      }
      const summary: Summary = { kind, scenario: sc, rounds: [], perCall, problems: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const room = (await first.createRoom(app, { name: 'r', description: '', owner: 'm0', maxusers: 100, members: NAMES })).id;
        await sc.prepare?.(first, app, room);
        const round = await burst(used, sc, app, room);
        summary.rounds.push(round);
        for (const p of await sc.check(first, app, room, round.results)) {
          summary.problems.push(`round ${r + 1}: ${p}`);
          console.error(`!!! ${kind} ${sc.name} round ${r + 1}: ${p}`);
        }
      }
      out.push(summary);
      console.log(line(summary));
    }
  } finally {
    for (const s of stores) await s.close();
  }
  return out;
}

// ---- figures

interface Figures {
  calls: number;
  replansPerCall: number;
  roundMedian: number;
  roundMax: number;
  callP99: number | null;
  callMax: number | null;
  /** Replans counted by the stats but not by an extra APPLY_SET run (the cluster's usage reservation). */
  uncounted: number | null;
  histogram: number[] | null;
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
  firstWon: number | null;
}

const BUCKETS: Array<[string, number, number]> = [
  ['0', 0, 0],
  ['1', 1, 1],
  ['2', 2, 2],
  ['3-5', 3, 5],
  ['6-10', 6, 10],
  ['11-20', 11, 20],
  ['21-50', 21, 50],
  ['51-199', 51, 199],
];

function figures(s: Summary): Figures {
  const all = s.rounds.flatMap((r) => r.results);
  const perRound = s.rounds.map((r) => r.replans);
  const total = perRound.reduce((a, b) => a + b, 0);
  // A call that answered ran APPLY_SET once more than it planned again; one that failed, as often as it tried.
  const perCallReplans = all.map((r) => (r.error === undefined ? r.applies - 1 : r.applies));
  const ms = all.map((r) => r.ms);
  const wall = s.rounds.reduce((a, r) => a + r.wallMs, 0);
  const fw = s.scenario.firstWon;
  return {
    calls: all.length,
    replansPerCall: total / all.length,
    roundMedian: percentile(perRound, 50),
    roundMax: Math.max(...perRound),
    callP99: s.perCall ? percentile(perCallReplans, 99) : null,
    callMax: s.perCall ? Math.max(...perCallReplans) : null,
    uncounted: s.perCall ? total - perCallReplans.reduce((a, b) => a + b, 0) : null,
    histogram: s.perCall ? BUCKETS.map(([, lo, hi]) => perCallReplans.filter((n) => n >= lo && n <= hi).length) : null,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: Math.max(...ms),
    perSecond: all.length / (wall / 1000),
    firstWon: fw === undefined ? null : s.rounds.filter((r) => fw(r.results)).length / s.rounds.length,
  };
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const na = (n: number | null, f: (n: number) => string = String) => (n === null ? 'n/a' : f(n));

function line(s: Summary): string {
  const f = figures(s);
  return (
    `${s.kind.padEnd(13)} ${s.scenario.name.padEnd(8)} replans/call ${f2(f.replansPerCall)}, per round median ${f.roundMedian} max ${f.roundMax}, ` +
    `one call max ${na(f.callMax)}; ms p50 ${f1(f.p50)} p99 ${f1(f.p99)} max ${f1(f.max)}; ${int(f.perSecond)} calls/s` +
    (s.problems.length > 0 ? `; ${s.problems.length} CHECK FAILURES` : '')
  );
}

function redisVersion(): string {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
}

function report(all: Summary[], startedAt: Date, seconds: number, loadBefore: number): string {
  const c = cpus();
  const args = process.argv.slice(2);
  const rows = all.map((s) => {
    const f = figures(s);
    return (
      `| ${s.kind} | ${s.scenario.name} | ${s.rounds.length} | ${int(f.calls)} | ${f2(f.replansPerCall)} | ${f.roundMedian} | ${f.roundMax} | ` +
      `${na(f.callP99)} | ${na(f.callMax)} | ${f1(f.p50)} | ${f1(f.p99)} | ${f1(f.max)} | ${int(f.perSecond)} | ` +
      `${f.firstWon === null ? '' : `${Math.round(f.firstWon * 100)}%`} | ${s.problems.length === 0 ? 'ok' : `**${s.problems.length} FAILED**`} |`
    );
  });
  const hist = all.map((s) => {
    const f = figures(s);
    return `| ${s.kind} | ${s.scenario.name} | ${(f.histogram ?? BUCKETS.map(() => null)).map((n) => na(n, int)).join(' | ')} | ${na(f.uncounted)} |`;
  });
  const problems = all.flatMap((s) => s.problems.slice(0, 10).map((p) => `- ${s.kind} ${s.scenario.name} ${p}`));
  return [
    '# Hot keys on Redis and Redis Cluster',
    '',
    `- command: \`npm run bench:hot-key${args.length > 0 ? ` -- ${args.join(' ')}` : ''}\``,
    `- date: ${startedAt.toISOString()}; run took ${Math.round(seconds)} s`,
    `- machine: ${c.length} cores (${c[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ${platform()}/${arch()}, redis-server ${redisVersion()}`,
    `- load average (1 min) before / after: ${f2(loadBefore)} / ${f2(loadavg()[0] ?? NaN)} (other work on the machine slows the calls, and more overlap means more replans)`,
    '- servers: a redis-server and a 3-master Redis Cluster (no replicas), started by the benchmark on free ports of 127.0.0.1, no persistence; ' +
      'the stores are RedisStore instances in this process, each on its own connection (src/store/redis/connect.ts), default limits.',
    `- each scenario: ${ROUNDS} rounds, each in a fresh room of ${MEMBERS} members; the ${MEMBERS} calls of a round start in one turn of the event loop, ` +
      'after a warm-up (scripts loaded, each instance has asked what Redis is) that is not counted.',
    '',
    ...SCENARIOS.map((s) => `- ${s.name}: ${s.what}`),
    '',
    '| store | scenario | rounds | calls | replans per call (mean) | replans per round, median | replans per round, max | replans of one call, p99 | replans of one call, max | p50 ms | p99 ms | max ms | calls/s | first call started won | checks |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    'Replans per round are the growth of `writes.stats.replans` of the instances used, over the round. ' +
      'Replans of one call are the times the call ran the APPLY_SET script, minus one (counted per call). ' +
      'Latency is one call, from its start to its answer, while the other 49 are in flight. ' +
      'calls/s is the calls over the time from the first start to the last answer of each round, summed over the rounds (the room setup is not in it).',
    '',
    'Calls by how many times they planned again:',
    '',
    `| store | scenario | ${BUCKETS.map(([b]) => b).join(' | ')} | replans not from a script's answer |`,
    `|---|---|${BUCKETS.map(() => '---:').join('|')}|---:|`,
    ...hist,
    '',
    '"Replans not from a script\'s answer": on the cluster a plan that depends on the app\'s byte usage reserves its bytes first, ' +
      "and plans again without running the script when the usage it finds is outside the plan's range; with the default 10 GiB quota that does not happen, so 0 is expected.",
    '',
    '## What bounds the replans',
    '',
    'A call is planned from what its store instance last saw of the room; the script applies the plan only if the key entries it was made from ' +
      "(owner, bytes, revision) are still what is stored, and otherwise answers the room's current entries for those keys, which the instance " +
      'records before planning the call again (src/store/redis/attribute-writes.ts).',
    '',
    "- A claim of a new key (claim-1, claim-2): every claimant plans from a view without the key. The first script to run stores it; each other claimant's " +
      "script finds the key present and answers its entry. That claimant plans once more, from the entry: the key is someone else's, so the plan " +
      "writes nothing and its outcome is `not_yours` (Agora's `not part of you`). That plan depends only on the owner's entry, which does not change " +
      'while the others lose, so it applies at once. At most one replan per losing call, so at most 49 per round, whether the calls come ' +
      "through one instance or two (a claimant planned after its instance recorded the winner's entry would plan once, with no replan).",
    "- Own keys (own-keys): no plan depends on another call's key; the room count and the byte usage are checked as ranges (room for one more key, " +
      'bytes under the quota), which the other calls do not leave, so no call plans again.',
    '- A forced set (forced) always writes, so each applied call changes the entry (its revision) that the calls still in flight planned from: ' +
      'of the calls on the same entry one applies and the others plan again from the newer one. One replan is not enough here. ' +
      "Each failed attempt of a call means another call's write landed on the key after the entry the call planned from, as long as the " +
      "instance's view of the key only moves forward; then a call among n plans again at most n - 1 times (49 here), and a round at most " +
      "n(n - 1)/2 times (1,225). The view moves forward when the replies of the room's connection are recorded in their order, which is the case on " +
      'a single Redis. On the cluster a forced set that shrinks the value sends the usage change to another node beside the script and records the ' +
      "script's answer only once both have answered, so an older entry can be recorded after a newer one and cost an extra replan: there the " +
      'n - 1 bound is not strict. What always bounds a call is MAX_ATTEMPTS: after 200 attempts it fails with 503 (`too many concurrent writes to ' +
      'this chatroom`). From its third failed attempt on, a call waits a random 0 to min(20, attempt) ms before planning again (backoff()), which spreads ' +
      'the calls so that fewer of them meet; nothing orders them, so under a steady stream of forced sets on one key a call has no bound below 200.',
    ...(problems.length > 0 ? ['', '## CHECK FAILURES', '', ...problems] : []),
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0] ?? NaN;
  const t0 = performance.now();
  if (spawnSync('redis-server', ['--version']).status !== 0)
    throw new Error('redis-server is not installed: this benchmark starts its own');
  const single = await startRedis();
  const nodes = await startCluster();
  console.log(`redis on 127.0.0.1:${single}; redis cluster ${nodes}; ${ROUNDS} rounds per scenario`);
  const all = [
    ...(await measure('redis', { url: `redis://127.0.0.1:${single}` })),
    ...(await measure('redis-cluster', { url: `redis://${nodes.split(',')[0]}`, clusterNodes: nodes })),
  ];
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, report(all, startedAt, (performance.now() - t0) / 1000, loadBefore));
  console.log(`wrote ${RESULTS}`);
  const failures = all.reduce((n, s) => n + s.problems.length, 0);
  if (failures > 0) console.error(`\n!!! ${failures} rounds broke a check (listed in ${RESULTS}) !!!\n`);
  return failures > 0 ? 1 : 0;
}

async function stop(code: number): Promise<never> {
  // Each server gets a moment to exit before its folder goes; teardown() kills what is left.
  const exits = children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))));
  for (const c of children) c.kill('SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 3000))]);
  teardown();
  process.exit(code);
}

main().then(stop, async (err: unknown) => {
  console.error(err);
  await stop(1);
});
