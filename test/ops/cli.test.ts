// The roomkv command line, run as its own process: --help, tokens a running server accepts (for an
// apps file and for the development app), apps list with and without secrets, check-config naming
// every problem at once, and the exit codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeSettings } from '../../src/config/config.js';
import { appToken, makeApp, tempDir, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { call, client } from '../support/client.js';
import { spawnServer, startTarget, sqliteTarget, type ChildServer, type ServerHandle } from '../support/server.js';
import { WEBHOOK_EVENT_NAMES } from '../../src/config/apps.js';
import { decodeToken, ROOT, runCli, type CliResult } from './cli-run.js';

const TOKEN_LINE = /^007[A-Za-z0-9+/=]+$/;

/** The one line a token command prints. */
function tokenOf(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line expected, got:\n${stdout}`);
  assert.match(at(lines, 0), TOKEN_LINE);
  return at(lines, 0);
}

/** Runs the jobs a few at a time: many tsx starts at once on a busy 2-core machine meet runCli's timeout. */
async function inBatches<T>(jobs: Array<() => Promise<T>>, size = 4): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < jobs.length; i += size) results.push(...(await Promise.all(jobs.slice(i, i + size).map((job) => job()))));
  return results;
}

// The commands that need no running server, started a few at a time (each is a process start).
const demoDir = tempDir();
const bad = tempDir();
const good = tempDir();
const mistakes = tempDir();
type Solo =
  | 'help'
  | 'unknown'
  | 'checkGood'
  | 'checkBad'
  | 'demoBeforeStart'
  | 'unknownFlag'
  | 'missingValue'
  | 'version'
  | 'tokenNoKind'
  | 'badUser'
  | 'badTtl'
  | 'appsNoList'
  | 'badEvent'
  | 'reservedOrg'
  | 'example';
let solo: Record<Solo, CliResult>;
after(() => {
  for (const d of [demoDir, bad, good, mistakes]) rmSync(d, { recursive: true, force: true });
});
before(async () => {
  const hook = { url: 'http://127.0.0.1:9/hook', secret: 'a-long-random-secret', events: ['set', 'sett'] };
  writeFileSync(join(mistakes, 'event.json'), JSON.stringify({ apps: [Object.assign(makeApp(), { webhooks: [hook] })] }));
  writeFileSync(join(mistakes, 'reserved.json'), JSON.stringify({ apps: [makeApp({ org: 'docs' }), makeApp({ org: 'Metrics' })] }));
  writeFileSync(join(good, 'apps.json'), JSON.stringify({ apps: [makeApp(), makeApp()] }));
  const { clientSecret: _dropped, ...noSecret } = makeApp();
  writeFileSync(join(bad, 'apps.json'), JSON.stringify({ apps: [makeApp({ appId: 'not-an-app-id' }), noSecret] }));
  const commands: Record<keyof typeof solo, [string[], Record<string, string>]> = {
    help: [['serve', '--help'], {}],
    unknown: [['frobnicate'], {}],
    checkGood: [
      ['check-config'],
      { ROOMKV_APPS_FILE: join(good, 'apps.json'), ROOMKV_DATA_DIR: good, PORT: '8099', ROOMKV_STORE: 'sqlite' },
    ],
    checkBad: [['check-config'], { ROOMKV_APPS_FILE: join(bad, 'apps.json'), ROOMKV_DATA_DIR: bad, PORT: 'abc', ROOMKV_STORE: 'x' }],
    demoBeforeStart: [['token', 'app'], { ROOMKV_DATA_DIR: demoDir }],
    unknownFlag: [['serve', '--frob', '1'], {}],
    missingValue: [['serve', '--port'], {}],
    version: [['--version'], {}],
    tokenNoKind: [['token'], { ROOMKV_DATA_DIR: demoDir }],
    badUser: [['token', 'user', 'bad name!'], { ROOMKV_DATA_DIR: good, ROOMKV_APPS_FILE: join(good, 'apps.json') }],
    badTtl: [['token', 'app', '--ttl', 'soon'], { ROOMKV_DATA_DIR: good, ROOMKV_APPS_FILE: join(good, 'apps.json') }],
    appsNoList: [['apps'], {}],
    badEvent: [['check-config'], { ROOMKV_APPS_FILE: join(mistakes, 'event.json'), ROOMKV_DATA_DIR: mistakes }],
    reservedOrg: [['check-config'], { ROOMKV_APPS_FILE: join(mistakes, 'reserved.json'), ROOMKV_DATA_DIR: mistakes }],
    example: [['check-config'], { ROOMKV_APPS_FILE: join(ROOT, 'apps.example.json'), ROOMKV_DATA_DIR: mistakes }],
  };
  const results = await inBatches(
    Object.values(commands).map(
      ([args, env]) =>
        () =>
          runCli(args, env),
    ),
  );
  solo = Object.fromEntries(Object.keys(commands).map((k, i) => [k, results[i]])) as typeof solo;
});

describe('roomkv serve --help', () => {
  it('lists every setting with its environment variable and its default, and exits 0', () => {
    const res = solo.help;
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split('\n');
    const settings = describeSettings();
    assert.ok(settings.length >= 20, 'the settings table is not empty');
    for (const s of settings) {
      const line = lines.find((l) => new RegExp(`(^|\\s)${s.env}(\\s|$)`).test(l));
      assert.ok(line !== undefined, `--help names ${s.env}:\n${res.stdout}`);
      if (s.default !== undefined) {
        assert.ok(line.split(/\s+/).includes(String(s.default)), `--help gives ${s.env}'s default ${String(s.default)}: ${line}`);
      }
    }
  });
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
    const res = solo.demoBeforeStart;
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

describe('roomkv check-config', () => {
  it('exits 0 on a good setup', () => {
    const res = solo.checkGood;
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, '');
  });

  it('exits 1 naming every problem in one run: bad settings and every bad entry of the apps file', () => {
    const res = solo.checkBad;
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const out = res.stderr;
    assert.match(out, /PORT\b.*abc/, 'names PORT and its value');
    assert.match(out, /ROOMKV_STORE\b.*\bx\b/, 'names ROOMKV_STORE and its value');
    assert.match(out, /ROOMKV_STORE.*sqlite.*redis/, 'lists the allowed stores');
    assert.match(out, /apps\/0\/appId/, "names the first app's appId");
    assert.match(out, /apps\/1\/clientSecret/, "names the second app's missing clientSecret");
    assert.ok(!out.includes('configuration ok') && !res.stdout.includes('configuration ok'));
  });
});

describe('roomkv serve on a data dir another roomkv holds', () => {
  it('refuses to start, naming the file, and the running one goes on serving', async () => {
    const app = makeApp();
    const first = await startTarget(sqliteTarget, [app]);
    try {
      const second = await runCli(['serve'], {
        ROOMKV_DATA_DIR: first.dataDir,
        ROOMKV_APPS_FILE: first.appsFile,
        PORT: '0',
        HOST: '127.0.0.1',
        ROOMKV_STORE: 'sqlite',
      });
      assert.notEqual(second.code, 0, 'the second server must not start');
      assert.match(second.stderr + second.stdout, /roomkv\.sqlite is in use by another process/);
      const res = await call(first.url, 'POST', `/${app.org}/${app.app}/users`, {
        token: appToken(app),
        body: { username: 'still-here', password: 'pw-123456' },
      });
      assert.equal(res.status, 200, res.text);
    } finally {
      await first.close();
    }
  });
});

describe('roomkv with an unknown command', () => {
  it('exits 2 and prints the usage', () => {
    const res = solo.unknown;
    assert.equal(res.code, 2);
    assert.match(res.stderr, /frobnicate/);
    assert.match(res.stderr, /usage: roomkv/);
    assert.equal(res.stdout, '');
  });
});

/** Every message below is one line of its own, then (for a usage error) the usage. */
function firstLine(res: CliResult): string {
  return res.stderr.split('\n')[0]!;
}

describe('roomkv usage errors and their messages', () => {
  it('an unknown flag: names it cleanly (no Node parser text), prints the usage, exits 2', () => {
    const res = solo.unknownFlag;
    assert.equal(res.code, 2);
    assert.equal(firstLine(res), 'roomkv: usage error: unknown option --frob (roomkv serve --help lists every flag)');
    assert.match(res.stderr, /usage: roomkv <command>/);
    assert.doesNotMatch(res.stderr, /positional argument|invalid configuration|failed to start/);
    assert.equal(res.stdout, '');
  });

  it('a flag without its value says so', () => {
    assert.equal(solo.missingValue.code, 2);
    assert.equal(firstLine(solo.missingValue), 'roomkv: usage error: option --port needs a value');
  });

  it('--version prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(solo.version.code, 0, solo.version.stderr);
    assert.equal(solo.version.stdout, `roomkv ${version}\n`);
  });

  it('a command used wrongly is a usage error, not "invalid configuration", and is told before any app is looked for', () => {
    for (const [res, line] of [
      [solo.tokenNoKind, 'roomkv: usage error: roomkv token app | roomkv token user NAME'],
      [solo.appsNoList, 'roomkv: usage error: roomkv apps list [--show-secrets]'],
      [solo.badTtl, 'roomkv: usage error: --ttl soon: a whole number of seconds, 1 or more'],
    ] as const) {
      assert.equal(res.code, 2, res.stderr);
      assert.equal(firstLine(res), line);
      assert.doesNotMatch(res.stderr, /invalid configuration/);
      assert.equal(res.stdout, '');
    }
  });

  it('token user with a name no user can have is refused with the username rule', () => {
    const res = solo.badUser;
    assert.equal(res.code, 2);
    assert.equal(res.stdout, '', 'no token printed');
    assert.equal(firstLine(res), "roomkv: usage error: username 'bad name!' is not legal: 1 to 64 of a-z 0-9 _ - .");
  });

  it('a mistyped webhook event in the apps file is named, with every valid name', () => {
    const res = solo.badEvent;
    assert.equal(res.code, 1);
    assert.match(res.stderr, /\/apps\/0\/webhooks\/0\/events\/1: "sett" is not an event name: use /);
    for (const name of WEBHOOK_EVENT_NAMES) assert.ok(res.stderr.includes(name), `${name} listed:\n${res.stderr}`);
  });

  it('an org named like a path roomkv serves itself is refused, in any case', () => {
    const res = solo.reservedOrg;
    assert.equal(res.code, 1);
    assert.match(res.stderr, /2 problems/);
    assert.match(res.stderr, /\/apps\/0\/org: 'docs' is reserved/);
    assert.match(res.stderr, /\/apps\/1\/org: 'Metrics' is reserved/);
  });

  it('the shipped apps.example.json passes check-config', () => {
    assert.equal(solo.example.code, 0, solo.example.stderr);
    assert.match(solo.example.stdout, /configuration ok .*apps\.example\.json/);
  });
});
