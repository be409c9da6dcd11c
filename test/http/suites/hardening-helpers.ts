import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TestApp } from '../../support/apps.js';
import type { Reply } from '../../support/client.js';

// The package's AccessToken2 builds tokens with any services and any issueTs, so oversized, expired
// or otherwise odd but validly signed tokens are made the way an attacker holding a certificate (or
// a buggy app server) would, without waiting.
const require = createRequire(import.meta.url);
export interface Service007 {
  add_privilege(privilege: number, expire: number): void;
}
export const AT2 = require('agora-token/src/AccessToken2.js') as {
  AccessToken2: new (
    appId: string,
    appCertificate: string,
    issueTs: number,
    expire: number,
  ) => { add_service(s: Service007): void; build(): string };
  ServiceChat: new (userId?: string) => Service007;
  ServiceRtc: new (channel: string, uid: number) => Service007;
};

export const PRIV_APP = 2;
export const PASSWORD = 'pw-123456';
export const CORRUPT = ['auth_bad_access_token', 'Unable to authenticate due to corrupt access token'] as const;
export const OAUTH = ['unauthorized', 'Unable to authenticate (OAuth)'] as const;
export const INVALID_PASSWORD = ['invalid_grant', 'invalid password'] as const;
export const USER_LOCKED = ['reach_limit', 'too many failed logins for this user; try again later'] as const;
export const APP_LOCKED = ['reach_limit', 'too many failed logins for this app; try again later'] as const;
export const BUSY = ['reach_limit', 'too many logins in progress for this app; try again later'] as const;

export const nowSec = () => Math.floor(Date.now() / 1000);

export function mint(app: Pick<TestApp, 'appId' | 'appCertificate'>, ...services: Service007[]): string {
  const t = new AT2.AccessToken2(app.appId, app.appCertificate, nowSec(), 3600);
  for (const s of services) t.add_service(s);
  const token = t.build();
  assert.ok(token.startsWith('007'), 'agora-token refused to build the token');
  return token;
}

export function chatApp(): Service007 {
  const s = new AT2.ServiceChat();
  s.add_privilege(PRIV_APP, 3600);
  return s;
}

export function rtc(channel: string): Service007 {
  const s = new AT2.ServiceRtc(channel, 42);
  s.add_privilege(1, 3600);
  return s;
}

export function expectError(res: Reply, status: number, [error, description]: readonly [string, string], what = ''): void {
  assert.equal(res.status, status, `${what}: ${res.text.slice(0, 300)}`);
  assert.deepEqual([res.body?.error, res.body?.error_description], [error, description], what);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Milliseconds `f` took, and its result. */
export async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await f();
  return [performance.now() - start, result];
}

/**
 * Runs `a(i)` and `b(i)` alternately, one at a time, `n` times each (which goes first alternates
 * too), and returns each side's latencies: both see the same machine load.
 */
export async function interleaved(
  n: number,
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
): Promise<[number[], number[]]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) as.push((await timed(() => a(i)))[0]);
    bs.push((await timed(() => b(i)))[0]);
    if (i % 2 === 1) as.push((await timed(() => a(i)))[0]);
  }
  return [as, bs];
}

/**
 * That `a` costs less than `ratio` times `b` (medians of `n` interleaved calls each), in one of up
 * to three rounds. Timing on a shared machine: another process's burst can land on one side of a
 * round. A real difference (work an attacker's input should not cause) shows in every round;
 * noise does not. `round` is the round's number (for fresh inputs); the medians go to diagnostics.
 */
export async function cheaperInSomeRound(
  t: { diagnostic(message: string): void },
  names: [a: string, b: string],
  ratio: number,
  n: number,
  a: (round: number, i: number) => Promise<unknown>,
  b: (round: number, i: number) => Promise<unknown>,
): Promise<void> {
  const rounds: string[] = [];
  for (let round = 0; round < 3; round++) {
    const [aMs, bMs] = await interleaved(
      n,
      (i) => a(round, i),
      (i) => b(round, i),
    );
    const said = `median ms: ${names[0]} ${median(aMs).toFixed(2)}, ${names[1]} ${median(bMs).toFixed(2)}`;
    t.diagnostic(said);
    if (median(aMs) < ratio * median(bMs)) return;
    rounds.push(said);
  }
  assert.fail(`${names[0]} cost ${ratio}x ${names[1]} or more in each of 3 rounds: ${rounds.join('; ')}`);
}

/** Runs `tasks` with at most `width` in flight; results in order. */
export async function inParallel<T>(width: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}

let gcFn: (() => void) | undefined;

/** The heap in use after a full collection (the server under test runs in this process). */
export function heapAfterGc(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  return process.memoryUsage().heapUsed;
}
