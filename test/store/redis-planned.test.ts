import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { reasons } from '../../src/domain/attributes.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { redisEnv } from '../support/server.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';

/**
 * On a single Redis a write is planned inside the room's script, the app's usage counter with it:
 * one command per call, and a byte quota that holds exactly under concurrent calls. (On a cluster
 * the counter is in another slot; the conformance suite covers that path.)
 */
const found = redisEnv('redis');
if ('missing' in found) {
  describe('writes planned in the room script [redis]', { skip: found.missing }, () => {});
} else {
  describe('writes planned in the room script [redis]', () => {
    let client: Redis;
    let store: RedisStore;
    const sent: string[] = [];
    const prefix = `${found.env.ROOMKV_REDIS_PREFIX}planned:${randomUUID()}:`;

    before(async () => {
      client = await connectRedis({ url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379', commandTimeoutMs: 2000 }) as Redis;
      const send = client.sendCommand.bind(client);
      client.sendCommand = ((command: { name: string }, stream?: unknown) => {
        sent.push(command.name);
        return send(command as never, stream as never);
      }) as typeof client.sendCommand;
      store = new RedisStore({ client, prefix, eventLog: LOG_LIMITS });
    });
    after(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await store.close();
    });

    async function roomsOf(app: string, n: number): Promise<Array<{ room: string; user: string }>> {
      const names = Array.from({ length: n }, (_, i) => `u${i}`);
      await store.createUsers(app, names.map((username) => ({ username, passwordHash: 'x' })));
      return Promise.all(names.map(async (user) => ({
        room: (await store.createRoom(app, { name: 'r', description: '', owner: user, maxusers: 10, members: [] })).id, user,
      })));
    }

    const set = (app: string, room: string, user: string, pairs: Record<string, string>, opts: { forced?: boolean; limits?: Limits } = {}) =>
      store.setAttributes({
        appId: app, roomId: room, user, forced: opts.forced ?? false, autoDelete: 'DELETE',
        pairs: Object.entries(pairs), limits: opts.limits ?? DEFAULT_LIMITS, routing: NO_WEBHOOKS,
      });

    it('a set, a forced set and a delete are each one command to Redis', async () => {
      const app = randomUUID().replaceAll('-', '');
      await store.createUsers(app, [{ username: 'alice', passwordHash: 'x' }, { username: 'bob', passwordHash: 'x' }]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['bob'] })).id;
      const user = 'alice';
      // The first calls load the scripts (NOSCRIPT, then EVAL): count the calls after them.
      await set(app, room, user, { warm: '1' });
      await store.deleteAttributes({ appId: app, roomId: room, user, forced: false, checkMembership: true, keys: ['warm'], routing: NO_WEBHOOKS });
      sent.length = 0;
      assert.deepEqual((await set(app, room, user, { a: '1', b: '2' })).successKeys, ['a', 'b']);
      assert.deepEqual(sent, ['evalsha']);
      sent.length = 0;
      assert.deepEqual((await set(app, room, 'bob', { a: '3' }, { forced: true })).successKeys, ['a']);
      assert.deepEqual(sent, ['evalsha']);
      sent.length = 0;
      const removed = await store.deleteAttributes({ appId: app, roomId: room, user, forced: false, checkMembership: true, keys: ['a', 'b'], routing: NO_WEBHOOKS });
      assert.deepEqual(removed.successKeys, ['b']);
      assert.deepEqual({ ...removed.errorKeys }, { a: reasons.notYours('a') });
      assert.deepEqual(sent, ['evalsha']);
    });

    it('the byte quota holds exactly when calls in many rooms of one app race for its last bytes', async () => {
      const app = randomUUID().replaceAll('-', '');
      const rooms = await roomsOf(app, 40);
      // 40 calls at once, each in its own room, each adding 10 bytes against a quota of 100.
      const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: 100 };
      const results = await Promise.all(rooms.map(({ room, user }) => set(app, room, user, { k: '123456789' }, { limits })));
      assert.equal(results.filter((r) => r.successKeys.length === 1).length, 10);
      assert.equal(results.filter((r) => r.errorKeys.k === reasons.appQuota()).length, 30);
      let stored = 0;
      for (const { room } of rooms) {
        for (const a of await store.listAttributes(app, room)) stored += Buffer.byteLength(a.key) + Buffer.byteLength(a.value);
      }
      assert.equal(stored, 100);
      assert.equal(await client.get(`${prefix}{${app}}:usage`), '100');
    });
  });
}
