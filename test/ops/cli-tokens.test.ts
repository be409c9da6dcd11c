// The roomkv command line, run as its own process: tokens a running server accepts (for an apps
// file and for the development app), and apps list with and without secrets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { call, client } from '../support/client.js';
import { spawnServer, startTarget, sqliteTarget, type ChildServer, type ServerHandle } from '../support/server.js';
import { type CliResult, decodeToken, runCli } from './cli-run.js';
import { inBatches } from './cli-support.js';

const TOKEN_LINE = /^007[A-Za-z0-9+/=]+$/;

/** The one line a token command prints. */
function tokenOf(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line expected, got:\n${stdout}`);
  assert.match(at(lines, 0), TOKEN_LINE);
  return at(lines, 0);
}

// The development app's data dir, and what `token app` says there before any start.
const demoDir = tempDir();
let demoBeforeStart: CliResult;
after(() => {
  rmSync(demoDir, { recursive: true, force: true });
});
before(async () => {
  demoBeforeStart = await runCli(['token', 'app'], { ROOMKV_DATA_DIR: demoDir });
});

describe('roomkv token and apps list, for apps from an apps file', () => {
  const hookSecret = `whsec-${randomBytes(12).toString('hex')}`;
  const first = Object.assign(makeApp({ limits: { rateLimitPerSecond: 100_000 } }), {
    webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: hookSecret }],
  });
  const second = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const firstKey = `${first.org}#${first.app}`;
  const secondKey = `${second.org}#${second.app}`;
  let server: ServerHandle;
  // Every command of this group, run at once (each is a process start).
  let run: Record<'appSecond' | 'appFirst' | 'noApp' | 'user' | 'unknownApp' | 'list' | 'secrets', CliResult>;
  before(async () => {
    server = await startTarget(sqliteTarget, [first, second]);
    const env = { ROOMKV_APPS_FILE: server.appsFile, ROOMKV_DATA_DIR: server.dataDir };
    const commands = {
      appSecond: ['token', 'app', '--ttl', '60', '--app', secondKey],
      appFirst: ['token', 'app', '--app', firstKey],
      noApp: ['token', 'app'],
      user: ['token', 'user', 'CliUser', '--ttl', '120', '--app', firstKey],
      unknownApp: ['token', 'app', '--app', 'nosuch#app'],
      list: ['apps', 'list'],
      secrets: ['apps', 'list', '--show-secrets'],
    };
    const results = await inBatches(Object.values(commands).map((args) => () => runCli(args, env)));
    run = Object.fromEntries(Object.keys(commands).map((k, i) => [k, results[i]])) as typeof run;
  });
  after(() => server.close());

  async function setupRoom(app: TestApp, members: string[]): Promise<string> {
    const admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
    const users = await admin.call('POST', '/users', { body: members.map((username) => ({ username, password: 'pw-123456' })) });
    assert.equal(users.status, 200, users.text);
    const room = await admin.call('POST', '/chatrooms', {
      body: { name: 'r', description: 'd', owner: members[0], members: members.slice(1) },
    });
    assert.equal(room.status, 200, room.text);
    return room.body.data.id;
  }

  it('token app --ttl 60 --app org#app prints a 007 app token of that app, valid 60 s, that the server accepts', async () => {
    const res = run.appSecond;
    assert.equal(res.code, 0, res.stderr);
    const token = tokenOf(res.stdout);
    const claims = decodeToken(token);
    assert.equal(claims.appId, second.appId);
    assert.equal(claims.expire, 60);
    assert.deepEqual(Object.keys(claims.privileges), ['2'], 'an app token (Chat privilege 2)');

    const created = await call(server.url, 'POST', `/${second.org}/${second.app}/users`, {
      token,
      body: { username: 'fromcli', password: 'pw-123456' },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.entities[0].username, 'fromcli');
    const read = await call(server.url, 'GET', `/${second.org}/${second.app}/users/fromcli`, { token });
    assert.equal(read.status, 200);
    // It is the second app's token: the first app refuses it.
    const other = await call(server.url, 'POST', `/${first.org}/${first.app}/users`, {
      token,
      body: { username: 'fromcli', password: 'pw-123456' },
    });
    assert.equal(other.status, 401);
    assert.equal(other.body.error, 'unauthorized');
    assert.equal(other.body.error_description, 'Unable to authenticate (OAuth)');
  });

  it('--app picks the other app among several', async () => {
    const res = run.appFirst;
    assert.equal(res.code, 0, res.stderr);
    const token = tokenOf(res.stdout);
    assert.equal(decodeToken(token).appId, first.appId);
    const ok = await call(server.url, 'POST', `/${first.org}/${first.app}/users`, {
      token,
      body: { username: 'pickedfirst', password: 'pw-123456' },
    });
    assert.equal(ok.status, 200, ok.text);
    const refused = await call(server.url, 'GET', `/${second.org}/${second.app}/users/pickedfirst`, { token });
    assert.equal(refused.status, 401);
  });

  it('with several apps and no --app, prints no token, exits 1 and names the apps to choose from', () => {
    const res = run.noApp;
    assert.equal(res.code, 1);
    assert.equal(res.stdout.trim(), '');
    assert.match(res.stderr, /--app/);
    assert.ok(res.stderr.includes(firstKey) && res.stderr.includes(secondKey), res.stderr);
  });

  it('token user NAME prints a user token that acts as that user, and only as that user', async () => {
    const room = await setupRoom(first, ['cliuser', 'bystander']);
    const res = run.user;
    assert.equal(res.code, 0, res.stderr);
    const token = tokenOf(res.stdout);
    const claims = decodeToken(token);
    assert.equal(claims.appId, first.appId);
    assert.equal(claims.expire, 120);
    assert.deepEqual(Object.keys(claims.privileges), ['1'], 'a user token (Chat privilege 1)');
    const me = client(server.url, `/${first.org}/${first.app}`, token);

    const set = await me.call('PUT', `/metadata/chatroom/${room}/user/cliuser`, { body: { metaData: { seat: 'cli' } } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body.data, { successKeys: ['seat'], errorKeys: {} });
    const records = await me.as(appToken(first)).call('GET', `/chatrooms/${room}/attributes`);
    assert.equal(records.status, 200, records.text);
    assert.deepEqual(
      records.body.data.map((r: { key: string; owner: string }) => [r.key, r.owner]),
      [['seat', 'cliuser']],
    );

    const asOther = await me.call('PUT', `/metadata/chatroom/${room}/user/bystander`, { body: { metaData: { seat2: 'x' } } });
    assert.equal(asOther.status, 403);
    assert.equal(asOther.body.error, 'forbidden_op');
    assert.equal(asOther.body.error_description, 'others are not allowed to be set');
    const admin = await me.call('POST', '/users', { body: { username: 'nope', password: 'pw-123456' } });
    assert.equal(admin.status, 403);
    assert.equal(admin.body.error_description, 'app token required');
  });

  it('token with an unknown --app prints no token, exits 1 and names it', () => {
    assert.equal(run.unknownApp.code, 1);
    assert.equal(run.unknownApp.stdout.trim(), '');
    assert.match(run.unknownApp.stderr, /nosuch#app/);
  });

  it('apps list shows org, app and App ID of every app, never a certificate or a secret', () => {
    const res = run.list;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /App ID/);
    for (const a of [first, second]) {
      const row = res.stdout.split('\n').find((l) => l.includes(a.appId));
      assert.ok(row !== undefined, `a row for ${a.appId}:\n${res.stdout}`);
      assert.ok(row.includes(a.org) && row.includes(a.app), row);
    }
    for (const secret of [first.appCertificate, first.clientSecret, second.appCertificate, second.clientSecret, hookSecret]) {
      assert.ok(!res.stdout.includes(secret) && !res.stderr.includes(secret), `${secret} printed:\n${res.stdout}`);
    }
  });

  it('apps list --show-secrets shows the certificate, client id and client secret too', () => {
    const res = run.secrets;
    assert.equal(res.code, 0, res.stderr);
    for (const a of [first, second]) {
      const row = res.stdout.split('\n').find((l) => l.includes(a.appId));
      assert.ok(row !== undefined, res.stdout);
      for (const v of [a.org, a.app, a.appCertificate, a.clientId, a.clientSecret]) assert.ok(row.includes(v), `${v} in ${row}`);
    }
  });
});

describe('roomkv token, for the development app', () => {
  const env = { ROOMKV_DATA_DIR: demoDir };
  let server: ChildServer | undefined;
  after(async () => {
    await server?.stop();
  });

  it('before any start there is no app: exits 1 telling how to get one', () => {
    const res = demoBeforeStart;
    assert.equal(res.code, 1);
    assert.equal(res.stdout.trim(), '');
    assert.match(res.stderr, /ROOMKV_APPS_FILE/);
  });

  it('after one serve start, token app and token user print tokens the server accepts for demo#demo', async () => {
    server = await spawnServer({ ROOMKV_STORE: 'sqlite', ROOMKV_DATA_DIR: demoDir, ROOMKV_APPS_FILE: '' });
    const [appRes, userRes] = await Promise.all([
      runCli(['token', 'app', '--ttl', '60'], env),
      runCli(['token', 'user', 'devuser', '--app', 'demo#demo'], env),
    ]);
    assert.equal(appRes.code, 0, appRes.stderr);
    assert.equal(userRes.code, 0, userRes.stderr);
    const token = tokenOf(appRes.stdout);
    assert.equal(decodeToken(token).expire, 60);
    // No apps file: it says, on stderr (stdout is the token alone), which app the token is for.
    assert.match(appRes.stderr, /an app token for the development app demo#demo \(.*demo-app\.json\), valid 60 s/);
    assert.match(userRes.stderr, /a user token for devuser of the development app demo#demo/);

    const admin = client(server.url, '/demo/demo', token);
    const users = await admin.call('POST', '/users', { body: [{ username: 'devuser', password: 'pw-123456' }] });
    assert.equal(users.status, 200, users.text);
    const room = await admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'devuser' } });
    assert.equal(room.status, 200, room.text);
    const id = room.body.data.id as string;

    const me = admin.as(tokenOf(userRes.stdout));
    const set = await me.call('PUT', `/metadata/chatroom/${id}/user/devuser`, { body: { metaData: { k: 'v' } } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body.data, { successKeys: ['k'], errorKeys: {} });
    const got = await me.call('POST', `/metadata/chatroom/${id}`, { body: { keys: ['k'] } });
    assert.deepEqual(got.body.data, { k: 'v' });
    const refused = await me.call('GET', '/users/devuser');
    assert.equal(refused.status, 403);
  });
});
