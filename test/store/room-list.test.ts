// listRooms on every store: rooms of ids of any length (imported from Agora, or roomkv's own) in
// numeric order, page after page from any id, and on Redis from the app's room index.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import type { RoomDump, Store } from '../../src/store/types.js';
import { compareRoomIds } from '../../src/store/restore-conflict.js';
import { redisEnv } from '../support/server.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { freshPath, open } from './sqlite-support.js';

const IDS = ['7', '42', '99', '200000000003', '200000000010', '200000000100', '216295074234369', '316295074234369'];

const room = (id: string): RoomDump => ({
  id,
  name: `r${id}`,
  description: '',
  owner: 'ann',
  maxusers: 10,
  created: 1,
  members: [{ username: 'ann', joined: 1 }],
  attributes: [],
});

function listSuite(name: string, makeStore: () => Promise<Store>, prefix?: string): void {
  describe(`listRooms [${name}]`, () => {
    let store: Store;
    const appId = randomBytes(16).toString('hex');
    before(async () => {
      store = await makeStore();
      // Out of order, so that the store, not the order of writes, gives the order.
      for (const id of [...IDS].reverse()) await store.restoreRoom(appId, room(id));
    });
    after(() => store.close());

    async function walk(limit: number, from = ''): Promise<string[]> {
      const ids: string[] = [];
      let afterId = from;
      for (;;) {
        const page = await store.listRooms(appId, afterId, limit);
        assert.ok(page.length <= limit);
        ids.push(...page.map((r) => r.id));
        if (page.length < limit) return ids;
        afterId = page.at(-1)!.id;
      }
    }

    it('lists ids of every length in numeric order, a page at a time, from any id', async () => {
      for (const limit of [1, 2, 3, 100]) assert.deepEqual(await walk(limit), IDS, `limit ${limit}`);
      assert.deepEqual(await walk(2, '99'), IDS.slice(3));
      assert.deepEqual(await walk(2, '200000000004'), IDS.slice(4), 'from an id no room has');
      assert.deepEqual(await walk(2, '1000'), IDS.slice(3), 'from a length no room has');
      assert.deepEqual(await store.listRooms(appId, IDS.at(-1)!, 10), []);
      const [first] = await store.listRooms(appId, '', 1);
      assert.deepEqual(first, { id: '7', name: 'r7', description: '', owner: 'ann', maxusers: 10, created: 1, memberCount: 1 });
    });

    it('a room made or destroyed shows at once; another app lists none of them', async () => {
      await store.createUsers(appId, [{ username: 'bo', passwordHash: 'x' }]);
      const made = await store.createRoom(appId, { name: 'new', description: '', owner: 'bo', maxusers: 5, members: [] });
      assert.ok(await store.destroyRoom(appId, '42', NO_WEBHOOKS));
      const want = [...IDS.filter((id) => id !== '42'), made.id].sort(compareRoomIds);
      assert.deepEqual(await walk(2), want);
      assert.deepEqual(await store.listRooms(randomBytes(16).toString('hex'), '', 100), []);
    });

    if (prefix !== undefined) {
      it('skips an index entry that names no room (a process died before making it), and pages stay full', async () => {
        const { r } = store as unknown as { r: Redis };
        await r.zadd(`${prefix}{${appId}}:rooms`, 0, '12:200000000004', 0, '12:200000000005');
        const page = await store.listRooms(appId, '200000000003', 2);
        assert.deepEqual(
          page.map((x) => x.id),
          ['200000000010', '200000000100'],
        );
      });
    }
  });
}

listSuite('sqlite', async () => open(freshPath()));

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`listRooms [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  listSuite(
    kind,
    async () => {
      const client = await connectRedis({
        url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
      });
      return new RedisStore({ client, prefix: found.env.ROOMKV_REDIS_PREFIX, eventLog: LOG_LIMITS });
    },
    found.env.ROOMKV_REDIS_PREFIX,
  );
}
