/**
 * The load generator: its own process, so the server under test never shares an event loop with
 * it. Runs autocannon with one request built per call (a real path, token and body, exactly as
 * the official SDK sends them), a warm-up and then the measured run; prints one JSON LoadResult.
 *
 *   node --import tsx bench/load.ts <spec.json>
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  APP, BASE_KEYS, DELETABLE_PER_MEMBER, GET_KEYS, MEMBERS_PER_ROOM, ORG, ROOMS, baseKey, userName,
  type LoadResult, type LoadSpec, type Workload,
} from './common.js';

interface Built { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; path: string; body: string; token: string }

interface CannonResult {
  requests: { total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
interface CannonRequest {
  setupRequest?: (req: Record<string, unknown>, context: unknown) => Record<string, unknown>;
  onResponse?: (status: number, body: string) => void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: CannonResult) => void) => unknown;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8')) as LoadSpec;
const tokens = JSON.parse(readFileSync(spec.tokensFile, 'utf8')) as Record<string, string>;
const prefix = `/${ORG}/${APP}/metadata/chatroom`;
const PAIRS = ROOMS * MEMBERS_PER_ROOM;

/**
 * Request number i of a workload. Consecutive requests go to different rooms (room = i mod ROOMS),
 * and every member of every room takes its turn.
 */
function build(workload: Workload, i: number): Built {
  const p = i % PAIRS;
  const room = p % ROOMS;
  const member = Math.floor(p / ROOMS);
  const user = userName(room, member);
  const roomId = spec.roomIds[room];
  const token = tokens[user];
  switch (workload) {
    case 'set':
      return { method: 'PUT', path: `${prefix}/${roomId}/user/${user}`, token,
        body: JSON.stringify({ metaData: { [`${user}.a`]: `seat-${i}`, [`${user}.b`]: `mood-${i}` }, autoDelete: 'DELETE' }) };
    case 'get-all':
      // The SDK sends {"keys": undefined}, i.e. "{}", for every attribute.
      return { method: 'POST', path: `${prefix}/${roomId}`, token, body: '{}' };
    case 'get-keys':
      return { method: 'POST', path: `${prefix}/${roomId}`, token, body: JSON.stringify({ keys: GET_KEYS }) };
    case 'delete': {
      // Each member owns DELETABLE_PER_MEMBER keys: round j deletes key d{j} of every member.
      const j = Math.floor(i / PAIRS) % DELETABLE_PER_MEMBER;
      return { method: 'DELETE', path: `${prefix}/${roomId}/user/${user}`, token, body: JSON.stringify({ keys: [`${user}.d${j}`] }) };
    }
    case 'forced-set': {
      // Member m takes over two of the owner's keys.
      const k1 = baseKey((2 * member) % BASE_KEYS);
      const k2 = baseKey((2 * member + 1) % BASE_KEYS);
      return { method: 'PUT', path: `${prefix}/${roomId}/user/${user}/forced`, token,
        body: JSON.stringify({ metaData: { [k1]: `forced-${i}`, [k2]: `forced-${i}` }, autoDelete: 'NO_DELETE' }) };
    }
    case 'mixed':
      // 20% set, 40% get-all, 40% get-keys.
      if (i % 5 === 0) return build('set', i);
      return build(i % 2 === 0 ? 'get-all' : 'get-keys', i);
  }
}

let counter = spec.counterStart;
let perKeyErrors = 0;
let samplePerKeyError: string | undefined;
let sampleNon2xx: string | undefined;
let counting = false;

function next(req: Record<string, unknown>): Record<string, unknown> {
  const b = build(spec.workload, counter++);
  return {
    ...req,
    method: b.method,
    path: b.path,
    body: b.body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${b.token}`, Accept: 'application/json' },
  };
}

/** 200s that stored or removed a key, warm-up and probe included: each one wrote exactly one change event. */
let acknowledgedWrites = 0;
const wroteKeys = (status: number, body: string) => status === 200 && body.includes('"successKeys":[') && !body.includes('"successKeys":[]');

function onResponse(status: number, body: string): void {
  if (wroteKeys(status, body)) acknowledgedWrites++;
  if (!counting) return;
  if (status !== 200) {
    sampleNon2xx ??= `${status} ${body.slice(0, 300)}`;
    return;
  }
  if (body.includes('"errorKeys":') && !body.includes('"errorKeys":{}')) {
    perKeyErrors++;
    samplePerKeyError ??= body.slice(0, 300);
  }
}

/** One request by fetch before the run: it must succeed, and a real store must answer real data. */
async function probe(): Promise<string> {
  const b = build(spec.workload === 'mixed' ? 'get-all' : spec.workload, counter++);
  const res = await fetch(spec.url + b.path, {
    method: b.method, body: b.body, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${b.token}` },
  });
  const text = await res.text();
  if (wroteKeys(res.status, text)) acknowledgedWrites++;
  if (res.status !== 200) return `probe failed: ${res.status} ${text.slice(0, 300)}`;
  if (!spec.checkContent) return 'ok';
  const data = (JSON.parse(text) as { data: Record<string, unknown> }).data;
  const want = spec.workload === 'get-all' || spec.workload === 'mixed' ? BASE_KEYS : spec.workload === 'get-keys' ? GET_KEYS.length : -1;
  if (want >= 0) {
    const got = Object.keys(data).filter((k) => /^k\d\d$/.test(k)).length;
    if (got !== want) return `probe: expected ${want} base keys, got ${got}: ${text.slice(0, 300)}`;
  } else if (Object.keys((data as { errorKeys: object }).errorKeys).length > 0) {
    return `probe: per-key errors: ${text.slice(0, 300)}`;
  }
  return 'ok';
}

function run(durationS: number): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    autocannon({
      url: spec.url,
      connections: spec.connections,
      duration: durationS,
      timeout: 10,
      requests: [{ setupRequest: next, onResponse } satisfies CannonRequest],
    }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A process's CPU time so far (user + system), ms, from /proc; NaN where /proc cannot be read. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100;

const probed = await probe();
if (spec.warmupS > 0) await run(spec.warmupS);
counting = true;
const serverCpu0 = processCpuMs(spec.serverPid);
const loadCpu0 = process.cpuUsage();
const res = await run(spec.durationS);
const loadCpu = process.cpuUsage(loadCpu0);
const serverCpuMs = processCpuMs(spec.serverPid) - serverCpu0;
const result: LoadResult = {
  workload: spec.workload,
  requests: res.requests.total,
  durationS: res.duration,
  rps: res.requests.total / res.duration,
  p50: res.latency.p50,
  p99: res.latency.p99,
  errors: res.errors, // timeouts included
  non2xx: res.non2xx,
  perKeyErrors,
  issued: counter,
  acknowledgedWrites,
  probe: probed,
  serverCpuMs,
  loadCpuMs: (loadCpu.user + loadCpu.system) / 1000,
  ...(sampleNon2xx ? { sampleNon2xx } : {}),
  ...(samplePerKeyError ? { samplePerKeyError } : {}),
};
console.log(JSON.stringify(result));
process.exit(0);
