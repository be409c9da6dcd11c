// The published package, as a user gets it: `npm pack` (which runs `prepare`, building dist/),
// `npm install <tarball>` into an empty folder, then `npx roomkv serve` from there. Anything the
// package needs at run time but does not ship (a file outside "files", a dependency listed only
// under devDependencies) fails here, not on a user's machine.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { call } from '../support/client.js';
import { tempDir } from '../support/apps.js';
import { redisEnv } from '../support/server.js';
import { LUA, LUA_DIR } from '../../src/store/redis/lua-registry.js';
import { at, group } from '../support/at.js';
import { alive } from './support.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
// Packing runs tsc; installing builds better-sqlite3 from source when no prebuilt binary is at hand
// (minutes on a small machine).
const TIMEOUT_MS = 600_000;

/** The environment without any roomkv setting or npm state leaking in from the test run. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('ROOMKV_') || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(NPM, args, { cwd, env: cleanEnv({}), maxBuffer: 64 * 1024 * 1024, timeout: TIMEOUT_MS - 60_000 });
    return stdout;
  } catch (err: any) {
    throw new Error(`npm ${args.join(' ')} failed (${err.code ?? err.signal}):\n${err.stdout ?? ''}\n${err.stderr ?? ''}`, { cause: err });
  }
}

/** Every .lua file the Redis store loads, relative to its lua/ folder (lib/ included). */
function luaFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.lua'))
    .sort();
}

/** On Redis, the installed package runs the Lua files it ships. Under CI a missing Redis fails here. */
const redis = redisEnv('redis');

interface Served {
  child: ChildProcess;
  exited: Promise<unknown[]>;
  url: string;
  token: string;
  /** roomkv's own pid: npx runs it as a grandchild (npx -> sh -> node), so not npx's. */
  pid: number;
  /** Everything it has printed so far. */
  out: () => string;
}

describe('the npm package', { timeout: TIMEOUT_MS }, () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const serverPids: number[] = [];
  let installDir = '';

  after(() => {
    // Only ever our own processes, by id: the servers and the npx we spawned, if a failed
    // assertion left them running.
    for (const pid of serverPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** `npx roomkv serve` in the install folder, once it listens and has printed the development token. */
  async function serve(extraEnv: Record<string, string>): Promise<Served> {
    // `--no` : never fetch roomkv from the registry; the installed one must be used.
    const child = spawn(NPX, ['--no', 'roomkv', 'serve'], {
      cwd: installDir,
      env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', ROOMKV_LOG_LEVEL: 'info', ...extraEnv }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = once(child, 'exit');
    let out = '';
    const started = await new Promise<{ url: string; token: string; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`roomkv did not start within 60 s:\n${out}`)), 60_000);
      const check = () => {
        // A pino line: {"level":30,...,"pid":N,...,"msg":"Server listening at http://..."}
        const listening = /"pid":(\d+),.*"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
        const token = /export TOKEN='(007[^']+)'/.exec(out);
        if (listening && token) {
          clearTimeout(timer);
          resolve({ url: group(listening, 2), token: group(token, 1), pid: Number(listening[1]) });
        }
      };
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`roomkv exited (${code ?? signal}) before it was ready:\n${out}`));
      });
    });
    serverPids.push(started.pid);
    assert.notEqual(started.pid, child.pid);
    return { child, exited, ...started, out: () => out };
  }

  /**
   * SIGTERM to roomkv itself, as a process manager stopping it would send. (Signalling npx
   * instead kills npx alone and leaves roomkv running: npm exec does not forward SIGTERM.) npx
   * exits with its child's code.
   */
  async function stop(served: Served): Promise<void> {
    process.kill(served.pid, 'SIGTERM');
    const [code, signal] = await served.exited;
    assert.equal(signal, null, `npx was killed by ${signal}:\n${served.out()}`);
    assert.equal(code, 0, `roomkv exited with ${code} on SIGTERM:\n${served.out()}`);
    assert.equal(alive(served.pid), false);
    assert.match(served.out(), /"signal":"SIGTERM","msg":"shutting down"/);
  }

  it('packs, installs into an empty folder, and serves with `npx roomkv serve`', { timeout: TIMEOUT_MS }, async () => {
    const packDir = tempDir('roomkv-pack-');
    installDir = tempDir('roomkv-install-');
    dirs.push(packDir, installDir);

    // `npm pack` runs `prepare` (tsc -p tsconfig.build.json) first.
    await npm(['pack', '--pack-destination', packDir, '--no-audit', '--no-fund'], ROOT);
    const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual(tarballs, [`roomkv-${version}.tgz`]);
    const tarball = join(packDir, at(tarballs, 0));

    const { stdout: listing } = await run('tar', ['-tzf', tarball]);
    const files = listing.split('\n').filter(Boolean);
    for (const f of [
      'package/package.json',
      'package/README.md',
      'package/dist/cli.js',
      'package/dist/server.js',
      'package/dist/console/page.js',
    ]) {
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    }
    assert.deepEqual(
      files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/') || f.startsWith('package/node_modules/')),
      [],
    );
    // The Redis store's Lua scripts are read at start from beside the compiled registry: the
    // build copies them there (scripts/copy-lua.mjs), as tsc does not.
    const lua = luaFiles(fileURLToPath(LUA_DIR));
    assert.ok(lua.includes('lib/emit.lua') && lua.includes('apply-set.lua'), `src/store/redis/lua/: ${lua}`);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.lua')).sort(),
      lua.map((f) => `package/dist/store/redis/lua/${f}`),
    );

    // An empty folder, as a user's would be: no package.json, no node_modules.
    assert.deepEqual(readdirSync(installDir), []);
    await npm(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], installDir);
    assert.ok(existsSync(join(installDir, 'node_modules', 'roomkv', 'dist', 'cli.js')));
    assert.ok(existsSync(join(installDir, 'node_modules', '.bin', 'roomkv')), 'the roomkv bin was not linked');
    // The installed registry loads every script, the same as the source's.
    const installedLua = join(installDir, 'node_modules', 'roomkv', 'dist', 'store', 'redis', 'lua-registry.js');
    const installed = (await import(pathToFileURL(installedLua).href)) as { LUA: typeof LUA };
    const summary = (all: typeof LUA) => Object.values(all).map((s) => ({ name: s.name, sha: s.sha, numberOfKeys: s.numberOfKeys }));
    assert.deepEqual(summary(installed.LUA), summary(LUA));
    for (const f of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/LICENSE',
      'package/CHANGELOG.md',
      'package/apps.example.json',
    ]) {
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    }

    // The programmatic entry, as another program imports it: by the package's name, through its
    // `exports` map (a deep import is refused), with the types that map names.
    writeFileSync(
      join(installDir, 'embed.mjs'),
      `
      import { loadConfig, startServer, RESERVED_ORGS } from 'roomkv';
      const server = await startServer(loadConfig({ PORT: '0', HOST: '127.0.0.1', ROOMKV_DATA_DIR: process.argv[2], ROOMKV_LOG_LEVEL: 'silent' }));
      const health = await fetch(server.url + '/healthz');
      await server.close();
      let deep = 'allowed';
      try { await import('roomkv/dist/server.js'); } catch (err) { deep = err.code; }
      console.log(JSON.stringify({ status: health.status, reserved: RESERVED_ORGS.includes('docs'), deep }));
    `,
    );
    const embedded = await run(process.execPath, ['embed.mjs', join(installDir, 'embed-data')], {
      cwd: installDir,
      env: cleanEnv({}),
      timeout: 60_000,
    });
    assert.deepEqual(JSON.parse(embedded.stdout.trim()), { status: 200, reserved: true, deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
    writeFileSync(
      join(installDir, 'embed.mts'),
      [
        "import { loadConfig, startServer, type Config, type RunningServer } from 'roomkv';",
        "const config: Config = loadConfig({ PORT: '0' });",
        'const running: Promise<RunningServer> = startServer(config);',
        'export const url: Promise<string> = running.then((s) => s.url);',
        '',
      ].join('\n'),
    );
    try {
      await run(
        process.execPath,
        [
          join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--target',
          'es2022',
          '--typeRoots',
          join(ROOT, 'node_modules', '@types'),
          '--types',
          'node',
          'embed.mts',
        ],
        { cwd: installDir, timeout: 120_000 },
      );
    } catch (err: any) {
      assert.fail(`the installed package's types do not check:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
    }

    const dataDir = join(installDir, 'data');
    const served = await serve({ ROOMKV_DATA_DIR: dataDir });
    const { url, token } = served;
    const out = served.out();

    // The development app was made in the data dir given, inside the install folder.
    assert.ok(existsSync(join(dataDir, 'demo-app.json')), `no demo-app.json in ${dataDir}: ${readdirSync(installDir)}`);
    assert.match(out, /Created the development app demo#demo/);

    const made = await call(url, 'POST', '/demo/demo/users', { token, body: { username: 'alice', password: 'secret1' } });
    assert.equal(made.status, 200, made.text);
    assert.equal(made.body.entities.length, 1);
    assert.equal(made.body.entities[0].username, 'alice');
    assert.equal(made.body.entities[0].activated, true);
    const read = await call(url, 'GET', '/demo/demo/users/alice', { token });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.body.entities[0].username, 'alice');

    // Pieces served from the package's own files: the console page and the OpenAPI document
    // (which reads the version from package.json).
    const page = await fetch(`${url}/console`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>roomkv console<\/title>/);
    const spec = await call(url, 'GET', '/openapi.json');
    assert.equal(spec.status, 200, spec.text);
    assert.equal(spec.body.info.version, version);

    await stop(served);
  });

  it('runs on Redis with the Lua scripts it ships', { timeout: 120_000, skip: 'missing' in redis ? redis.missing : false }, async () => {
    assert.ok(installDir !== '' && 'env' in redis, 'the package was not installed');
    const served = await serve({ ROOMKV_DATA_DIR: join(installDir, 'data-redis'), ...redis.env });
    const { url, token } = served;
    assert.match(served.out(), /Created the development app demo#demo/);
    const app = (method: string, path: string, body?: unknown) => call(url, method, `/demo/demo${path}`, { token, body });
    // Users (CREATE_USERS, a variable key count), a room (CREATE_ROOM), and a set, a read and a
    // delete of attributes (APPLY_SET, READ_ATTRS, APPLY_DELETE, each after
    // the rate limiter's RATE_LEASE): each loaded from the installed dist/ on its first call.
    const users = await app('POST', '/users', [
      { username: 'alice', password: 'secret1' },
      { username: 'bob', password: 'secret1' },
    ]);
    assert.equal(users.status, 200, users.text);
    assert.deepEqual(
      users.body.entities.map((u: { username: string }) => u.username),
      ['alice', 'bob'],
    );
    const room = await app('POST', '/chatrooms', { name: 'r', description: 'd', owner: 'alice', members: ['bob'] });
    assert.equal(room.status, 200, room.text);
    const id = room.body.data.id as string;
    const set = await app('PUT', `/metadata/chatroom/${id}/user/alice`, { metaData: { seat: 'one', mic: 'on' }, autoDelete: 'DELETE' });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body.data, { successKeys: ['seat', 'mic'], errorKeys: {} });
    const got = await app('POST', `/metadata/chatroom/${id}`, { keys: ['seat', 'missing'] });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body.data, { seat: 'one' });
    const removed = await app('DELETE', `/metadata/chatroom/${id}/user/bob`, { keys: ['mic'] });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.data.successKeys, []);
    assert.deepEqual(Object.keys(removed.body.data.errorKeys), ['mic']);
    const mine = await app('DELETE', `/metadata/chatroom/${id}/user/alice`, { keys: ['mic'] });
    assert.deepEqual(mine.body.data, { successKeys: ['mic'], errorKeys: {} });
    await stop(served);
  });
});
