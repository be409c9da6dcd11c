// `roomkv export` and `roomkv import`, run as their own processes against real stores: data made
// through the HTTP API on one store, exported, imported into another, exported again (the same
// bytes), then read through the HTTP API of a server on the new store.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appToken, makeApp, removeTempDir, tempDir, writeAppsFile, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client } from '../support/client.js';
import { dropPrefix, redisTarget, sqliteTarget, startTarget, type Target } from '../support/server.js';
import { runCli } from './cli-run.js';

const app: TestApp = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
const prefixes: Array<{ prefix: string; where: { url?: string; clusterNodes?: string } }> = [];
after(async () => {
  for (const d of dirs.splice(0)) removeTempDir(d);
  for (const { prefix, where } of prefixes.splice(0)) await dropPrefix(prefix, where);
});

/** A place data can live: a target and the data dir (SQLite's file, the apps file) it uses. */
interface Place {
  target: Target;
  dataDir: string;
  env: Record<string, string>;
}

function place(target: Target): Place {
  const dataDir = dir();
  writeAppsFile([app], dataDir);
  const env = target.env();
  if (env.ROOMKV_REDIS_PREFIX)
    prefixes.push({ prefix: env.ROOMKV_REDIS_PREFIX, where: { url: env.ROOMKV_REDIS_URL, clusterNodes: env.ROOMKV_REDIS_CLUSTER_NODES } });
  return { target, dataDir, env: { ...env, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: join(dataDir, 'apps.json') } };
}

async function withServer<T>(p: Place, fn: (admin: Client, url: string) => Promise<T>): Promise<T> {
  const server = await startTarget(p.target, [app], { dataDir: p.dataDir, env: p.env });
  try {
    return await fn(client(server.url, `/${app.org}/${app.app}`, appToken(app)), server.url);
  } finally {
    await server.close();
  }
}

async function ok(c: Client, method: string, path: string, body?: unknown) {
  const res = await c.call(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body;
}

/** What the source held, read through the API, to compare after the move. */
interface Seen {
  rooms: string[];
  maps: Record<string, Record<string, string>>;
  records: Record<string, unknown>;
  /** Get with detail: each key's revision and expiresAt. */
  details: Record<string, Record<string, { revision: number; expiresAt: number | null }>>;
  members: Record<string, unknown>;
  /** A password-grant token issued before the export. */
  aliceToken: string;
}

async function populate(admin: Client): Promise<Seen> {
  await ok(
    admin,
    'POST',
    '/users',
    ['alice', 'bob', 'carol', 'dave'].map((u) => ({ username: u, password: `${u}-pw-123` })),
  );
  const r1 = (
    await ok(admin, 'POST', '/chatrooms', { name: 'party', description: 'friday / "night"', owner: 'alice', members: ['bob', 'carol'] })
  ).data.id as string;
  const r2 = (await ok(admin, 'POST', '/chatrooms', { name: 'quiet', description: '', owner: 'bob', members: ['dave'], maxusers: 50 })).data
    .id as string;
  await ok(admin, 'POST', `/chatrooms/${r2}/users/alice`);
  await ok(admin, 'PUT', `/metadata/chatroom/${r1}/user/alice`, { metaData: { seat1: 'alice', topic: 'music' }, autoDelete: 'DELETE' });
  await ok(admin, 'PUT', `/metadata/chatroom/${r1}/user/bob`, { metaData: { seat2: 'bob' }, autoDelete: 'NO_DELETE' });
  await ok(admin, 'PUT', `/metadata/chatroom/${r1}/user/carol`, {
    metaData: { 'x.y-z_1': 'a/b "q" ünï 🎤', c2: 'gone with carol' },
    autoDelete: 'DELETE',
  });
  await ok(admin, 'PUT', `/metadata/chatroom/${r1}/user/carol/forced`, { metaData: { topic: 'jazz' }, autoDelete: 'NO_DELETE' });
  await ok(admin, 'PUT', `/metadata/chatroom/${r2}/user/dave`, { metaData: { empty: '' } });
  await ok(admin, 'PUT', `/metadata/chatroom/${r2}/user/bob`, { metaData: { timer: 'on' }, ttl: { timer: 3600 }, autoDelete: 'NO_DELETE' });
  await ok(admin, 'DELETE', `/metadata/chatroom/${r2}/user/dave`, { keys: ['missing'] });
  const login = await admin
    .as(undefined)
    .call('POST', '/token', { body: { grant_type: 'password', username: 'alice', password: 'alice-pw-123' } });
  assert.equal(login.status, 200, login.text);
  return { ...(await look(admin, [r1, r2])), aliceToken: login.body.access_token as string };
}

async function look(admin: Client, rooms: string[]): Promise<Omit<Seen, 'aliceToken'>> {
  const seen: Omit<Seen, 'aliceToken'> = { rooms, maps: {}, records: {}, details: {}, members: {} };
  for (const r of rooms) {
    seen.maps[r] = (await ok(admin, 'POST', `/metadata/chatroom/${r}`)).data;
    seen.records[r] = (await ok(admin, 'GET', `/chatrooms/${r}/attributes`)).data;
    seen.details[r] = (await ok(admin, 'POST', `/metadata/chatroom/${r}`, { detail: true })).data;
    seen.members[r] = (await ok(admin, 'GET', `/chatrooms/${r}/users`)).data;
  }
  return seen;
}

/** After the move: the same data, logins and tokens work, autoDelete still applies, new rooms get new ids. */
async function checkMoved(admin: Client, seen: Seen): Promise<void> {
  const now = await look(admin, seen.rooms);
  assert.deepEqual(now.maps, seen.maps);
  assert.deepEqual(now.records, seen.records);
  assert.deepEqual(now.details, seen.details, 'each key keeps its revision and expiresAt');
  assert.equal(typeof seen.details[at(seen.rooms, 1)]?.timer?.expiresAt, 'number');
  assert.deepEqual(now.members, seen.members);
  const r1 = at(seen.rooms, 0);
  const login = await admin
    .as(undefined)
    .call('POST', '/token', { body: { grant_type: 'password', username: 'bob', password: 'bob-pw-123' } });
  assert.equal(login.status, 200, login.text);
  const asBob = await admin.as(login.body.access_token).call('POST', `/metadata/chatroom/${r1}`, { body: { keys: ['seat2'] } });
  assert.deepEqual([asBob.status, asBob.body.data], [200, { seat2: 'bob' }]);
  const asAlice = await admin.as(seen.aliceToken).call('POST', `/metadata/chatroom/${r1}`);
  assert.deepEqual([asAlice.status, asAlice.body.data], [200, seen.maps[r1]], asAlice.text);
  const wrong = await admin
    .as(undefined)
    .call('POST', '/token', { body: { grant_type: 'password', username: 'bob', password: 'nope-123' } });
  assert.equal(wrong.status, 400);
  // carol leaves: her DELETE key goes, her NO_DELETE key (the forced topic) stays
  await ok(admin, 'DELETE', `/chatrooms/${r1}/users/carol`);
  const left = (await ok(admin, 'POST', `/metadata/chatroom/${r1}`)).data;
  assert.deepEqual(Object.keys(left).sort(), ['seat1', 'seat2', 'topic']);
  const fresh = (await ok(admin, 'POST', '/chatrooms', { name: 'new', description: '', owner: 'dave' })).data.id as string;
  assert.ok(!seen.rooms.includes(fresh) && BigInt(fresh) > BigInt(at(seen.rooms, seen.rooms.length - 1)), `fresh id ${fresh}`);
}

async function cli(p: Place, ...args: string[]) {
  const res = await runCli(args, p.env);
  assert.equal(res.code, 0, `roomkv ${args.join(' ')}:\n${res.stderr}${res.stdout}`);
  return res;
}

/** Populates `from` through a server, exports, imports into `to`, exports again: the same bytes; then checks `to` through a server. */
async function roundTrip(from: Target, to: Target): Promise<{ first: string; to: Place }> {
  const source = place(from);
  const dest = place(to);
  const seen = await withServer(source, populate);
  const first = join(dir(), 'first.jsonl');
  const second = join(dir(), 'second.jsonl');
  const exported = await cli(source, 'export', '--out', first);
  assert.match(exported.stderr, /exported 4 users, 2 chatrooms, 6 members, 7 attributes/);
  const imported = await cli(dest, 'import', '--in', first);
  assert.match(imported.stdout, /imported 4 users, 2 chatrooms, 6 members, 7 attributes/);
  assert.match(imported.stdout, /new log epoch [0-9a-z]+/);
  await cli(dest, 'export', '--out', second);
  assert.equal(readFileSync(second, 'utf8'), readFileSync(first, 'utf8'));
  await withServer(dest, (admin) => checkMoved(admin, seen));
  return { first: readFileSync(first, 'utf8'), to: dest };
}

function targets(kind: 'redis' | 'redis-cluster', body: (t: Target) => void): void {
  const t = redisTarget(kind);
  if ('missing' in t) describe(`export and import [${kind}]`, { skip: t.missing }, () => {});
  else body(t);
}

describe('export and import [sqlite -> sqlite]', () => {
  it('moves everything, byte for byte; a second import into the same store is refused and changes nothing; a cut file is refused', async () => {
    const { first, to } = await roundTrip(sqliteTarget, sqliteTarget);
    const lines = first.trimEnd().split('\n');
    assert.deepEqual(JSON.parse(at(lines, 0)), {
      type: 'header',
      format: 'roomkv-export',
      version: 2,
      roomkv: JSON.parse(readFileSync('package.json', 'utf8')).version,
    });
    assert.deepEqual(JSON.parse(at(lines, 1)), { type: 'app', app: `${app.org}#${app.app}`, appId: app.appId });
    const records = lines.map((l) => JSON.parse(l));
    const attr = records.find((r) => r.type === 'attribute');
    assert.deepEqual(Object.keys(attr), ['type', 'room', 'key', 'value', 'owner', 'autoDelete', 'revision', 'expiresAt']);
    assert.ok(Number.isSafeInteger(attr.revision) && attr.revision > 0, `revision ${attr.revision}`);
    assert.equal(attr.expiresAt, null);
    const timer = records.find((r) => r.type === 'attribute' && r.key === 'timer');
    assert.ok(timer.expiresAt > Date.now() + 3_000_000, `timer expiresAt ${timer.expiresAt}`);
    const room2 = timer.room as string;

    const file = join(dir(), 'again.jsonl');
    writeFileSync(file, first);
    const before = join(dir(), 'before.jsonl');
    await cli(to, 'export', '--out', before);
    const again = await runCli(['import', '--in', file], to.env);
    assert.equal(again.code, 1, again.stdout);
    assert.match(again.stderr, /nothing was imported: the store already holds records of this file/);
    assert.match(again.stderr, /user alice exists/);
    const cut = join(dir(), 'cut.jsonl');
    writeFileSync(cut, lines.slice(0, -1).join('\n'));
    const empty = place(sqliteTarget);
    const refused = await runCli(['import', '--in', cut], empty.env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /without its end record: it was cut short/);
    const after = join(dir(), 'after.jsonl');
    await cli(to, 'export', '--out', after);
    assert.equal(readFileSync(after, 'utf8'), readFileSync(before, 'utf8'));

    /** The export with each record changed by `edit`, as a file. */
    const edited = (edit: (r: Record<string, unknown>) => void): string => {
      const f = join(dir(), 'edited.jsonl');
      writeFileSync(
        f,
        records
          .map((r) => {
            const c = { ...r };
            edit(c);
            return `${JSON.stringify(c)}\n`;
          })
          .join(''),
      );
      return f;
    };
    // A file of format version 1 (revision and expiresAt null) still imports: no expiry, revision 0.
    const v1 = place(sqliteTarget);
    const fromV1 = await cli(
      v1,
      'import',
      '--in',
      edited((r) => {
        if (r.type === 'header') r.version = 1;
        if (r.type === 'attribute') Object.assign(r, { revision: null, expiresAt: null });
      }),
    );
    assert.match(fromV1.stdout, /imported 4 users, 2 chatrooms, 6 members, 7 attributes/);
    await withServer(v1, async (admin) => {
      const d = (await ok(admin, 'POST', `/metadata/chatroom/${room2}`, { detail: true, keys: ['timer'] })).data;
      assert.deepEqual([d.timer.revision, d.timer.expiresAt], [0, null]);
    });
    // A key whose time passed before the import is not restored, and the command says so.
    const late = place(sqliteTarget);
    const fromLate = await cli(
      late,
      'import',
      '--in',
      edited((r) => {
        if (r.type === 'attribute' && r.key === 'timer') r.expiresAt = Date.now() - 1000;
      }),
    );
    assert.match(fromLate.stdout, /imported 4 users, 2 chatrooms, 6 members, 6 attributes/);
    assert.match(fromLate.stdout, /1 attribute had expired before the import: not restored/);
    await withServer(late, async (admin) => {
      assert.deepEqual((await ok(admin, 'POST', `/metadata/chatroom/${room2}`)).data, { empty: '' });
    });
  });
});

targets('redis-cluster', (cluster) => {
  describe('export and import [sqlite -> redis-cluster]', () => {
    it('moves everything; the cluster exports the same bytes the SQLite store did', async () => {
      await roundTrip(sqliteTarget, cluster);
    });
  });
});

targets('redis', (redis) => {
  describe('export and import [redis -> sqlite]', () => {
    it('moves everything; the SQLite store exports the same bytes Redis did', async () => {
      await roundTrip(redis, sqliteTarget);
    });
  });
});
