import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { connectRedis } from '../../../src/store/redis/connect.js';
import { appToken, makeApp, userToken, type TestApp } from '../../support/apps.js';
import { client, type Client } from '../../support/client.js';
import { startTarget, type ServerHandle, type Target } from '../../support/server.js';
import { assertError } from './rooms-users-support.js';

interface Listed {
  id: string;
  name: string;
  owner: string;
  affiliations_count: number;
}

/**
 * GET .../chatrooms?limit=&cursor= (Agora Chat's "get all chatrooms": `limit` 1 to 1000, default
 * 10, more is served as 1000; `cursor` from the previous page while more follow), on a server of
 * two apps, so that each app's list is known exactly.
 */
export function roomListSuite(target: Target): void {
  describe(`room list [${target.name}]`, () => {
    let server: ServerHandle;
    let app: TestApp;
    let other: TestApp;
    let admin: Client;
    let otherAdmin: Client;
    /** The app's rooms as the tests expect them listed, in id order. */
    const rooms: Listed[] = [];
    let otherRooms: string[] = [];

    const numeric = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

    async function makeRoom(c: Client, name: string, owner: string, members: string[] = []): Promise<string> {
      const res = await c.call('POST', '/chatrooms', { body: { name, description: 'list test', owner, members } });
      assert.equal(res.status, 200, res.text);
      return res.body.data.id as string;
    }

    async function list(c: Client, query = ''): Promise<any> {
      const res = await c.call('GET', `/chatrooms${query}`);
      assert.equal(res.status, 200, res.text);
      return res.body;
    }

    /** Every page of `limit`, following the cursors; the ids in order. */
    async function walk(c: Client, limit: number): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await list(c, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        pages++;
        assert.ok(page.data.length <= limit, `a page of ${page.data.length} for limit ${limit}`);
        assert.equal(page.count, page.data.length);
        ids.push(...page.data.map((r: Listed) => r.id));
        cursor = page.cursor;
        if (cursor !== undefined) assert.equal(page.data.length, limit, 'a cursor comes with a full page only');
        assert.ok(pages < 100, 'the cursor never ends');
      } while (cursor !== undefined);
      return { ids, pages };
    }

    before(async () => {
      app = makeApp();
      other = makeApp();
      server = await startTarget(target, [app, other]);
      admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
      otherAdmin = client(server.url, `/${other.org}/${other.app}`, appToken(other));
      for (const c of [admin, otherAdmin]) {
        const users = await c.call('POST', '/users', {
          body: ['ann', 'ben', 'cy'].map((username) => ({ username, password: 'pw-123456' })),
        });
        assert.equal(users.status, 200, users.text);
      }
      for (let i = 0; i < 5; i++) {
        const members = ['ben', 'cy'].slice(0, i % 3);
        const id = await makeRoom(admin, `room ${i}`, 'ann', members);
        rooms.push({ id, name: `room ${i}`, owner: 'ann', affiliations_count: 1 + members.length });
      }
      otherRooms = [await makeRoom(otherAdmin, 'theirs 1', 'ben'), await makeRoom(otherAdmin, 'theirs 2', 'cy')];
    });
    after(() => server.close());

    it("lists the app's rooms in id order with Agora's fields, 10 a page by default, in Agora's envelope", async () => {
      const page = await list(admin);
      assert.deepEqual(page.data, rooms);
      assert.deepEqual(
        rooms.map((r) => r.id),
        rooms.map((r) => r.id).sort(numeric),
      );
      for (const r of page.data) assert.deepEqual(Object.keys(r), ['id', 'name', 'owner', 'affiliations_count']);
      assert.equal(page.count, 5);
      assert.equal(page.cursor, undefined);
      assert.deepEqual(page.params, { limit: ['10'] });
      assert.equal(page.action, 'get');
      assert.equal(page.uri, `${server.url}/${app.org}/${app.app}/chatrooms`);
      assert.equal(page.organization, app.org);
      assert.equal(page.applicationName, app.app);
      assert.equal(typeof page.timestamp, 'number');
    });

    it('pages with limit and cursor: a cursor while more follow, none on the last page', async () => {
      const first = await list(admin, '?limit=2');
      assert.deepEqual(first.data, rooms.slice(0, 2));
      assert.equal(typeof first.cursor, 'string');
      assert.deepEqual(first.params, { limit: ['2'] });
      const second = await list(admin, `?limit=2&cursor=${first.cursor}`);
      assert.deepEqual(second.data, rooms.slice(2, 4));
      assert.deepEqual(second.params, { limit: ['2'], cursor: [first.cursor] });
      const last = await list(admin, `?limit=2&cursor=${second.cursor}`);
      assert.deepEqual(last.data, rooms.slice(4));
      assert.equal(last.cursor, undefined);
      for (const limit of [1, 3, 5, 6])
        assert.deepEqual(
          (await walk(admin, limit)).ids,
          rooms.map((r) => r.id),
          `limit ${limit}`,
        );
      // A page that takes exactly what is left has no cursor: no empty page follows.
      const five = await list(admin, '?limit=5');
      assert.equal(five.data.length, 5);
      assert.equal(five.cursor, undefined);
    });

    it('serves a limit above 1000 as 1000, as Agora does', async () => {
      const page = await list(admin, '?limit=5000');
      assert.deepEqual(page.params, { limit: ['1000'] });
      assert.deepEqual(page.data, rooms);
    });

    it('answers the same under /app-id/{appId}', async () => {
      const byId = client(server.url, `/app-id/${app.appId}`, appToken(app));
      const page = await list(byId, '?limit=3');
      assert.deepEqual(page.data, rooms.slice(0, 3));
      const next = await list(byId, `?limit=3&cursor=${page.cursor}`);
      assert.deepEqual(next.data, rooms.slice(3));
    });

    it("never lists another app's rooms, and an app's token does not open another app's list", async () => {
      const mine = (await walk(admin, 2)).ids;
      for (const id of otherRooms) assert.ok(!mine.includes(id), `room ${id} of the other app listed`);
      const theirs = await list(otherAdmin, '?limit=100');
      assert.deepEqual(
        theirs.data.map((r: Listed) => [r.id, r.name, r.owner, r.affiliations_count]),
        [
          [otherRooms[0], 'theirs 1', 'ben', 1],
          [otherRooms[1], 'theirs 2', 'cy', 1],
        ],
      );
      assertError(await admin.as(appToken(other)).call('GET', '/chatrooms'), 401, 'unauthorized', 'Unable to authenticate (OAuth)');
    });

    it('takes app tokens only: a user token is 403, no token or a bad one 401', async () => {
      assertError(await admin.as(userToken(app, 'ann')).call('GET', '/chatrooms'), 403, 'forbidden_op', 'app token required');
      assertError(await admin.as(undefined).call('GET', '/chatrooms'), 401, 'unauthorized');
      assertError(await admin.as('not-a-token').call('GET', '/chatrooms'), 401, 'auth_bad_access_token');
    });

    it('refuses a limit that is not a whole number from 1, and a cursor it did not give out, with 400 illegal_argument', async () => {
      for (const limit of ['0', '-1', '1.5', 'ten', '', '01']) {
        const res = await admin.call('GET', `/chatrooms?limit=${limit}`);
        assertError(res, 400, 'illegal_argument');
        assert.equal(typeof res.body.error_description, 'string');
        assert.equal(typeof res.body.timestamp, 'number');
      }
      for (const cursor of ['nope', 'MTIzYWJj', '!!'])
        assertError(await admin.call('GET', `/chatrooms?cursor=${cursor}`), 400, 'illegal_argument');
    });

    it('a destroyed room leaves the list; a room made after a page ended is on a later page', async () => {
      const first = await list(admin, '?limit=2');
      const gone = rooms.splice(1, 1)[0]!;
      const res = await admin.call('DELETE', `/chatrooms/${gone.id}`);
      assert.equal(res.status, 200, res.text);
      const id = await makeRoom(admin, 'late', 'cy', ['ann']);
      rooms.push({ id, name: 'late', owner: 'cy', affiliations_count: 2 });
      // The cursor named the destroyed room: the page goes on after where it was.
      const rest = await list(admin, `?limit=10&cursor=${first.cursor}`);
      assert.deepEqual(rest.data, rooms.slice(1));
      assert.deepEqual(
        (await walk(admin, 2)).ids,
        rooms.map((r) => r.id),
      );
      // Membership changes show in the count.
      const add = await admin.call('POST', `/chatrooms/${id}/users/ben`);
      assert.equal(add.status, 200, add.text);
      assert.equal((await list(admin, '?limit=1000')).data.find((r: Listed) => r.id === id).affiliations_count, 3);
      rooms.at(-1)!.affiliations_count = 3;
    });

    if (target.env().ROOMKV_STORE === 'redis') {
      it('lists rooms a store written before the room index holds (the index is built once, on first use)', async () => {
        const env = target.env();
        const redis = await connectRedis({
          url: env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
          clusterNodes: env.ROOMKV_REDIS_CLUSTER_NODES,
          commandTimeoutMs: 5000,
        });
        try {
          // As an older roomkv left it: the rooms, and no index of them.
          const head = `${env.ROOMKV_REDIS_PREFIX}{${app.appId}}`;
          await (redis as Redis | Cluster).del(`${head}:rooms`);
          await (redis as Redis | Cluster).del(`${head}:rooms:built`);
        } finally {
          redis.disconnect();
        }
        // A new instance on the same store: this process's server has seen the index built.
        const again = await startTarget(target, [app, other]);
        try {
          const c = client(again.url, `/${app.org}/${app.app}`, appToken(app));
          assert.deepEqual(
            (await walk(c, 2)).ids,
            rooms.map((r) => r.id),
          );
          assert.deepEqual((await list(c, '?limit=100')).data, rooms);
        } finally {
          await again.close();
        }
      });
    }
  });
}
