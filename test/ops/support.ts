// Small helpers of the operator tests: waiting for a condition with a deadline, Prometheus text.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tempDir } from '../support/apps.js';
import { group } from '../support/at.js';
export { freePort } from '../support/ports.js';
import { freePort } from '../support/ports.js';

export { waitFor } from '../support/wait.js';
import { waitFor } from '../support/wait.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[group(label, 1)] = group(label, 2).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: group(m, 1), labels, value: Number(m[3]) });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
export function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `labels`, or undefined when there is none; throws when several match. */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = select(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/**
 * Whether the tests that start their own redis-server can run: under CI a missing redis-server is
 * an error; elsewhere the caller skips with this loud reason.
 */
export function ownRedisSkip(): string | false {
  if (hasRedisServer) return false;
  const reason = 'redis-server is not installed: the tests that start their own Redis cannot run';
  if (process.env.CI) throw new Error(`CI must run every test, but ${reason}`);
  console.warn(`\n!!! SKIPPING: ${reason} !!!\n`);
  return reason;
}

/** A redis-server of the test's own on a free port, without persistence; resolves once it answers PING. */
export async function startOwnRedis(extra: string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir('roomkv-ops-redis-'), ...extra],
    { stdio: 'ignore' },
  );
  await waitFor(
    `redis-server on port ${port}`,
    () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG',
    10_000,
  );
  return { port, child };
}

/** Whether `pid` still runs (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
