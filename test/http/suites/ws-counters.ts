import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { Clients, connectWithToken, WAIT_MS } from './ws-client.js';

/**
 * Spec section 10 over the WebSocket: a set op takes `increment`, `min` and `max` as the REST body
 * does, answers the new `values`, refuses the same bad shapes, and subscribers get the `increment`
 * event with what the key was; get with `detail`, `ifRevision` and `atomic` answer as over REST.
 */
export function wsCountersSuite(target: Target): void {
  describe(`WebSocket: counters and conditions [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, { rateLimitPerSecond: 100_000 });
      await fx.createUsers('alice', 'bob');
    });
    after(async () => {
      await clients.closeAll();
      await fx.close();
    });

    it('an increment op answers the new values; the increment event reaches the subscription', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      assert.equal((await c.request({ op: 'subscribe', room })).status, 200);
      await c.next((m) => m.type === 'snapshot');
      const bad = await c.request({ op: 'set', room, user: 'bob', increment: { likes: 1 }, metaData: { likes: '1' } });
      assert.deepEqual([bad.status, bad.error], [400, 'illegal_argument']);
      const first = await c.request({ op: 'set', room, user: 'bob', increment: { likes: 2 } });
      assert.deepEqual(first.data, { successKeys: ['likes'], errorKeys: {}, values: { likes: '2' } });
      const ev1 = await c.next((m) => m.type === 'event' && m.reason === 'increment', WAIT_MS);
      assert.deepEqual(
        [ev1.operation, ev1.from, ev1.attributes, ev1.previous],
        ['updateChatRoomAttributes', 'bob', { likes: '2' }, { likes: null }],
      );
      const bounded = await c.request({ op: 'set', room, user: 'bob', increment: { likes: 5 }, max: 6 });
      assert.deepEqual(bounded.data, {
        successKeys: [],
        errorKeys: { likes: "properties value of 'likes' would leave [-inf, 6]" },
        values: {},
      });
      const second = await c.request({ op: 'set', room, user: 'bob', increment: { likes: -1 }, min: 0 });
      assert.deepEqual(second.data.values, { likes: '1' });
      const ev2 = await c.next((m) => m.type === 'event' && m.reason === 'increment' && m.seq > ev1.seq, WAIT_MS);
      assert.deepEqual([ev2.attributes, ev2.previous], [{ likes: '1' }, { likes: { value: '2', owner: 'bob' } }]);
    });

    it('conditions over the socket: get with detail, ifRevision and atomic on set and delete, answered as REST answers them', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      const first = await c.request({ op: 'set', room, user: 'alice', metaData: { seat2: 'alice' }, ifRevision: { seat2: 0 } });
      assert.deepEqual(first.data, { successKeys: ['seat2'], errorKeys: {} });
      const detail = await c.request({ op: 'get', room, keys: ['seat2'], detail: true });
      const rev = detail.data.seat2.revision as number;
      assert.deepEqual(detail.data.seat2, { value: 'alice', owner: 'alice', autoDelete: 'DELETE', revision: rev, expiresAt: null });
      // A seat move, both or neither: bob holds seat5 first, so nothing moves.
      await c.request({ op: 'set', room, user: 'bob', metaData: { seat5: 'bob' } });
      const move = await c.request({
        op: 'set',
        room,
        user: 'alice',
        metaData: { seat2: '', seat5: 'alice' },
        ifRevision: { seat2: rev, seat5: 0 },
        atomic: true,
      });
      assert.equal(move.data.successKeys.length, 0);
      assert.match(move.data.errorKeys.seat5, /^key 'seat5' is not part of you$/);
      assert.equal(move.data.errorKeys.seat2, "key 'seat2' not written: the call is atomic and another key failed");
      const wrong = await c.request({ op: 'delete', room, user: 'alice', keys: ['seat2'], ifRevision: { seat2: rev + 1 } });
      assert.deepEqual(wrong.data.errorKeys, { seat2: `key 'seat2' revision is ${rev}, not ${rev + 1}` });
      const bad = await c.request({ op: 'delete', room, user: 'alice', keys: ['seat2'], ifRevision: { other: 1 } });
      assert.deepEqual([bad.status, bad.error], [400, 'illegal_argument']);
      const ok = await c.request({ op: 'delete', room, user: 'alice', keys: ['seat2'], ifRevision: { seat2: rev } });
      assert.deepEqual(ok.data, { successKeys: ['seat2'], errorKeys: {} });
    });
  });
}
