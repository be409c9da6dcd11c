// The roomkv command line, run as its own process: --help, check-config naming every problem at
// once, a data dir another roomkv holds, usage errors and their messages, and the exit codes.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeSettings } from '../../src/config/config.js';
import { appToken, makeApp, tempDir } from '../support/apps.js';
import { call } from '../support/client.js';
import { startTarget, sqliteTarget } from '../support/server.js';
import { WEBHOOK_EVENT_NAMES } from '../../src/config/apps.js';
import { type CliResult, ROOT, runCli } from './cli-run.js';
import { inBatches } from './cli-support.js';

// The commands that need no running server, started a few at a time (each is a process start).
/** A data dir with no development app in it. */
const emptyDir = tempDir();
const bad = tempDir();
const good = tempDir();
const mistakes = tempDir();
type Solo =
  | 'help'
  | 'unknown'
  | 'checkGood'
  | 'checkBad'
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
  for (const d of [emptyDir, bad, good, mistakes]) rmSync(d, { recursive: true, force: true });
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
    unknownFlag: [['serve', '--frob', '1'], {}],
    missingValue: [['serve', '--port'], {}],
    version: [['--version'], {}],
    tokenNoKind: [['token'], { ROOMKV_DATA_DIR: emptyDir }],
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
