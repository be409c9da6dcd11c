import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '../../src/store/redis/connect.js';
import { LUA, LUA_DIR } from '../../src/store/redis/lua-registry.js';
import type { RedisClient } from '../../src/store/redis/redis-store.js';
import { scriptRunner } from '../../src/store/redis/script-command.js';
import { redisEnv } from '../support/server.js';

/** The Lua scripts: one .lua file each, one registry, and no Lua left in the TypeScript. */

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const DIR = fileURLToPath(LUA_DIR);
const scripts = Object.values(LUA);
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return filesUnder(p, suffix);
    return p.endsWith(suffix) ? [p] : [];
  });
}

const libs = readdirSync(join(DIR, 'lib'))
  .filter((f) => f.endsWith('.lua'))
  .map((f) => f.slice(0, -'.lua'.length));
const libText = (name: string) => readFileSync(join(DIR, 'lib', `${name}.lua`), 'utf8').trimEnd();

describe('the Lua registry', () => {
  it('registers every script file in lua/, and every registered script has its file', () => {
    const onDisk = readdirSync(DIR)
      .filter((f) => f.endsWith('.lua'))
      .sort();
    assert.deepEqual(scripts.map((s) => s.file).sort(), onDisk);
    assert.equal(new Set(scripts.map((s) => s.file)).size, scripts.length, 'two names share a file');
    assert.deepEqual(
      filesUnder(DIR, '.lua')
        .map((f) => relative(DIR, f))
        .filter((f) => f.includes('/') && !f.startsWith('lib/')),
      [],
      'a .lua file outside lua/ and lua/lib/ is never loaded',
    );
  });

  it('expands every include, and every snippet in lib/ is included somewhere', () => {
    const used = new Set<string>();
    for (const s of scripts) {
      const source = readFileSync(join(DIR, s.file), 'utf8');
      for (const [, name] of source.matchAll(/^--! include (\S+)$/gm)) {
        used.add(name!);
        assert.ok(libs.includes(name!), `${s.file} includes ${name}, which is not in lua/lib/`);
        assert.ok(s.text.includes(libText(name!)), `${s.name}'s text lacks lib/${name}.lua`);
      }
      assert.doesNotMatch(s.text, /^--! include/m, `${s.name} still has an include line`);
      // What a file does not include, its text is as the file reads.
      if (!/^--! include/m.test(source)) assert.equal(s.text, source);
    }
    assert.deepEqual(
      libs.filter((l) => !used.has(l)),
      [],
      'snippets no script includes',
    );
    // The write scripts get the event half once each, in the order they name it.
    assert.equal(LUA.APPLY_SET.text.match(/local function emit\(/g)?.length, 1);
    assert.ok(LUA.APPLY_SET.text.indexOf(libText('room-base')) < LUA.APPLY_SET.text.indexOf(libText('emit')));
    assert.ok(LUA.APPLY_SET.text.indexOf(libText('emit')) < LUA.APPLY_SET.text.indexOf(libText('plan-check')));
  });

  it('takes the key count from each file', () => {
    const counts = Object.fromEntries(scripts.map((s) => [s.name, s.numberOfKeys]));
    assert.equal(counts.APPLY_SET, null);
    assert.equal(counts.DESTROY_ROOM, 4);
    assert.equal(counts.RATE_LEASE, 1);
    assert.equal(counts.CREATE_USERS, null);
    assert.equal(counts.RESTORE_USERS, null);
    for (const s of scripts) assert.ok(s.numberOfKeys === null || (Number.isInteger(s.numberOfKeys) && s.numberOfKeys > 0), s.name);
  });

  it('leaves no Lua in src/**/*.ts, and no second way to run a script', () => {
    const lua = [/redis\.p?call\s*\(/, /\bKEYS\[\d/, /\bARGV\[\d/, /\blocal function\b/, /\bdefineCommand\s*\(/, /\bcjson\./];
    const found: string[] = [];
    for (const file of filesUnder(SRC, '.ts')) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (lua.some((re) => re.test(line))) found.push(`src/${relative(SRC, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(found, []);
  });

  it('sends, as the SHA of a script, the SHA1 of the text it sends when Redis lacks it', async () => {
    for (const s of scripts) {
      assert.equal(s.sha, sha1(s.text), s.name);
      const sent: Array<{ name: string; args: unknown[] }> = [];
      const client = {
        sendCommand(command: { name: string; args: unknown[] }) {
          sent.push({ name: command.name, args: [...command.args] });
          return command.name === 'evalsha' ? Promise.reject(new Error('NOSCRIPT No matching script.')) : Promise.resolve('ran');
        },
      } as unknown as RedisClient;
      const args = s.numberOfKeys === null ? [2, 'k1', 'k2', 'a', 7] : ['k', 'a', 7];
      assert.equal(await scriptRunner(client, s)(...args), 'ran');
      const [evalsha, evalText] = sent;
      assert.deepEqual(
        sent.map((c) => c.name),
        ['evalsha', 'eval'],
        s.name,
      );
      const rest = s.numberOfKeys === null ? ['2', 'k1', 'k2', 'a', '7'] : [String(s.numberOfKeys), 'k', 'a', '7'];
      assert.deepEqual(evalsha!.args, [s.sha, ...rest], s.name);
      assert.deepEqual(evalText!.args, [s.text, ...rest], s.name);
      assert.equal(sha1(evalText!.args[0] as string), evalsha!.args[0], s.name);
    }
  });
});

const found = redisEnv('redis');
if ('missing' in found) {
  describe('the Lua scripts on Redis [redis]', { skip: found.missing }, () => {});
} else {
  describe('the Lua scripts on Redis [redis]', () => {
    let client: RedisClient;
    before(async () => {
      client = await connectRedis({ url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2000 });
    });
    after(() => client.disconnect());

    it('every script compiles, and Redis names it by the SHA the registry gives', async () => {
      for (const s of scripts) assert.equal(await client.script('LOAD', s.text), s.sha, s.name);
    });
  });
}
