/**
 * What the benchmark's processes share: the dataset's shape, the spec a load process reads, the
 * result it prints, and small helpers. Nothing here imports roomkv's code.
 */
import { createServer } from 'node:net';

/**
 * The dataset every roomkv target holds before the workloads run (the "real data"): 1,000
 * rooms. ROOMKV_BENCH_ROOMS (10 to 1,000) makes it smaller for a quick trial run (the benchmark's own
 * test); the results file always says how many.
 */
export const ROOMS = benchRooms(process.env.ROOMKV_BENCH_ROOMS);
export const MEMBERS_PER_ROOM = 10;
/** Keys k00..k19 that the room owner sets: what get-all reads and forced-set overwrites. */
export const BASE_KEYS = 20;
/**
 * Keys `<member>.d0..d19` each member owns during a delete run, so that every delete call removes a
 * real key: 200,000 of them, enough for 33,000 calls a second over the warm-up and the run.
 */
export const DELETABLE_PER_MEMBER = 20;
export const GET_KEYS = ['k00', 'k07', 'k13'];

export const ORG = 'bench';
export const APP = 'live';

export const WORKLOADS = ['set', 'get-all', 'get-keys', 'delete', 'forced-set', 'mixed', 'increment', 'conditional-set'] as const;
export type Workload = (typeof WORKLOADS)[number];

export function userName(room: number, member: number): string {
  return `b${String(room * MEMBERS_PER_ROOM + member).padStart(5, '0')}`;
}

export function baseKey(i: number): string {
  return `k${String(i).padStart(2, '0')}`;
}

/** A target's rooms: ids as the server issued them, members in order (member 0 owns the room). */
export interface Dataset {
  roomIds: string[];
}

/** What a load process is told (written to a JSON file, its path passed as the only argument). */
export interface LoadSpec {
  url: string;
  workload: Workload;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Room ids in the order of rooms 0..ROOMS-1. */
  roomIds: string[];
  /** username -> 007 user token (agora-token), for every member of every room. */
  tokensFile: string;
  /** Offset of the request counter, so that successive delete runs take the next keys. */
  counterStart: number;
  /** Check the first reply's content (a real store); the baseline's canned answer is not checked. */
  checkContent: boolean;
  /** The server's pid, to read its CPU time over the measured run from /proc. */
  serverPid?: number;
  /** The load generator: autocannon (in this process), or wrk (one thread, as a child) when installed. */
  generator: 'autocannon' | 'wrk';
}

export interface LoadResult {
  workload: Workload;
  requests: number;
  durationS: number;
  rps: number;
  p50: number;
  p99: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
  /** 200s whose errorKeys is not empty. */
  perKeyErrors: number;
  /** Requests issued, warm-up included (the next run's counterStart). */
  issued: number;
  /** Answers (probe, warm-up and run) that stored or removed a key: the change events the run caused. */
  acknowledgedWrites: number;
  sampleNon2xx?: string;
  samplePerKeyError?: string;
  probe: string;
  /** CPU time (user + system) the server process spent over the measured run, ms; NaN if unread. */
  serverCpuMs: number;
  /** CPU time the load generator spent over the measured run, ms. */
  loadCpuMs: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function benchRooms(setting: string | undefined): number {
  if (setting === undefined || setting === '') return 1000;
  const n = Number(setting);
  // At least 10: the scale run's member removal makes rooms of 100 members from the members' names.
  if (!Number.isInteger(n) || n < 10 || n > 1000) throw new Error(`ROOMKV_BENCH_ROOMS: a whole number from 10 to 1000, not ${setting}`);
  return n;
}
