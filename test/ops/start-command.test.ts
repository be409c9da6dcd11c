// The start command the README gives an operator, `npm start`, stopped as a process manager stops
// it: SIGTERM to the npm process. roomkv must get the signal, drain and exit, and npm with it: no
// server left answering, no process of the tree left behind (a shell between npm and node used to
// die of the signal and leave node running, re-parented to init).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../support/apps.js';
import { cleanEnv, ROOT } from './cli-run.js';
import { alive, waitFor } from './support.js';

/** Every process below `pid`, from the process table. */
function descendants(pid: number): number[] {
  const table = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [p, pp] of table) {
      if (pp === parent) {
        found.push(p);
        walk(p);
      }
    }
  };
  walk(pid);
  return found;
}

describe('npm start', () => {
  const dataDir = tempDir();
  let npm: ChildProcess | undefined;
  let tree: number[] = [];

  after(() => {
    // Only our own processes, by id, if a failed assertion left them running.
    for (const pid of [...tree, npm?.pid].filter((p): p is number => p !== undefined)) {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("is the README's start command", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const run = readme.slice(readme.indexOf('## Run it, test it'));
    assert.match(/```sh\n([\s\S]*?)```/.exec(run)?.[1] ?? '', /npm install && npm start/);
  });

  it(
    'on SIGTERM to npm, drains and exits: the server stops answering and no process of its tree is left',
    { timeout: 90_000 },
    async () => {
      assert.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'npm start runs dist/cli.js: run npm run build first');
      npm = spawn('npm', ['start'], {
        cwd: ROOT,
        env: { ...cleanEnv(), PORT: '0', HOST: '127.0.0.1', ROOMKV_DATA_DIR: dataDir, ROOMKV_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = once(npm, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      let out = '';
      npm.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      npm.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await waitFor('roomkv to listen', () => /roomkv is listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 60_000);
      const url = /roomkv is listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1];
      const serverPid = Number(/"pid":(\d+),.*"msg":"Server listening at/.exec(out)?.[1]);
      tree = descendants(npm.pid!);
      assert.ok(tree.includes(serverPid), `roomkv (${serverPid}) runs under npm (${npm.pid}): ${tree.join(', ')}`);

      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);

      npm.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.equal(signal, null, `npm was killed by ${signal}, not exited:\n${out}`);
      assert.equal(code, 0, `npm start exited ${code}:\n${out}`);
      assert.match(out, /"signal":"SIGTERM","msg":"shutting down"/, 'roomkv got the SIGTERM');

      await assert.rejects(fetch(`${url}/healthz`), 'the server no longer answers');
      await waitFor('every process of the tree to be gone', () => tree.every((p) => !alive(p)), 10_000).catch(() =>
        assert.fail(`left running: ${tree.filter(alive).join(', ')} (roomkv was ${serverPid})`),
      );
    },
  );
});
