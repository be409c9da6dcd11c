import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import type { PresenceApp, Store } from '../../src/store/types.js';
import { clockedRedisPair, clockedSqlite } from './clocked-stores.js';
import { redisEnv } from '../support/server.js';
import { NO_WEBHOOKS } from '../support/routing.js';

/**
 * The PresenceStore contract (store/types.ts) on every store, driven directly with a clock the test
 * moves: counts and online state, the offline leave at its due time and not before, a reconnect
 * and a leave at the very same moment (each outcome whole), and exactly one leave when two
 * instances apply it at once. The HTTP suites (test/http/suites/presence-*.ts) drive the same
 * through live connections.
 */

const GRACE = 1000;

interface Made {
  store: Store;
  /** A second instance on the same data, for stores that several instances share. */
  twin?: Store;
  /** Makes an instance's lease lapse now, as if it had died (Redis). */
  lapse?: (appId: string) => Promise<number>;
  close(): Promise<void>;
}

/** `shared`: several instances use the store at once (Redis): the tests of two instances run too. */
function runPresenceSuite(name: string, shared: boolean, make: (clock: () => number) => Promise<Made>): void {
  describe(`presence store [${name}]`, () => {
    let now = 1_900_000_000_000;
    let m: Made;
    before(async () => {
      m = await make(() => now);
    });
    after(() => m.close());

    async function world(...members: string[]): Promise<{ app: PresenceApp; room: string }> {
      const app: PresenceApp = { appId: randomBytes(16).toString('hex'), graceMs: GRACE, routing: NO_WEBHOOKS };
      const names = ['owner', ...members];
      await m.store.createUsers(
        app.appId,
        names.map((username) => ({ username, passwordHash: 'h' })),
      );
      const room = await m.store.createRoom(app.appId, { name: 'r', description: 'd', owner: 'owner', maxusers: 100, members });
      return { app, room: room.id };
    }
    const record = (s: Store, app: PresenceApp, room: string, user: string, n: number) =>
      s.recordConnections(app, room, [[user, n]], n > 0).then(([a]) => a);
    const setKey = (app: PresenceApp, room: string, user: string, key: string) =>
      m.store.setAttributes({
        appId: app.appId,
        roomId: room,
        user,
        forced: false,
        autoDelete: 'DELETE',
        pairs: [[key, 'v']],
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });
    const offlineEvents = async (app: PresenceApp, room: string) =>
      (await m.store.readEvents(app.appId, room, 0, 1000)).events
        .map((e) => JSON.parse(e.body))
        .filter((e) => e.reason === 'member_offline');

    it('counts connections: online on the first, offline on the last, a repeat changes nothing, a non-member is refused', async () => {
      const { app, room } = await world('bob');
      assert.equal(await record(m.store, app, room, 'bob', 1), 'online');
      assert.equal(await record(m.store, app, room, 'bob', 2), 'same');
      assert.equal(await record(m.store, app, room, 'bob', 2), 'same');
      assert.deepEqual(await m.store.onlineMembers(app.appId, room), ['bob']);
      assert.deepEqual(await m.store.onlineMembers(app.appId, room, 'bob'), ['bob']);
      assert.equal(await record(m.store, app, room, 'bob', 0), 'offline');
      assert.deepEqual(await m.store.onlineMembers(app.appId, room), []);
      assert.equal(await record(m.store, app, room, 'stranger', 1), 'not_member');
      assert.deepEqual(await m.store.onlineMembers(app.appId, room), []);
      await assert.rejects(m.store.onlineMembers(app.appId, room, 'stranger'), { status: 401 });
      await assert.rejects(m.store.onlineMembers(app.appId, '999999999999'), { status: 404 });
    });

    it('an offline member leaves at its due time, not before, with its DELETE keys; the owner never', async () => {
      const { app, room } = await world('bob');
      await setKey(app, room, 'bob', 'seat');
      for (const u of ['bob', 'owner']) await record(m.store, app, room, u, 1);
      for (const u of ['bob', 'owner']) await record(m.store, app, room, u, 0);
      now += GRACE - 1;
      assert.equal(await m.store.leaveOffline(app), 0);
      now += 1;
      assert.equal(await m.store.leaveOffline(app), 1);
      assert.equal(await m.store.isMember(app.appId, room, 'bob'), false);
      assert.equal(await m.store.isMember(app.appId, room, 'owner'), true);
      assert.deepEqual(
        (await offlineEvents(app, room)).map((e) => [e.from, e.attributes, e.operation]),
        [['bob', ['seat'], 'removeChatRoomAttributes']],
      );
      now += GRACE;
      assert.equal(await m.store.leaveOffline(app), 0);
    });

    it('a reconnect and the leave at the very same moment: either it stays online, or it left and the reconnect is refused', async (t) => {
      const { app, room } = await world('bob');
      const seen = { stayed: 0, left: 0 };
      for (let round = 0; round < 20; round++) {
        if (!(await m.store.isMember(app.appId, room, 'bob'))) await m.store.addMembers(app.appId, room, ['bob']);
        await record(m.store, app, room, 'bob', 1);
        await record(m.store, app, room, 'bob', 0);
        now += GRACE;
        // The reconnect sent first, at once after the leave, a turn after it, or a moment after it.
        const lag = [-1, 0, 0.5, 2][round % 4]!;
        const reconnect = async () => {
          if (lag > 0) await new Promise((r) => (lag < 1 ? setImmediate(r) : setTimeout(r, lag)));
          return record(m.store, app, room, 'bob', 1);
        };
        const leave = () => m.store.leaveOffline(app);
        const [answer, left] =
          lag < 0 ? await Promise.all([reconnect(), leave()]) : await Promise.all([leave(), reconnect()]).then(([l, a]) => [a, l] as const);
        const member = await m.store.isMember(app.appId, room, 'bob');
        const online = (await m.store.onlineMembers(app.appId, room)).includes('bob');
        if (member) {
          seen.stayed++;
          assert.deepEqual([answer, left, online], ['online', 0, true], `round ${round}`);
        } else {
          seen.left++;
          assert.deepEqual([answer, left, online], ['not_member', 1, false], `round ${round}`);
          // The refused reconnect's stream ends; its count goes back to none.
          await record(m.store, app, room, 'bob', 0);
        }
      }
      t.diagnostic(`stayed ${seen.stayed}, left ${seen.left}`);
      assert.ok(seen.stayed > 0 && seen.left > 0, 'both orders happened');
      assert.equal((await offlineEvents(app, room)).length, 0, 'bob had no key: no event');
    });

    it('a removal clears presence: no longer online, and a count for it is refused', async () => {
      const { app, room } = await world('bob', 'carol');
      await record(m.store, app, room, 'bob', 1);
      await record(m.store, app, room, 'carol', 1);
      await record(m.store, app, room, 'carol', 0);
      await m.store.removeMembers(app.appId, room, ['bob', 'carol'], NO_WEBHOOKS);
      assert.deepEqual(await m.store.onlineMembers(app.appId, room), []);
      assert.equal(await record(m.store, app, room, 'bob', 2), 'not_member');
      assert.equal(await record(m.store, app, room, 'bob', 0), 'same');
      await m.store.addMembers(app.appId, room, ['carol']);
      now += GRACE;
      assert.equal(await m.store.leaveOffline(app), 0, 'the offline before the removal is gone with it');
      assert.equal(await m.store.isMember(app.appId, room, 'carol'), true);
    });

    if (!shared) return;

    it('two instances applying the same leave at once: it leaves exactly once', async () => {
      const twin = m.twin!;
      const { app, room } = await world('bob');
      await setKey(app, room, 'bob', 'seat');
      await record(m.store, app, room, 'bob', 1);
      await record(m.store, app, room, 'bob', 0);
      now += GRACE;
      const left = await Promise.all([m.store.leaveOffline(app), twin.leaveOffline(app), m.store.leaveOffline(app)]);
      assert.equal(
        left.reduce((a, b) => a + b, 0),
        1,
      );
      assert.equal((await offlineEvents(app, room)).length, 1);
    });

    it('an instance whose lease lapsed is swept by another: its members go offline then, and leave after the grace', async () => {
      const twin = m.twin!;
      const lapse = m.lapse!;
      const { app, room } = await world('bob', 'carol');
      await record(m.store, app, room, 'bob', 1);
      await record(twin, app, room, 'carol', 1);
      await record(m.store, app, room, 'carol', 1);
      assert.equal(await lapse(app.appId), 1);
      await twin.sweepPresence(app);
      await twin.sweepPresence(app);
      assert.deepEqual(await twin.onlineMembers(app.appId, room), ['carol'], 'carol is still held by the living instance');
      now += GRACE;
      assert.equal(await twin.leaveOffline(app), 1);
      assert.equal(await twin.isMember(app.appId, room, 'bob'), false);
      // The instance that lapsed finds out at its next renewal, and records again under a new lease.
      assert.equal(await m.store.renewPresence(), true);
      assert.equal(await record(m.store, app, room, 'carol', 1), 'same');
      assert.equal(await record(twin, app, room, 'carol', 0), 'same', 'carol is held by the other instance still');
    });
  });
}

runPresenceSuite('sqlite', false, async (clock) => clockedSqlite(clock, 'p.sqlite'));

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`presence store [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  runPresenceSuite(kind, true, async (clock) => {
    const { store, twin } = await clockedRedisPair(found.env, clock);
    return {
      store,
      twin,
      // The lease key of the first instance's holder, deleted as its expiry would.
      async lapse(appId) {
        const { r } = store as unknown as { r: Redis };
        const holders = await r.smembers(`${found.env.ROOMKV_REDIS_PREFIX}{${appId}}:pholders`);
        let dropped = 0;
        const own = (store as unknown as { presence: { holder: string } }).presence.holder;
        for (const h of holders) if (h === own) dropped += await r.del(`${found.env.ROOMKV_REDIS_PREFIX}{${appId}}:phb:${h}`);
        return dropped;
      },
      close: async () => {
        await store.close();
        await twin.close();
      },
    };
  });
}
