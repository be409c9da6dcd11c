/**
 * The load generator: its own process, so the server under test never shares an event loop with
 * it. Runs autocannon with one request built per call (a real path, token and body, exactly as
 * the official SDK sends them), a warm-up and then the measured run; prints one JSON LoadResult.
 *
 *   node --import tsx bench/load.ts <spec.json>
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import {
  APP,
  BASE_KEYS,
  DELETABLE_PER_MEMBER,
  GET_KEYS,
  MEMBERS_PER_ROOM,
  ORG,
  ROOMS,
  baseKey,
  userName,
  type LoadResult,
  type LoadSpec,
  type Workload,
} from './common.js';

interface Built {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body: string;
  token: string;
}

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

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
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
  const token = tokens[user]!;
  switch (workload) {
    case 'set':
      return {
        method: 'PUT',
        path: `${prefix}/${roomId}/user/${user}`,
        token,
        body: JSON.stringify({ metaData: { [`${user}.a`]: `seat-${i}`, [`${user}.b`]: `mood-${i}` }, autoDelete: 'DELETE' }),
      };
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
      return {
        method: 'PUT',
        path: `${prefix}/${roomId}/user/${user}/forced`,
        token,
        body: JSON.stringify({ metaData: { [k1]: `forced-${i}`, [k2]: `forced-${i}` }, autoDelete: 'NO_DELETE' }),
      };
    }
    case 'increment':
      // A member adds one to its own counter (spec section 10): a read of the stored value, a write.
      return { method: 'PUT', path: `${prefix}/${roomId}/user/${user}`, token, body: JSON.stringify({ increment: { [`${user}.c`]: 1 } }) };
    case 'conditional-set':
      // set's two keys, all or nothing (spec section 10, atomic). A steady stream cannot carry
      // ifRevision that holds: an answer does not say the new revision, so it would need a read a call.
      return {
        method: 'PUT',
        path: `${prefix}/${roomId}/user/${user}`,
        token,
        body: JSON.stringify({ metaData: { [`${user}.a`]: `seat-${i}`, [`${user}.b`]: `mood-${i}` }, autoDelete: 'DELETE', atomic: true }),
      };
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
const wroteKeys = (status: number, body: string) =>
  status === 200 && body.includes('"successKeys":[') && !body.includes('"successKeys":[]');

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
    method: b.method,
    body: b.body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${b.token}` },
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
    autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: durationS,
        timeout: 10,
        requests: [{ setupRequest: next, onResponse } satisfies CannonRequest],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
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

/** One timed run's figures, whichever generator made it. */
interface RunFigures {
  requests: number;
  durationS: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  loadCpuMs: number;
}

async function runAutocannon(durationS: number): Promise<RunFigures> {
  const cpu0 = process.cpuUsage();
  const res = await run(durationS);
  const cpu = process.cpuUsage(cpu0);
  return {
    requests: res.requests.total,
    durationS: res.duration,
    p50: res.latency.p50,
    p99: res.latency.p99,
    errors: res.errors, // timeouts included
    non2xx: res.non2xx,
    loadCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

// ---- wrk: the same requests, written out once as raw HTTP, sent in turn by bench/wrk.lua

/** Enough distinct requests for a whole run: every member's every deletable key once. */
const WRK_CYCLE = PAIRS * DELETABLE_PER_MEMBER;
let wrkFile = '';

function writeWrkRequests(): void {
  const host = new URL(spec.url).host;
  const parts: string[] = [];
  for (let i = 0; i < WRK_CYCLE; i++) {
    const b = build(spec.workload, spec.counterStart + i);
    parts.push(
      `${b.method} ${b.path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${b.token}\r\n` +
        `Accept: application/json\r\nContent-Length: ${Buffer.byteLength(b.body)}\r\n\r\n${b.body}\0`,
    );
  }
  wrkFile = join(mkdtempSync(join(tmpdir(), 'roomkv-wrk-')), 'requests');
  writeFileSync(wrkFile, parts.join(''));
}

interface WrkOut {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  acknowledged: number;
  perKey: number;
  sampleNon2xx: string;
  samplePerKey: string;
}

/** Runs wrk (one thread, the same connections) from request `from` of the file; its CPU time read from the shell that waited for it. */
function runWrk(durationS: number, from: number, measured: boolean): Promise<RunFigures> {
  return new Promise((resolve, reject) => {
    const script = 'wrk "$@"; read -r stat < /proc/$$/stat; echo "SHELL_STAT $stat"';
    const child = spawn(
      'sh',
      [
        '-c',
        script,
        'sh',
        '-t1',
        `-c${spec.connections}`,
        `-d${durationS}s`,
        '--timeout',
        '10s',
        '-s',
        WRK_SCRIPT,
        spec.url,
        '--',
        wrkFile,
        String(from),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = /^WRK_RESULT (.*)$/m.exec(out);
      const stat = /^SHELL_STAT (.*)$/m.exec(out);
      if (code !== 0 || !line) {
        reject(new Error(`wrk failed (${code}): ${out.slice(-500)}`));
        return;
      }
      const w = JSON.parse(line[1]!) as WrkOut;
      acknowledgedWrites += w.acknowledged;
      if (measured) {
        perKeyErrors += w.perKey;
        if (w.sampleNon2xx !== '') sampleNon2xx ??= w.sampleNon2xx;
        if (w.samplePerKey !== '') samplePerKeyError ??= w.samplePerKey;
      }
      // The shell's cutime and cstime: the CPU time of the wrk it waited for.
      const fields = stat ? stat[1]!.slice(stat[1]!.lastIndexOf(')') + 2).split(' ') : [];
      const loadCpuMs = stat ? ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS : NaN;
      resolve({
        requests: w.requests,
        durationS: w.durationUs / 1e6,
        p50: w.p50Us / 1000,
        p99: w.p99Us / 1000,
        errors: w.errors + w.timeouts,
        non2xx: w.non2xx,
        loadCpuMs,
      });
    });
  });
}

const WRK_SCRIPT = fileURLToPath(new URL('wrk.lua', import.meta.url));

const probed = await probe();
let res: RunFigures;
let serverCpuMs: number;
if (spec.generator === 'wrk') {
  writeWrkRequests();
  // The probe took request counterStart; the file starts there too, so begin after it.
  let at = 1;
  if (spec.warmupS > 0) {
    const warm = await runWrk(spec.warmupS, at, false);
    // Requests still in flight when wrk stopped were sent too: skip past them.
    at += warm.requests + 2 * spec.connections;
  }
  const serverCpu0 = processCpuMs(spec.serverPid);
  res = await runWrk(spec.durationS, at, true);
  serverCpuMs = processCpuMs(spec.serverPid) - serverCpu0;
  counter = spec.counterStart + at + res.requests + spec.connections;
  rmSync(dirname(wrkFile), { recursive: true, force: true });
} else {
  if (spec.warmupS > 0) await run(spec.warmupS);
  counting = true;
  const serverCpu0 = processCpuMs(spec.serverPid);
  res = await runAutocannon(spec.durationS);
  serverCpuMs = processCpuMs(spec.serverPid) - serverCpu0;
}
const result: LoadResult = {
  workload: spec.workload,
  requests: res.requests,
  durationS: res.durationS,
  rps: res.requests / res.durationS,
  p50: res.p50,
  p99: res.p99,
  errors: res.errors,
  non2xx: res.non2xx,
  perKeyErrors,
  issued: counter,
  acknowledgedWrites,
  probe: probed,
  serverCpuMs,
  loadCpuMs: res.loadCpuMs,
  ...(sampleNon2xx ? { sampleNon2xx } : {}),
  ...(samplePerKeyError ? { samplePerKeyError } : {}),
};
console.log(JSON.stringify(result));
process.exit(0);
