// Runs `roomkv` (src/cli.ts through tsx) as its own process, as an operator would, with an
// environment cleared of the caller's roomkv settings so that only what a test passes counts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** process.env without any setting roomkv reads (PORT, HOST, ROOMKV_*). */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'PORT' || k === 'HOST' || k.startsWith('ROOMKV_')) continue;
    env[k] = v;
  }
  return env;
}

export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A command that hangs (e.g. starts a server) is stopped; its exit code then fails the test.
    timeout: 20_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const require = createRequire(import.meta.url);
const { AccessToken2 } = require('agora-token/src/AccessToken2.js') as {
  AccessToken2: new () => {
    appId: Buffer | string;
    issueTs: number;
    expire: number;
    services: Array<{ service_type(): number; __privileges: Record<string, number>; __user_id?: Buffer | string }>;
    from_string(token: string): boolean;
  };
};

/** What a 007 token says, read with the official package's parser. */
export function decodeToken(token: string): { appId: string; expire: number; privileges: Record<string, number>; userId: string } {
  const t = new AccessToken2();
  if (!t.from_string(token)) throw new Error(`not a 007 token: ${token}`);
  const chat = t.services.find((s) => s.service_type() === 5);
  if (!chat) throw new Error('no Chat service in the token');
  return { appId: String(t.appId), expire: t.expire, privileges: { ...chat.__privileges }, userId: String(chat.__user_id ?? '') };
}
