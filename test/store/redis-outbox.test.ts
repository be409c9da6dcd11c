// The Redis store's webhook outbox at store level: a run is claimed and finished whole, a cut run
// leaves its tail queued, a drained room leaves the endpoint's index, and the attempts of one turn
// are recorded together, newest first. On a single Redis the endpoint's index is kept by the
// scripts themselves: a write indexes its room and a draining finish unindexes it, each in one command.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { EventRouting } from '../../src/domain/events.js';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import type { AttemptRecord, Delivery } from '../../src/store/types.js';
import { at } from '../support/at.js';
import { LOG_LIMITS } from '../support/routing.js';
import { recordingClient } from '../support/recording-redis.js';
import { redisEnv } from '../support/server.js';

const EP = 'ep1';
const ROUTED: EventRouting = { appKey: 'test#test', endpointsFor: () => [EP] };

const found = redisEnv('redis');
if ('missing' in found) {
  describe('the webhook outbox [redis]', { skip: found.missing }, () => {});
} else {
  describe('the webhook outbox [redis]', () => {
    let client: Redis;
    let store: RedisStore;
    const sent: string[] = [];
    const prefix = `${found.env.ROOMKV_REDIS_PREFIX}outbox:${randomUUID()}:`;

    before(async () => {
      client = await recordingClient(found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379', sent);
      store = new RedisStore({ client, prefix, eventLog: LOG_LIMITS });
    });
    after(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await store.close();
    });

    const setSeat = (app: string, room: string, value: string) =>
      store.setAttributes({
        appId: app,
        roomId: room,
        user: 'alice',
        forced: false,
        autoDelete: 'DELETE',
        pairs: [['seat', value]],
        limits: DEFAULT_LIMITS,
        routing: ROUTED,
      });

    async function roomWithEvents(app: string, n: number): Promise<string> {
      await store.createUsers(app, [{ username: 'alice', passwordHash: 'x' }]);
      const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
      for (let i = 1; i <= n; i++) await setSeat(app, room, `s${i}`);
      return room;
    }

    const attempt = (d: Delivery, n: number): AttemptRecord => ({
      endpoint: EP,
      roomId: d.roomId,
      seq: d.seq,
      attempt: n,
      at: Date.now(),
      status: 200,
      error: null,
      durationMs: 1,
      outcome: 'delivered',
    });
    const claim = (app: string, run: number) => store.claimDeliveries(app, EP, Date.now(), 10, () => false, run);
    const indexed = (app: string) => client.smembers(`${prefix}{${app}}:obr:${EP}`);

    it('claims a run, finishes a cut run through its last event only, and unindexes the drained room', async () => {
      const app = randomUUID().replaceAll('-', '');
      await roomWithEvents(app, 5);
      const [d] = await claim(app, 10);
      assert.ok(d);
      assert.deepEqual(
        d.events.map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      // Cut at 3: the tail stays queued, due at once.
      await store.finishDelivery({ ...d, events: d.events.slice(0, 3) }, attempt(d, 1));
      const [rest] = await claim(app, 10);
      assert.deepEqual(
        rest?.events.map((e) => JSON.parse(e.body).seq),
        [4, 5],
      );
      await store.finishDelivery(rest!, attempt(rest!, 1));
      assert.equal(await store.outboxDepth(app, EP), 0);
      assert.deepEqual(await indexed(app), [], 'a drained queue leaves the index');
      assert.deepEqual(await claim(app, 10), []);
    });

    it('a write queues its event and indexes its room in one command; a finish that drains the queue unindexes it in one', async () => {
      const app = randomUUID().replaceAll('-', '');
      const room = await roomWithEvents(app, 1); // loads the scripts
      const [first] = await claim(app, 10);
      await store.finishDelivery(first!, attempt(first!, 1));
      assert.deepEqual(await indexed(app), []);
      sent.length = 0;
      await setSeat(app, room, 'again');
      assert.deepEqual(sent, ['evalsha'], 'the script indexes the room as it queues the event');
      assert.deepEqual(await indexed(app), [room]);
      const [d] = await claim(app, 10);
      sent.length = 0;
      await store.finishDelivery(d!, attempt(d!, 1));
      assert.deepEqual(
        sent.filter((name) => name !== 'lpush' && name !== 'ltrim'), // the attempt's record
        ['evalsha'],
        'the finish unindexes the drained queue in its script',
      );
      assert.deepEqual(await indexed(app), []);
    });

    it('a queue that got an event while its run was out stays indexed after the finish, and its event is claimed next', async () => {
      const app = randomUUID().replaceAll('-', '');
      const room = await roomWithEvents(app, 1);
      const [d] = await claim(app, 10);
      await setSeat(app, room, 'while out');
      await store.finishDelivery(d!, attempt(d!, 1));
      assert.deepEqual(await indexed(app), [room]);
      const [next] = await claim(app, 10);
      assert.deepEqual(
        next?.events.map((e) => e.seq),
        [2],
      );
    });

    it('the attempts of one turn are recorded together, newest first', async () => {
      const app = randomUUID().replaceAll('-', '');
      await roomWithEvents(app, 1);
      const [d] = await claim(app, 1);
      const records = [1, 2, 3].map((n) => ({ ...attempt(d!, n), outcome: 'retry' as const }));
      await Promise.all(records.map((r) => store.retryDelivery(d!, Date.now(), r)));
      assert.deepEqual(
        (await store.recentAttempts(app, 10)).map((a) => a.attempt),
        [3, 2, 1],
      );
      assert.equal(at(await store.recentAttempts(app, 1), 0).attempt, 3);
    });
  });
}
