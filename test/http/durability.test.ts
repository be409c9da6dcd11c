// Durability of the SQLite store with roomkv as its own process: graceful restarts, kill -9 under
// load, the first run without configuration, and start-up refusing bad settings. SQLite only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { call, client, type Client } from '../support/client.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { assertSqliteIntact } from '../support/sqlite-integrity.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DB_FILE = 'roomkv.sqlite';
// Pinned, so that a ROOMKV_STORE in the caller's environment cannot move these tests off SQLite.
const SQLITE = { ROOMKV_STORE: 'sqlite' };

/** A server process for `app` on `dataDir` (the apps file is rewritten there on every start). */
function startOn(dataDir: string, app: TestApp, env: Record<string, string> = {}): Promise<ChildServer> {
  return spawnServer({ ...SQLITE, ...env, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir) });
}

function adminOf(server: ChildServer, app: TestApp): Client {
  return client(server.url, `/${app.org}/${app.app}`, appToken(app));
}

async function ok(c: Client, method: string, path: string, body?: unknown): Promise<any> {
  const res = await c.call(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body;
}

/** Resolves once the process output matches `re`; driven by the output events, not by polling. */
function waitForOutput(server: ChildServer, re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(server.output());
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`process exited before printing ${re}:\n${server.output()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no output matching ${re} within ${timeoutMs} ms:\n${server.output()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      server.child.stdout!.off('data', check);
      server.child.stderr!.off('data', check);
      server.child.off('exit', onExit);
    };
    server.child.stdout!.on('data', check);
    server.child.stderr!.on('data', check);
    server.child.once('exit', onExit);
    check();
  });
}

/** `roomkv serve` expected to refuse to start: its exit code and everything it printed. */
async function runUntilExit(env: Record<string, string>): Promise<{ code: number | null; signal: string | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ROOMKV_LOG_LEVEL: 'info', ROOMKV_APPS_FILE: '', ...SQLITE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A server that starts anyway is stopped here, and the assertions on the exit code fail.
    timeout: 90_000,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  return { code, signal, output };
}

describe('durability [sqlite, separate process]', () => {
  it('keeps users, rooms, attributes, owners and autoDelete flags across a graceful restart', async () => {
    const app = makeApp();
    const dataDir = tempDir();
    let server = await startOn(dataDir, app);
    let admin = adminOf(server, app);
    await ok(admin, 'POST', '/users', [
      { username: 'alice', password: 'pw-alice-1' },
      { username: 'bob', password: 'pw-bob-1' },
      { username: 'carol', password: 'pw-carol-1' },
    ]);
    const room = (await ok(admin, 'POST', '/chatrooms', { name: 'stage', description: 'd', owner: 'alice', members: ['bob', 'carol'] }))
      .data.id as string;
    const put = (c: Client, user: string, metaData: Record<string, string>, autoDelete?: string) =>
      ok(c, 'PUT', `/metadata/chatroom/${room}/user/${user}`, autoDelete === undefined ? { metaData } : { metaData, autoDelete });
    assert.deepEqual((await put(admin, 'alice', { a1: 'alice-1', a2: 'alice-2' }, 'NO_DELETE')).data, {
      successKeys: ['a1', 'a2'],
      errorKeys: {},
    });
    assert.deepEqual((await put(admin, 'bob', { b_keep: 'bob-keep' }, 'NO_DELETE')).data, { successKeys: ['b_keep'], errorKeys: {} });
    assert.deepEqual((await put(admin, 'bob', { b_auto: 'bob-auto' })).data, { successKeys: ['b_auto'], errorKeys: {} });
    // A token issued by roomkv itself must outlive the process too (spec section 2).
    const issued = await call(server.url, 'POST', `/${app.org}/${app.app}/token`, {
      body: { grant_type: 'password', username: 'carol', password: 'pw-carol-1' },
    });
    assert.equal(issued.status, 200, issued.text);
    const carolIssued = issued.body.access_token as string;

    assert.equal(await server.stop(), 0, `graceful stop should exit 0:\n${server.output()}`);
    server = await startOn(dataDir, app);
    admin = adminOf(server, app);
    try {
      for (const name of ['alice', 'bob', 'carol']) {
        const user = await ok(admin, 'GET', `/users/${name}`);
        assert.equal(user.entities[0].username, name);
      }
      const details = await ok(admin, 'GET', `/chatrooms/${room}`);
      assert.equal(details.data[0].owner, 'alice');
      assert.equal(details.data[0].affiliations_count, 3);
      const all = await ok(admin, 'POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual({ ...all.data }, { a1: 'alice-1', a2: 'alice-2', b_keep: 'bob-keep', b_auto: 'bob-auto' });

      // Owners survived: another member's set is refused, the owner's own set goes through.
      const bobOnAlice = await put(admin, 'bob', { a1: 'bob', b_keep: 'bob-keep-2' }, 'NO_DELETE');
      assert.deepEqual(bobOnAlice.data, { successKeys: ['b_keep'], errorKeys: { a1: "key 'a1' is not part of you" } });
      const aliceOnBob = await put(client(server.url, `/${app.org}/${app.app}`, userToken(app, 'alice')), 'alice', { b_auto: 'alice' });
      assert.deepEqual(aliceOnBob.data, { successKeys: [], errorKeys: { b_auto: "key 'b_auto' is not part of you" } });

      const carol = client(server.url, `/${app.org}/${app.app}`, carolIssued);
      const carolGet = await carol.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['a1'] } });
      assert.equal(carolGet.status, 200, `a token issued before the restart: ${carolGet.text}`);
      assert.deepEqual({ ...carolGet.body.data }, { a1: 'alice-1' });

      // autoDelete flags survived: bob leaving removes only his DELETE key.
      await ok(admin, 'DELETE', `/chatrooms/${room}/users/bob`);
      const after = await ok(admin, 'POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual({ ...after.data }, { a1: 'alice-1', a2: 'alice-2', b_keep: 'bob-keep-2' });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  // Both writers: on its own thread (the default) and on the main thread.
  for (const writer of ['thread', 'main']) {
    it(`loses no acknowledged write when killed with SIGKILL under load (3 rounds, ROOMKV_SQLITE_WRITER=${writer})`, async () => {
      const WRITERS = 8;
      const ROUNDS = 3;
      const MIN_ACKED = 200;
      // Each writer uses a fresh room per round and stays under the 100-keys-per-room limit.
      const MAX_CALLS_PER_WRITER = 95;
      const app = makeApp({ limits: { rateLimitPerSecond: 1_000_000 } });
      const dataDir = tempDir();
      const writers = Array.from({ length: WRITERS }, (_, i) => `writer${i}`);
      /** room -> key -> value of every acknowledged key, over all rounds. */
      const acked = new Map<string, Map<string, string>>();
      /** room -> key -> value of every attempted key (acknowledged or not). */
      const attempted = new Map<string, Map<string, string>>();
      const kills: string[] = [];

      const verify = async (admin: Client, when: string) => {
        let n = 0;
        for (const [room, keys] of acked) {
          const res = await admin.call('POST', `/metadata/chatroom/${room}`);
          assert.equal(res.status, 200, `${when}: get room ${room}: ${res.text}`);
          const stored = res.body.data as Record<string, string>;
          for (const [key, value] of keys) {
            assert.equal(stored[key], value, `${when}: acknowledged key ${key} of room ${room} (${kills.join('; ')})`);
            n++;
          }
          // Whatever else is there was written by one of the calls whose answer never arrived.
          for (const [key, value] of Object.entries(stored)) {
            assert.equal(attempted.get(room)?.get(key), value, `${when}: ${room}/${key} was never written with this value`);
          }
        }
        return n;
      };

      let server = await startOn(dataDir, app, { ROOMKV_SQLITE_WRITER: writer });
      let admin = adminOf(server, app);
      await ok(
        admin,
        'POST',
        '/users',
        writers.map((username) => ({ username, password: 'pw-123456' })),
      );
      let total = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        if (round > 1) {
          server = await startOn(dataDir, app, { ROOMKV_SQLITE_WRITER: writer });
          admin = adminOf(server, app);
          assert.equal(await verify(admin, `after kill ${round - 1}`), total);
        }
        const rooms: string[] = [];
        for (const w of writers) {
          const body = await ok(admin, 'POST', '/chatrooms', { name: `r${round}-${w}`, description: 'load', owner: w });
          rooms.push(body.data.id as string);
          acked.set(body.data.id, new Map());
          attempted.set(body.data.id, new Map());
        }
        const killAt = MIN_ACKED + Math.floor(Math.random() * 200);
        let ackedThisRound = 0;
        let killed: Promise<void> | undefined;
        const unexpected: string[] = [];
        const run = async (w: string, room: string) => {
          const c = client(server.url, `/${app.org}/${app.app}`, userToken(app, w));
          for (let i = 0; i < MAX_CALLS_PER_WRITER && killed === undefined; i++) {
            const key = `k${i}`;
            const value = `${round}:${w}:${i}:${'x'.repeat(200 + (i % 50))}`;
            attempted.get(room)!.set(key, value);
            let res;
            try {
              res = await c.call('PUT', `/metadata/chatroom/${room}/user/${w}`, {
                body: { metaData: { [key]: value }, autoDelete: 'NO_DELETE' },
              });
            } catch {
              return; // the server is gone: this call may or may not have been stored
            }
            if (res.status !== 200 || !Array.isArray(res.body?.data?.successKeys)) {
              unexpected.push(`${res.status} ${res.text}`);
              return;
            }
            for (const k of res.body.data.successKeys as string[]) acked.get(room)!.set(k, value);
            ackedThisRound += res.body.data.successKeys.length;
            if (ackedThisRound >= killAt && killed === undefined) killed = server.kill9();
          }
        };
        await Promise.all(writers.map((w, i) => run(w, at(rooms, i))));
        assert.deepEqual(unexpected, [], `round ${round}: every answered call should succeed`);
        assert.ok(
          killed !== undefined,
          `round ${round}: writers finished with ${ackedThisRound} acknowledged, before the kill at ${killAt}`,
        );
        await killed;
        assert.equal(server.child.signalCode, 'SIGKILL');
        kills.push(`round ${round}: killed after ${ackedThisRound} acknowledged writes`);
        total += ackedThisRound;
      }

      server = await startOn(dataDir, app, { ROOMKV_SQLITE_WRITER: writer });
      try {
        assert.equal(await verify(adminOf(server, app), 'after the last kill'), total);
      } finally {
        assert.equal(await server.stop(), 0);
      }
      assert.ok(total >= ROUNDS * MIN_ACKED);

      await assertSqliteIntact(join(dataDir, DB_FILE));
    });
  }

  it('makes a development app on the first run without configuration and keeps it', async () => {
    const dataDir = tempDir();
    // Only the data dir: an empty ROOMKV_APPS_FILE counts as unset, and guards against the caller's env.
    let server = await spawnServer({ ...SQLITE, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: '' });
    let firstAppId: string;
    try {
      const [, token] = await waitForOutput(server, /^ {2}export TOKEN='(007[A-Za-z0-9+/=]+)'$/m);
      const out = server.output();
      firstAppId = /^ {2}App ID +([0-9a-f]{32})$/m.exec(out)?.[1] ?? '';
      assert.match(firstAppId, /^[0-9a-f]{32}$/, out);
      assert.match(out, /Created the development app demo#demo/);
      assert.match(out, /^ {2}App Certificate +[0-9a-f]{32}$/m);
      assert.match(out, /^ {2}client id +\S+$/m);
      assert.match(out, /^ {2}client secret +\S+$/m);
      assert.match(out, /curl .*Authorization: Bearer \$TOKEN/);
      assert.ok(out.includes(`${server.url}/demo/demo/users`), `the curl line targets the server:\n${out}`);

      const res = await call(server.url, 'POST', '/demo/demo/users', { token, body: { username: 'alice', password: 'secret1' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.entities[0].username, 'alice');

      const file = join(dataDir, 'demo-app.json');
      assert.ok(existsSync(file));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(saved.apps[0].appId, firstAppId);
    } finally {
      assert.equal(await server.stop(), 0);
    }

    server = await spawnServer({ ...SQLITE, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: '' });
    try {
      const [, token] = await waitForOutput(server, /^ {2}export TOKEN='(007[A-Za-z0-9+/=]+)'$/m);
      const out = server.output();
      assert.match(out, /Using the development app demo#demo/);
      assert.equal(/^ {2}App ID +([0-9a-f]{32})$/m.exec(out)?.[1], firstAppId);
      const res = await call(server.url, 'GET', '/demo/demo/users/alice', { token });
      assert.equal(res.status, 200, `the user made on the first run is still there: ${res.text}`);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('refuses to start on PORT=abc, naming the variable', async () => {
    const { code, signal, output } = await runUntilExit({ ROOMKV_DATA_DIR: tempDir(), PORT: 'abc' });
    assert.equal(signal, null, output);
    assert.notEqual(code, 0, output);
    assert.match(output, /\bPORT\b/);
    assert.match(output, /abc/);
    assert.doesNotMatch(output, /Server listening/);
  });

  it('refuses to start on an apps file with a bad appId, naming the field', async () => {
    const dataDir = tempDir();
    const appsFile = join(dataDir, 'apps.json');
    writeFileSync(appsFile, JSON.stringify({ apps: [{ ...makeApp(), appId: 'not-a-hex-app-id' }] }));
    const { code, signal, output } = await runUntilExit({ ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: appsFile });
    assert.equal(signal, null, output);
    assert.notEqual(code, 0, output);
    assert.match(output, /appId/);
    assert.ok(output.includes(appsFile), `the message names the file:\n${output}`);
    assert.doesNotMatch(output, /Server listening/);
  });
});
