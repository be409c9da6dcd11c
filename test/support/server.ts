import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { startServer } from '../../src/server.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { removeTempDir, tempDir, writeAppsFile, type TestApp } from './apps.js';
import { group } from './at.js';

export interface ServerHandle {
  url: string;
  dataDir: string;
  appsFile: string;
  close(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  env?: Record<string, string>;
}

/**
 * A store the HTTP suites run against. `env` is what selects and configures the store; the
 * suites are written once and called with each target.
 */
export interface Target {
  name: string;
  env(): Record<string, string>;
  /** Removes everything this target stored, between test files. */
  reset?(): Promise<void>;
}

export const sqliteTarget: Target = {
  name: 'sqlite',
  env: () => ({}),
};

/** A real server, listening on a free port, in this process. */
export async function startTarget(target: Target, apps: TestApp[], opts: StartOptions = {}): Promise<ServerHandle> {
  const dataDir = opts.dataDir ?? tempDir();
  const appsFile = writeAppsFile(apps, dataDir);
  const env = { ...target.env(), ...(opts.env ?? {}), PORT: '0', HOST: '127.0.0.1', ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: appsFile };
  const config = loadConfig(env);
  const server = await startServer(config, pino({ level: 'silent' }));
  const close = async () => {
    await server.close();
    // A data dir the caller passed may be opened again (restarts): only the one made here goes.
    if (opts.dataDir === undefined) removeTempDir(dataDir);
  };
  return { url: server.url, dataDir, appsFile, close };
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildServer {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** SIGKILL: no shutdown code runs. */
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

/** roomkv as its own process (`src/cli.ts serve`), for crash and restart tests. */
export async function spawnServer(env: Record<string, string>, args: string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ROOMKV_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 90_000);
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(group(m, 1));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const exited = once(child, 'exit');
  return {
    url,
    child,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** The settings of a Redis target: its prefix always, and its URL or its cluster nodes. */
export type RedisTestEnv = Record<string, string> & { ROOMKV_REDIS_PREFIX: string };

/**
 * The Redis targets, from what `npm test` (scripts/run-tests.mjs) started or found. Under CI a
 * missing Redis is an error, never a skip; elsewhere the caller skips with a loud reason.
 */
export function redisEnv(kind: 'redis' | 'redis-cluster'): { env: RedisTestEnv } | { missing: string } {
  const url = process.env.ROOMKV_TEST_REDIS_URL;
  const nodes = process.env.ROOMKV_TEST_CLUSTER_NODES;
  const have = kind === 'redis' ? url : nodes;
  // The fast tier (npm run test:fast) leaves Redis out on purpose: no warning, and no CI error.
  if (process.env.ROOMKV_TEST_FAST === '1') return { missing: `${kind}: left out of the fast tier` };
  if (!have) {
    const missing = `${kind}: no ${kind === 'redis' ? 'ROOMKV_TEST_REDIS_URL' : 'ROOMKV_TEST_CLUSTER_NODES'} (run the tests with npm test, which starts Redis)`;
    if (process.env.CI) throw new Error(`CI must run the Redis suites, but ${missing}`);
    console.warn(`\n!!! SKIPPING the ${kind} suites: ${missing} !!!\n`);
    return { missing };
  }
  const env: RedisTestEnv = {
    ROOMKV_STORE: 'redis',
    ROOMKV_REDIS_PREFIX: `rktest:${testRunTag()}${Math.random().toString(36).slice(2, 10)}:`,
  };
  if (kind === 'redis') env.ROOMKV_REDIS_URL = url!;
  else env.ROOMKV_REDIS_CLUSTER_NODES = nodes!;
  dropAtExit(env.ROOMKV_REDIS_PREFIX, kind === 'redis' ? { url } : { clusterNodes: nodes });
  return { env };
}

/** `run<id>-` under scripts/run-tests.mjs: its leftover check tells this run's keys from another run's. */
function testRunTag(): string {
  const run = process.env.ROOMKV_TEST_RUN;
  return run ? `run${run}-` : '';
}

/** The key prefixes redisEnv handed out in this process, and where: their keys go when the tests end. */
const handedOut: Array<{ prefix: string; where: { url?: string; clusterNodes?: string } }> = [];

/**
 * Every server and store of a test file may use its prefix until the file's last test: the keys are
 * deleted once the process has nothing left to do (beforeExit), on every master of a cluster.
 */
function dropAtExit(prefix: string, where: { url?: string; clusterNodes?: string }): void {
  if (handedOut.length === 0) process.once('beforeExit', () => void dropHandedOut());
  handedOut.push({ prefix, where });
}

async function dropHandedOut(): Promise<void> {
  for (const { prefix, where } of handedOut.splice(0)) {
    try {
      await dropPrefix(prefix, where);
    } catch (err) {
      process.stderr.write(`could not delete the test keys ${prefix}*: ${String(err)}\n`);
      process.exitCode ||= 1;
    }
  }
}

/** SCAN + UNLINK of `prefix`*, node by node (one key per command: a cluster refuses keys of two slots in one). */
export async function dropPrefix(prefix: string, where: { url?: string; clusterNodes?: string }): Promise<number> {
  const client = await connectRedis({
    url: where.url ?? 'redis://127.0.0.1:6379',
    clusterNodes: where.clusterNodes,
    commandTimeoutMs: 5000,
  });
  let dropped = 0;
  try {
    const nodes = 'nodes' in client ? client.nodes('master') : [client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await node.pipeline(keys.map((k) => ['unlink', k])).exec();
        dropped += keys.length;
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
  return dropped;
}

export function redisTarget(kind: 'redis' | 'redis-cluster'): Target | { missing: string } {
  const found = redisEnv(kind);
  if ('missing' in found) return found;
  return { name: kind, env: () => found.env };
}
