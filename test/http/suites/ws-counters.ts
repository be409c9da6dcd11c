import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { Clients, connectWithToken, WAIT_MS } from './ws-client.js';

/**
 * Spec section 10 over the WebSocket: a set op takes `increment`, `min` and `max` as the REST body
 * does, answers the new `values`, refuses the same bad shapes, and subscribers get the `increment`
 * event with what the key was.
 */
export function wsCountersSuite(target: Target): void {
  describe(`WebSocket: counters [${target.name}]`, () => {
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
  });
}
