// `roomkv import --from-agora`, against a second roomkv standing in for Agora (a real listening
// server with its own SQLite store and app), importing into a first roomkv's store on SQLite and
// on Redis; and the two list routes that import reads (GET .../chatrooms, GET .../users).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { loadAppsFile } from '../../src/config/apps.js';
import { openBackend } from '../../src/server.js';
import { agoraLines, NO_PASSWORD } from '../../src/ops/agora-import.js';
import { importTransfer } from '../../src/ops/import.js';
import { exportApps } from '../../src/ops/export.js';
import { appToken, makeApp, removeTempDir, tempDir, userToken, writeAppsFile, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client } from '../support/client.js';
import { dropPrefix, redisTarget, sqliteTarget, startTarget, type ServerHandle, type Target } from '../support/server.js';
import { runCli } from './cli-run.js';

const USERS = 105;
const agoraApp = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
let agora: ServerHandle;
let admin: Client;
/** What the stand-in holds, read through its API. */
const rooms: Array<{ id: string; owner: string; map: Record<string, string>; members: unknown }> = [];
const dirs: string[] = [];
after(async () => {
  await agora?.close();
  for (const d of dirs.splice(0)) removeTempDir(d);
});

async function ok(c: Client, method: string, path: string, body?: unknown) {
  const res = await c.call(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body;
}

before(async () => {
  agora = await startTarget(sqliteTarget, [agoraApp]);
  admin = client(agora.url, `/${agoraApp.org}/${agoraApp.app}`, appToken(agoraApp));
  const names = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(3, '0')}`);
  for (let i = 0; i < names.length; i += 60)
    await ok(
      admin,
      'POST',
      '/users',
      names.slice(i, i + 60).map((username) => ({ username, password: 'pw-123456' })),
    );
  // five rooms; the first with 13 members and 60 keys set by several members, DELETE and NO_DELETE
  for (let r = 0; r < 5; r++) {
    const owner = at(names, r * 10);
    const members = r === 0 ? names.slice(1, 13) : [names[r * 10 + 1]];
    const id = (await ok(admin, 'POST', '/chatrooms', { name: `room ${r}`, description: `about ${r}`, owner, members, maxusers: 500 })).data
      .id as string;
    const setters = [owner, ...members];
    const keys = r === 0 ? 60 : 3;
    for (let k = 0; k < keys; k += 10) {
      const metaData = Object.fromEntries(Array.from({ length: Math.min(10, keys - k) }, (_, j) => [`key${k + j}`, `v${k + j}/${r} ü`]));
      await ok(admin, 'PUT', `/metadata/chatroom/${id}/user/${setters[(k / 10) % setters.length]}`, {
        metaData,
        autoDelete: k % 20 === 0 ? 'DELETE' : 'NO_DELETE',
      });
    }
    const map = (await ok(admin, 'POST', `/metadata/chatroom/${id}`)).data;
    rooms.push({ id, owner, map, members: (await ok(admin, 'GET', `/chatrooms/${id}/users`)).data });
  }
});

describe("GET .../chatrooms and GET .../users (Agora's list calls)", () => {
  it("page through every chatroom and user with limit and cursor, shaped as Agora's answers", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ok(admin, 'GET', `/chatrooms?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.count, page.data.length);
      assert.deepEqual(page.params.limit, ['2']);
      for (const r of page.data) assert.deepEqual(Object.keys(r), ['id', 'name', 'owner', 'affiliations_count']);
      seen.push(...page.data.map((r: { id: string }) => r.id));
      cursor = page.cursor;
    } while (cursor);
    assert.deepEqual(
      seen,
      rooms.map((r) => r.id),
    );
    const first = (await ok(admin, 'GET', '/chatrooms')).data[0];
    assert.deepEqual(first, { id: at(rooms, 0).id, name: 'room 0', owner: 'u000', affiliations_count: 13 });

    const users: string[] = [];
    cursor = undefined;
    do {
      const page = await ok(admin, 'GET', `/users?limit=40${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.path, '/users');
      assert.deepEqual(Object.keys(page.entities[0]), ['uuid', 'type', 'created', 'modified', 'username', 'activated']);
      users.push(...page.entities.map((u: { username: string }) => u.username));
      cursor = page.cursor;
    } while (cursor);
    assert.equal(users.length, USERS);
    assert.equal((await ok(admin, 'GET', '/users?limit=5000')).entities.length, 100, 'a limit above 100 gives 100');
    assert.equal((await ok(admin, 'GET', '/users')).entities.length, 10, 'default 10');
    const byId = client(agora.url, `/app-id/${agoraApp.appId}`, appToken(agoraApp));
    assert.equal((await ok(byId, 'GET', '/chatrooms?limit=1000')).count, 5);
  });

  it('take app tokens only, and refuse a cursor they did not give', async () => {
    for (const path of ['/chatrooms', '/users']) {
      const asUser = await admin.as(userToken(agoraApp, 'u000')).call('GET', path);
      assert.deepEqual([asUser.status, asUser.body.error], [403, 'forbidden_op']);
      const bad = await admin.call('GET', `${path}?cursor=Tk9UIEFOIElEIQ`);
      assert.deepEqual([bad.status, bad.body.error], [400, 'illegal_argument']);
      const none = await admin.as(undefined).call('GET', path);
      assert.equal(none.status, 401);
    }
  });
});

function importSuite(target: Target): void {
  describe(`roomkv import --from-agora [${target.name}]`, () => {
    const app: TestApp = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
    const dataDir = tempDir();
    dirs.push(dataDir);
    const appsFile = writeAppsFile([app], dataDir);
    const env: Record<string, string> = { ...target.env(), ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: appsFile };
    after(async () => {
      if (env.ROOMKV_REDIS_PREFIX)
        await dropPrefix(env.ROOMKV_REDIS_PREFIX, { url: env.ROOMKV_REDIS_URL, clusterNodes: env.ROOMKV_REDIS_CLUSTER_NODES });
    });
    const agoraFlags = () => [
      '--from-agora',
      '--agora-host',
      agora.url,
      '--agora-org',
      agoraApp.org,
      '--agora-app',
      agoraApp.app,
      '--client-id',
      agoraApp.clientId,
      '--client-secret',
      agoraApp.clientSecret,
    ];

    it('brings users, chatrooms (ids kept), members and every attribute, owned by the room owner with NO_DELETE', async () => {
      const res = await runCli(['import', ...agoraFlags(), '--app', `${app.org}#${app.app}`], env);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      assert.match(res.stdout, new RegExp(`imported ${USERS} users, 5 chatrooms, 21 members, 72 attributes from Agora`));
      assert.match(res.stdout, /owned by its chatroom's owner, with autoDelete NO_DELETE/);
      assert.match(res.stdout, /imported users get none that works/);

      const server = await startTarget(target, [app], { dataDir, env });
      try {
        const mine = client(server.url, `/${app.org}/${app.app}`, appToken(app));
        assert.deepEqual(
          (await ok(mine, 'GET', '/chatrooms?limit=100')).data.map((r: { id: string }) => r.id),
          rooms.map((r) => r.id),
        );
        for (const r of rooms) {
          assert.deepEqual((await ok(mine, 'POST', `/metadata/chatroom/${r.id}`)).data, r.map);
          const records = (await ok(mine, 'GET', `/chatrooms/${r.id}/attributes`)).data as Array<{ owner: string; autoDelete: string }>;
          assert.equal(records.length, Object.keys(r.map).length);
          assert.ok(records.every((a) => a.owner === r.owner && a.autoDelete === 'NO_DELETE'));
          assert.deepEqual((await ok(mine, 'GET', `/chatrooms/${r.id}/users`)).data, r.members);
        }
        assert.equal((await ok(mine, 'GET', '/users?limit=100')).cursor !== undefined, true);
        // no password works; the inherit grant and 007 user tokens do
        const login = await mine
          .as(undefined)
          .call('POST', '/token', { body: { grant_type: 'password', username: 'u001', password: 'pw-123456' } });
        assert.equal(login.status, 400);
        const inherit = await mine.call('POST', '/token', { body: { grant_type: 'inherit', username: 'u001' } });
        assert.equal(inherit.status, 200, inherit.text);
        const read = await mine
          .as(inherit.body.access_token)
          .call('POST', `/metadata/chatroom/${at(rooms, 0).id}`, { body: { keys: ['key1'] } });
        assert.deepEqual([read.status, read.body.data], [200, { key1: at(rooms, 0).map.key1 }]);
        const asOwner = await mine
          .as(userToken(app, 'u000'))
          .call('PUT', `/metadata/chatroom/${at(rooms, 0).id}/user/u000`, { body: { metaData: { key59: 'mine' } } });
        assert.deepEqual(asOwner.body.data, { successKeys: ['key59'], errorKeys: {} });
        const fresh = (await ok(mine, 'POST', '/chatrooms', { name: 'new', description: '', owner: 'u001' })).data.id as string;
        assert.ok(BigInt(fresh) > BigInt(at(rooms, 4).id), fresh);
      } finally {
        await server.close();
      }

      // again: refused, nothing written
      const again = await runCli(['import', ...agoraFlags(), '--app', `${app.org}#${app.app}`], env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /nothing was imported/);
    });

    it("pages through Agora's lists: small pages bring the same bytes as the largest", async () => {
      const [small, large] = [makeApp(), makeApp()];
      const dir = tempDir();
      dirs.push(dir);
      const config = loadConfig({ ...target.env(), ROOMKV_DATA_DIR: dir, ROOMKV_APPS_FILE: writeAppsFile([small, large], dir) });
      const [intoSmall, intoLarge] = loadAppsFile(config.appsFile!);
      assert.ok(intoSmall && intoLarge);
      const src = {
        host: agora.url,
        org: agoraApp.org,
        app: agoraApp.app,
        clientId: agoraApp.clientId,
        clientSecret: agoraApp.clientSecret,
      };
      const { store } = await openBackend(config);
      try {
        const pages = { users: 7, rooms: 2, members: 4 };
        for (const [into, p] of [
          [intoSmall, pages],
          [intoLarge, undefined],
        ] as const) {
          const summary = await importTransfer(
            store,
            agoraLines(src, into, '0.0.0', () => {}, p),
            { apps: [into], into, log: () => {} },
          );
          assert.deepEqual(summary.counts, { users: USERS, rooms: 5, members: 21, attributes: 72 });
        }
        assert.equal(at(await store.listUsers(intoSmall.appId, '', 1), 0).passwordHash, NO_PASSWORD);
        const text = async (a: typeof intoSmall) => {
          let out = '';
          await exportApps(store, [a], '0.0.0', (t) => {
            out += t;
          });
          return out.split('\n').slice(2).join('\n');
        };
        assert.equal(await text(intoSmall), await text(intoLarge));
      } finally {
        await store.close();
      }
    });
  });
}

importSuite(sqliteTarget);
const redis = redisTarget('redis');
if ('missing' in redis) describe('roomkv import --from-agora [redis]', { skip: redis.missing }, () => {});
else importSuite(redis);
