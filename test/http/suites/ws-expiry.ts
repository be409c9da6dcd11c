import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { Clients, connectWithToken, WAIT_MS } from './ws-client.js';

/**
 * Spec section 10 over the WebSocket: a set op takes `ttl` as the REST body does (and its bad
 * shapes as the REST call refuses them), and a subscription gets the `expired` event with what the
 * key was, then a snapshot without it on a new subscription.
 */
export function wsExpirySuite(target: Target): void {
  describe(`WebSocket: ttl and expired events [${target.name}]`, () => {
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

    it('a set op with ttl; the expired event reaches the subscription', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      const sub = await c.request({ op: 'subscribe', room });
      assert.equal(sub.status, 200, JSON.stringify(sub));
      await c.next((m) => m.type === 'snapshot');
      const bad = await c.request({ op: 'set', room, user: 'bob', metaData: { mic: 'on' }, ttl: { mic: 0 } });
      assert.deepEqual([bad.status, bad.error], [400, 'illegal_argument']);
      assert.match(bad.error_description, /ttl/);
      const set = await c.request({ op: 'set', room, user: 'bob', metaData: { mic: 'on', hand: 'up' }, ttl: { mic: 1 } });
      assert.deepEqual(set.data, { successKeys: ['mic', 'hand'], errorKeys: {} });
      const detail = await c.request({ op: 'get', room, keys: ['mic', 'hand'], detail: true });
      assert.equal(typeof detail.data.mic.expiresAt, 'number');
      assert.equal(detail.data.hand.expiresAt, null);
      const ev = await c.next((m) => m.type === 'event' && m.reason === 'expired', WAIT_MS);
      assert.deepEqual(
        [ev.chatroomId, ev.operation, ev.from, ev.attributes, ev.previous],
        [room, 'removeChatRoomAttributes', 'bob', ['mic'], { mic: { value: 'on', owner: 'bob' } }],
      );
      assert.ok(ev.timestamp >= detail.data.mic.expiresAt);
      const other = clients.add(await connectWithToken(fx, appToken(fx.app)));
      await other.request({ op: 'subscribe', room });
      assert.deepEqual((await other.next((m) => m.type === 'snapshot')).attributes, { hand: 'up' });
    });
  });
}
