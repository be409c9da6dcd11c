/**
 * bench/results/fanout.md from the fan-out benchmark's figures (bench/fanout.ts): every figure
 * beside its target, the machine and its load, and the profiles of what missed.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { renderHeapDiff, type HeapDiffRow } from './heap-diff.js';

/** one: one instance on SQLite; two: two instances on one Redis, the subscribers split between them. */
export type Setup = 'one' | 'two';

/** The build a figure is of: dist/ (`this`), or the one named by --compare (`before`). */
export interface Build {
  label: 'this' | 'before';
  dist: string;
}

export interface RunResult {
  build: Build['label'];
  setup: Setup;
  transport: 'sse' | 'ws';
  subscribers: number;
  rate: number;
  durationS: number;
  writes: number;
  acknowledged: number;
  writeFailures: string[];
  /** Acknowledged writes x subscribers. */
  expected: number;
  delivered: number;
  duplicates: number;
  gaps: number;
  /** Connections short of the last event when the wait ended, and past it. */
  behind: number;
  ahead: number;
  ended: number;
  p50: number;
  p99: number;
  max: number;
  deliveriesPerS: number;
  /** Server CPU (all instances) from the first write until every event was in. */
  serverCpuMs: number;
  windowMs: number;
  allInAfterMs: number;
  loadCpuMs: number;
  redisCpuMs: number;
}

export interface IdleResult {
  build: Build['label'];
  transport: 'sse' | 'ws';
  wanted: number;
  connected: number;
  fileLimit: number;
  /** Connections between the two readings. */
  measured: number;
  before: { rssKb: number; heap: number };
  after: { rssKb: number; heap: number };
  /**
   * The same two readings each after a full garbage collection (through the server's inspector):
   * what the connections hold, without the garbage of their setup that V8 had not collected yet.
   */
  collected?: { before: { rssKb: number; heap: number }; after: { rssKb: number; heap: number } };
  /** --idle-heap: what the JS heap grew by between the readings, by kind of object, per connection. */
  heapDiff?: { total: number; rows: HeapDiffRow[] };
}

export interface ProfileResult {
  setup: Setup;
  transport: 'sse' | 'ws';
  subscribers: number;
  rate: number;
  run: RunResult;
  summary: string[];
}

export interface ReportInput {
  command: string;
  root: string;
  loadBefore: number;
  loadAfter: number;
  redisUrl: string;
  runs: RunResult[];
  idle: IdleResult[];
  profiles: ProfileResult[];
  p99TargetMs: number;
}

const IDLE_TARGET_KB = 8;
const IDLE_TARGET_CONNECTIONS = 50_000;
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const setupName = (s: Setup) => (s === 'one' ? 'one instance, SQLite' : 'two instances, Redis');
const lost = (r: RunResult) => Math.max(0, r.expected - r.delivered);
const exact = (r: RunResult) => r.delivered === r.expected && r.duplicates === 0 && r.gaps === 0 && r.behind === 0 && r.ahead === 0;
const cpuUs = (r: RunResult) => (r.serverCpuMs * 1000) / r.delivered;
/** KB (1,000 bytes) of RSS per idle connection, as read. */
const idleKb = (i: IdleResult) => ((i.after.rssKb - i.before.rssKb) * 1024) / i.measured / 1000;
/** The same after a full collection at both readings; null for a run without them. */
const collectedKb = (i: IdleResult) =>
  i.collected === undefined ? null : ((i.collected.after.rssKb - i.collected.before.rssKb) * 1024) / i.measured / 1000;
/** The figure a connection's memory is judged by: once collected when there is one. */
const verdictKb = (i: IdleResult) => collectedKb(i) ?? idleKb(i);
const collectedCell = (i: IdleResult) => {
  const kb = collectedKb(i);
  return kb === null ? 'n/a' : f1(kb);
};

function machine(input: ReportInput): string[] {
  const c = cpus();
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: input.root, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'src'], { cwd: input.root, encoding: 'utf8' }).stdout.trim() !== '';
  const busy = Math.max(input.loadBefore, input.loadAfter) > c.length;
  return [
    `- command: \`${input.command}\``,
    `- date: ${new Date().toISOString()}; roomkv at ${git || 'an unknown commit (not a git checkout)'}${dirty ? ' with uncommitted changes in src/' : ''}`,
    `- machine: ${c.length} cores (${c[0]?.model ?? 'unknown'}), ${f0(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`,
    `- load average (1 min) before / after: ${f2(input.loadBefore)} / ${f2(input.loadAfter)}` +
      (busy ? ' — **the machine was busy with other work (load above its core count): figures are noisy**' : ''),
  ];
}

function method(input: ReportInput): string[] {
  return [
    '- what runs: roomkv from `dist/` (`node dist/cli.js serve`, log level warn), each instance its own process; ' +
      `"two instances" are two on one Redis (${input.redisUrl || 'none'}, sharded pub/sub between them; unless the command names one, a ` +
      "redis-server started for the run, so that its CPU is the run's alone) with the subscribers split half and half " +
      'and the writes alternating between them. The stream caps (`ROOMKV_MAX_STREAMS_PER_APP`, `..._PER_USER`) and ' +
      "`ROOMKV_MAX_CONNECTIONS` are raised past what the run opens; the app's rate limit is lifted (opening a stream spends a call).",
    "- subscribers: one room, each subscriber an app token's event stream (SSE) or a WebSocket with one subscription, both read from " +
      'raw sockets (the WebSocket framing parsed by the load itself), in load processes of their own (bench/fanout-load.ts, up to 5,000 connections each), on the same ' +
      'machine, each connection from its own source address and port (127.0.0.x). Every subscriber first gets its snapshot.',
    "- writes: the room's owner sets one key at a steady rate (an open loop: a write is sent when due, whatever the answers), its value the " +
      "time it was sent. A delivery's delay is its arrival in the load process minus that time (same clock). Each connection checks the " +
      "seqs: every acknowledged write's event once, in order; a run waits up to 30 s after its last write for the last events.",
    "- server CPU per delivery: the server processes' CPU time (user + system, /proc/<pid>/stat) from the first write until every event " +
      'was in, over the events delivered; it includes the writes themselves (a few per second) and the heartbeats. "busy" is that CPU ' +
      'over the same window, as a share of one core.',
    '- memory per idle connection: a fresh instance, a few hundred subscribers connected first, its RSS read (/proc/<pid>/status), then the ' +
      'rest connected, RSS read again 5 s later: the difference over the connections between the readings. Heap: `nodejs_heap_size_used_bytes` ' +
      'from /metrics at the same times. Kernel socket buffers are not in either. "Once collected": the same two readings each after a full ' +
      "garbage collection asked of the server's inspector (the server runs with `--inspect` on loopback for this), so that neither holds garbage " +
      "V8 has not collected yet (the connections' setup leaves several KB each, collected on V8's own schedule: a quiet server of 19,000 " +
      'WebSockets collected it after about 95 s). The target is judged on that figure; the one as read is beside it.',
  ];
}

const isThis = (r: { build: Build['label'] }) => r.build === 'this';

function targets(input: ReportInput): string[] {
  const lines = ['| target | measured | verdict |', '|---|---|---|'];
  for (const t of ['sse', 'ws'] as const) {
    const r = input.runs.find((x) => isThis(x) && x.setup === 'one' && x.transport === t && x.subscribers === 10_000 && x.rate === 20);
    if (!r) continue;
    const ok = exact(r) && r.p99 < input.p99TargetMs;
    lines.push(
      `| ${t.toUpperCase()}: 20 writes/s to 10,000 subscribers on one instance, nothing lost, p99 < ${input.p99TargetMs} ms | ` +
        `${f0(lost(r))} lost, ${r.duplicates} doubled, ${r.gaps} out of order; p99 ${f1(r.p99)} ms (p50 ${f1(r.p50)}, max ${f0(r.max)}) | ${ok ? 'met' : '**missed**'} |`,
    );
  }
  for (const i of input.idle.filter(isThis)) {
    const kb = verdictKb(i);
    const all = i.connected >= IDLE_TARGET_CONNECTIONS;
    const read = collectedKb(i) === null ? `${f1(kb)} KB RSS each` : `${f1(kb)} KB RSS each once collected (${f1(idleKb(i))} as read)`;
    lines.push(
      `| ${i.transport.toUpperCase()}: ${f0(IDLE_TARGET_CONNECTIONS)} idle connections on one instance at < ${IDLE_TARGET_KB} KB each | ` +
        `${f0(i.connected)} connected${all ? '' : ` (one process may open ${f0(i.fileLimit)} files here)`}; ${read} | ` +
        `${kb < IDLE_TARGET_KB ? (all ? 'met' : 'met per connection; **50,000 not reached on this machine**') : '**missed**'} |`,
    );
  }
  const cpu = input.runs.filter((r) => isThis(r) && r.subscribers === 10_000 && r.rate === 20);
  if (cpu.length > 0)
    lines.push(
      `| server CPU per delivery, reported and compared with Centrifugo | ${cpu.map((r) => `${setupName(r.setup)} ${r.transport.toUpperCase()} ${f2(cpuUs(r))} µs`).join('; ')} (10,000 subscribers, 20 writes/s); Centrifugo below | reported |`,
    );
  return lines;
}

const compared = (input: ReportInput) => input.runs.some((r) => !isThis(r)) || input.idle.some((i) => !isThis(i));

function runTable(input: ReportInput): string[] {
  const lines = [
    "| build | setup | transport | subscribers | writes/s | writes acknowledged | deliveries expected | delivered | lost | doubled | out of order | delay p50 / p99 / max ms | deliveries/s | server CPU µs / delivery | server busy | Redis CPU µs / delivery | load processes' CPU | verdict |",
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of input.runs) {
    const target = r.subscribers === 10_000 && r.rate === 20 && r.setup === 'one';
    const ok = exact(r) && (!target || r.p99 < input.p99TargetMs);
    lines.push(
      `| ${r.build} | ${setupName(r.setup)} | ${r.transport.toUpperCase()} | ${f0(r.subscribers)} | ${r.rate} | ${f0(r.acknowledged)} of ${f0(r.writes)} | ${f0(r.expected)} | ${f0(r.delivered)} | ` +
        `${f0(lost(r))} | ${r.duplicates} | ${r.gaps} | ${f1(r.p50)} / ${f1(r.p99)} / ${f0(r.max)} | ${f0(r.deliveriesPerS)} | ${f2(cpuUs(r))} | ` +
        `${f0((100 * r.serverCpuMs) / r.windowMs)}% | ${r.setup === 'two' ? f2((r.redisCpuMs * 1000) / r.delivered) : ''} | ${f0((100 * r.loadCpuMs) / r.windowMs)}% | ` +
        `${ok ? 'ok' : exact(r) ? '**p99 above target**' : '**EVENTS MISSING OR EXTRA**'} |`,
    );
  }
  const failures = input.runs.flatMap((r) => r.writeFailures);
  if (failures.length > 0) lines.push('', `Write failures (first few): ${failures.map((f) => `\`${f}\``).join(', ')}`);
  return lines;
}

function idleTable(input: ReportInput): string[] {
  if (input.idle.length === 0) return [];
  return [
    '| build | transport | asked | connected | measured | RSS before / after MB | RSS per connection KB, as read | heap per connection KB, as read | RSS per connection KB, once collected | heap per connection KB, once collected | target | verdict |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|',
    ...input.idle.map(
      (i) =>
        `| ${i.build} | ${i.transport.toUpperCase()} | ${f0(i.wanted)} | ${f0(i.connected)} | ${f0(i.measured)} | ${f0(i.before.rssKb / 1024)} / ${f0(i.after.rssKb / 1024)} | ` +
        `${f1(idleKb(i))} | ${f1((i.after.heap - i.before.heap) / i.measured / 1000)} | ${collectedCell(i)} | ` +
        `${i.collected === undefined ? 'n/a' : f1((i.collected.after.heap - i.collected.before.heap) / i.measured / 1000)} | ` +
        `< ${IDLE_TARGET_KB} KB | ${verdictKb(i) < IDLE_TARGET_KB ? 'ok' : '**above target**'} |`,
    ),
    ...input.idle.flatMap((i) =>
      i.heapDiff === undefined
        ? []
        : [
            '',
            `**${i.build}, ${i.transport.toUpperCase()}**, from heap snapshots before and after (\`--idle-heap\`; the RSS ` +
              `above then includes the snapshots' own memory: read RSS from a run without it): ${renderHeapDiff(i.heapDiff)}`,
          ],
    ),
  ];
}

/** Each run of this build beside the same run of the build compared with. */
function beforeAfter(input: ReportInput): string[] {
  const lines = [
    '| setup | transport | subscribers | writes/s | delay p99 ms, before → this | delay p50 ms, before → this | server CPU µs / delivery, before → this | deliveries/s, before → this | all delivered (before / this) |',
    '|---|---|---:|---:|---|---|---|---|---|',
  ];
  for (const r of input.runs.filter(isThis)) {
    const b = input.runs.find(
      (x) => !isThis(x) && x.setup === r.setup && x.transport === r.transport && x.subscribers === r.subscribers && x.rate === r.rate,
    );
    if (!b) continue;
    lines.push(
      `| ${setupName(r.setup)} | ${r.transport.toUpperCase()} | ${f0(r.subscribers)} | ${r.rate} | ${f1(b.p99)} → **${f1(r.p99)}** | ${f1(b.p50)} → ${f1(r.p50)} | ` +
        `${f2(cpuUs(b))} → **${f2(cpuUs(r))}** | ${f0(b.deliveriesPerS)} → ${f0(r.deliveriesPerS)} | ${exact(b) ? 'yes' : 'NO'} / ${exact(r) ? 'yes' : 'NO'} |`,
    );
  }
  for (const i of input.idle.filter(isThis)) {
    const b = input.idle.find((x) => !isThis(x) && x.transport === i.transport);
    if (b)
      lines.push(
        '',
        `Idle ${i.transport.toUpperCase()}: ${f1(idleKb(b))} → **${f1(idleKb(i))}** KB RSS per connection as read, ` +
          `${collectedCell(b)} → **${collectedCell(i)}** once collected (${f0(i.measured)} measured).`,
      );
  }
  return lines;
}

/** Centrifugo's published figures (centrifugal.dev blog, "Million connections with Centrifugo", 2020-02-10). */
function centrifugo(input: ReportInput): string[] {
  const best = input.runs.filter((r) => isThis(r) && r.subscribers === 10_000 && r.rate === 20).map(cpuUs);
  return [
    'Centrifugo\'s published figures ("Million connections with Centrifugo", centrifugal.dev blog, 2020-02-10; ' +
      'https://centrifugal.dev/blog/2020/02/10/million-connections-with-centrifugo): 20 server pods (Centrifuge library, Protobuf protocol) ' +
      'on Intel Xeon E5-2640 v4 @ 2.40GHz, Redis engine sharded over 5 Redis instances; 1 million WebSocket connections, each subscribed to ' +
      'a personal channel and a group channel of 10 subscribers; "28 million messages per minute (about 500k per second) delivered to ' +
      'clients", 200k connects/disconnects a minute, "200ms delivery latency in 99 percentile", messages of about 100 bytes; "40 CPU total ' +
      'for server nodes" (20 pods, ~2 CPU each), "27 GB of RAM ... about 30kb RAM per connection", 0.32 CPU on each Redis instance; ' +
      'and "about 10 CPU total" to hold the million connections with few messages.',
    '',
    `So Centrifugo spent about 40 CPU-s per second / ~467,000 deliveries per second = **~86 µs of server CPU per delivery** (~64 µs ` +
      'after taking off the ~10 CPU its idle million connections cost), and ~27-30 KB per connection. Their workload is not this one: ' +
      'many channels of 1 and 10 subscribers (a publish reaches few connections, so its per-message cost is paid again and again), ' +
      'connection churn, Protobuf frames, Go on a 2017 Xeon; here one room fans each event out to thousands of subscribers, ' +
      'so per-message work is shared.' +
      (best.length === 0
        ? ' (No run at 10,000 subscribers and 20 writes/s in this report.)'
        : ` roomkv here: ${best.map((x) => `${f2(x)} µs`).join(', ')} per delivery at 10,000 subscribers and 20 writes/s.`),
  ];
}

export function renderReport(input: ReportInput): string[] {
  const lines = [
    '# roomkv benchmark: fan-out to one room',
    '',
    ...machine(input),
    ...method(input),
    '',
    '## Targets',
    '',
    ...targets(input),
  ];
  if (compared(input))
    lines.push(
      '',
      '## Before / after',
      '',
      '"before" is the build named by `--compare`, each of its runs made right after the same run of this one.',
      '',
      ...beforeAfter(input),
    );
  lines.push('', '## Runs', '', ...runTable(input));
  if (input.idle.length > 0) lines.push('', '## Idle connections', '', ...idleTable(input));
  lines.push(
    '',
    '## Compared',
    '',
    "The issue's figures for today's SSE (10,000 app-token streams on one room, one instance, measured from outside with the subscribers' " +
      'process on the same machine): at 5 writes/s p99 258 ms, at 20 writes/s (200,000 deliveries/s) p99 330 ms, nothing lost, 13.6 KB of ' +
      'server memory per stream.',
    '',
    ...centrifugo(input),
  );
  for (const p of input.profiles) {
    lines.push(
      '',
      `## Where the time goes: ${setupName(p.setup)}, ${p.transport.toUpperCase()}, ${f0(p.subscribers)} subscribers, ${p.rate} writes/s`,
      '',
      `${p.setup === 'one' ? 'A fresh instance' : 'Fresh instances, the first one profiled (it delivers half the events),'} run with \`node --cpu-prof\` under the same load (this run: p99 ${f1(p.run.p99)} ms, ${f0(p.run.delivered)} of ` +
        `${f0(p.run.expected)} delivered, ${f2(cpuUs(p.run))} µs CPU a delivery); only the samples of the run (its writes, deliveries ` +
        'and the wait for the last events) and the shutdown count, not start-up or connecting; "a call" below is a delivery.',
      '',
      ...p.summary,
    );
  }
  return lines;
}
