// Webhooks from two roomkv instances sharing one Redis (or Redis Cluster): one event is never sent
// twice at once, and each room's events still arrive in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir, writeAppsFile } from '../support/apps.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import {
  adminOf,
  assertNoConcurrentDuplicates,
  checkRoom,
  cleanupAfterEach,
  createRoom,
  createUsers,
  drained,
  FAST,
  hookedApp,
  SECRET,
  setAttr,
  stores,
  webhooksOf,
} from './webhooks-support.js';

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = stores.find((s) => s.name === kind)!;
  if ('missing' in found) {
    describe(`webhooks from two instances [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`webhooks from two instances on one ${kind}`, () => {
    const cleanups = cleanupAfterEach();

    it('never sends one event twice at once and keeps per-room order, with every 3rd request failing', { timeout: 45_000 }, async () => {
      const receiver = await WebhookReceiver.start(SECRET);
      cleanups.push(() => receiver.close());
      receiver.failWhen(({ n }) => n % 3 === 0);
      const app = hookedApp(receiver, [{ path: '/hook' }]);
      const common = { ...found.env, ...FAST, ROOMKV_APPS_FILE: writeAppsFile([app]), ROOMKV_DATA_DIR: tempDir() };
      const servers: ChildServer[] = await Promise.all([spawnServer(common), spawnServer(common)]);
      for (const s of servers) cleanups.push(() => s.stop());
      const [a, b] = servers.map((s) => adminOf(s.url, app));
      assert.ok(a && b);
      await createUsers(a, 'alice');
      const rooms = [await createRoom(a, 'alice'), await createRoom(b, 'alice'), await createRoom(a, 'alice')];
      const PER_ROOM = 8;
      const expected = Array.from({ length: PER_ROOM }, (_, i) => ({ n: String(i) }));
      await Promise.all(
        rooms.map(async (room) => {
          for (const [i, attrs] of expected.entries()) await setAttr(i % 2 === 0 ? a : b, room, 'alice', attrs);
        }),
      );

      await receiver.waitForEvents(rooms.length * PER_ROOM);
      const stateA = await drained(a, rooms.length * PER_ROOM);
      const stateB = await webhooksOf(b);
      assert.deepEqual(stateB.endpoints, stateA.endpoints, 'both instances see one outbox');

      const all = receiver.received('/hook');
      assert.ok(
        all.some((r) => r.status === 500),
        'some requests failed',
      );
      assertNoConcurrentDuplicates(all);
      for (const room of rooms) checkRoom(receiver, '/hook', room, expected);
      assert.equal(stateA.attempts.filter((x) => x.outcome === 'delivered').length, rooms.length * PER_ROOM);
      assert.equal(stateA.attempts.filter((x) => x.outcome === 'retry').length, all.filter((r) => r.status === 500).length);
    });
  });
}
