// The README's "A first session", as a newcomer runs it: its shell block taken from README.md and run
// with bash against a fresh server started as `npm start` would (the development app, its token from
// the banner). Twice in a row, and once after the banner's own "Try it" line: every call succeeds and
// prints what the README shows. With a bad token it stops at the first call, showing the error.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../support/apps.js';
import { group } from '../support/at.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { ROOT } from './cli-run.js';
import { waitFor } from './support.js';

const run = promisify(execFile);

/** The body of the first fenced block of `lang` after `heading` in README.md. */
function block(readme: string, heading: string, lang: string): string {
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  assert.ok(section.length > 0, `README.md has no ${heading}`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```').exec(section);
  assert.ok(m, `no ${lang} block under ${heading}`);
  return group(m, 1);
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SESSION = block(README, '## A first session', 'sh');
const SHOWN = block(README, '## A first session', 'text').split('\n');

interface Started {
  server: ChildServer;
  token: string;
  tryIt: string;
}

describe("the README's first session", () => {
  const dirs: string[] = [];
  const servers: ChildServer[] = [];

  /** A server with no apps file, as `npm start` runs on a first start, and what its banner says. */
  async function start(): Promise<Started> {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const server = await spawnServer({ ROOMKV_STORE: 'sqlite', ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: '' });
    servers.push(server);
    await waitFor('the banner', () => /Try it:\n(.*\\\n.*)\n/.test(server.output()));
    const out = server.output();
    const token = /export TOKEN='(007[^']+)'/.exec(out)?.[1];
    assert.ok(token, out);
    return { server, token, tryIt: group(/Try it:\n(.*\\\n.*)\n/.exec(out)!, 1) };
  }

  /** Runs a shell text with bash (from a file, as pasted lines would run), the README's port made the server's. */
  async function bash(text: string, url: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = join(tempDir(), 'session.sh');
    dirs.push(join(file, '..'));
    assert.match(text, /http:\/\/127\.0\.0\.1:8080\//, 'the session talks to the default address');
    writeFileSync(file, text.replaceAll('http://127.0.0.1:8080', url));
    const { TOKEN: _drop, ...base } = process.env;
    try {
      const { stdout, stderr } = await run('bash', [file], { env: { ...base, ...env }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err: any) {
      return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  }

  /** What the README shows, with each user line as it should read in this run. */
  function expected(users: Record<string, 'created' | 'exists'>): string[] {
    return SHOWN.map((line) => {
      const m = /^user (\w+): created$/.exec(line);
      return m ? `user ${m[1]}: ${users[group(m, 1)]}` : line;
    });
  }

  /** The session's output: equal to the README's but for the room id, which is returned. */
  function check(res: { code: number; stdout: string; stderr: string }, users: Record<string, 'created' | 'exists'>): string {
    assert.equal(res.code, 0, `the session failed:\n${res.stdout}\n${res.stderr}`);
    assert.equal(res.stderr, '', 'nothing on stderr');
    const lines = res.stdout.trimEnd().split('\n');
    const room = /^room (\d{12})$/.exec(lines.find((l) => l.startsWith('room ')) ?? '')?.[1];
    assert.ok(room, `a room line:\n${res.stdout}`);
    assert.deepEqual(
      lines.map((l) => l.replace(/^room \d+$/, 'room N')),
      expected(users).map((l) => l.replace(/^room \d+$/, 'room N')),
    );
    return room;
  }

  before(async () => {
    assert.ok(SHOWN.length >= 8, `the README shows the session's output:\n${SHOWN.join('\n')}`);
  });

  after(async () => {
    for (const s of servers) await s.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs twice in a row on a fresh server, every call succeeding, printing what the README shows', async () => {
    const { server, token } = await start();
    const first = check(await bash(SESSION, server.url, { TOKEN: token }), { alice: 'created', bob: 'created' });
    assert.equal(first, /^room (\d+)$/m.exec(SHOWN.join('\n'))?.[1], "a fresh server's first room has the id the README shows");
    const second = check(await bash(SESSION, server.url, { TOKEN: token }), { alice: 'exists', bob: 'exists' });
    assert.notEqual(second, first, 'each run makes its own chatroom');
  });

  it('runs after the banner\'s "Try it" line, which made alice already', async () => {
    const { server, token, tryIt } = await start();
    const tried = await bash(tryIt.replace(/http:\/\/127\.0\.0\.1:\d+/, 'http://127.0.0.1:8080'), server.url, { TOKEN: token });
    assert.equal(tried.code, 0, tried.stderr);
    assert.match(tried.stdout, /"username":"alice"/);
    check(await bash(SESSION, server.url, { TOKEN: token }), { alice: 'exists', bob: 'created' });
  });

  it('stops at the first call that fails, showing the error, and without a token says to paste it', async () => {
    const { server } = await start();
    const refused = await bash(SESSION, server.url, { TOKEN: '007-not-a-token' });
    assert.notEqual(refused.code, 0);
    assert.equal(refused.stdout, '', `nothing ran after the refused call:\n${refused.stdout}`);
    assert.match(refused.stderr, /returned error: 401/);
    assert.match(refused.stderr, /"error_description":"Unable to authenticate/);
    assert.equal(refused.stderr.match(/returned error/g)?.length, 1, `one failed call, then stop:\n${refused.stderr}`);

    const none = await bash(SESSION, server.url, {});
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /TOKEN: paste the export TOKEN=\.\.\. line that npm start printed/);
  });
});
