import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { openStream } from '../../support/sse.js';
import { eventsUrl } from './events-support.js';

/** GET .../history (spec section 10): the room's logged events, paged, filtered by key, exactly as streamed. */
export function historySuite(target: Target): void {
  describe(`event history [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    const history = (query: string, token?: 'bob' | 'carol') =>
      (token ? fx.user(token) : fx.admin).call('GET', `/metadata/chatroom/${room}/history${query}`);
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob', 'carol');
      room = await fx.createRoom('alice', ['bob']);
      const put = (user: string, metaData: Record<string, string>) =>
        fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body: { metaData } });
      await put('alice', { seat1: 'alice', topic: 'hi' }); // 1
      await put('bob', { seat2: 'bob' }); // 2
      await put('alice', { topic: 'game' }); // 3
      await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/bob`, { body: { keys: ['seat2'] } }); // 4
      await put('bob', { seat3: 'bob' }); // 5
    });
    after(() => fx.close());

    it('answers the events after since, oldest first, each exactly as the stream sent it', async () => {
      const res = await history('?since=0');
      assert.equal(res.status, 200, res.text);
      const { events, next } = res.body.data;
      assert.deepEqual(
        events.map((e: { seq: number }) => e.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(next, null);
      const stream = await openStream(eventsUrl(fx, room), { token: appToken(fx.app), query: { since: '0' } });
      try {
        for (const e of events) {
          const m = await stream.next((x) => x.seq === String(e.seq));
          assert.deepEqual(JSON.parse(m.data), e);
          assert.ok(res.text.includes(m.data), `event ${e.seq} is in the page byte for byte`);
        }
      } finally {
        stream.close();
      }
    });

    it('pages with limit and next, and filters by key', async () => {
      const first = await history('?since=0&limit=2');
      assert.deepEqual(
        first.body.data.events.map((e: { seq: number }) => e.seq),
        [1, 2],
      );
      assert.equal(first.body.data.next, 2);
      const second = await history(`?since=${first.body.data.next}&limit=2`);
      assert.deepEqual(
        second.body.data.events.map((e: { seq: number }) => e.seq),
        [3, 4],
      );
      const last = await history(`?since=${second.body.data.next}&limit=2`);
      assert.deepEqual(
        last.body.data.events.map((e: { seq: number }) => e.seq),
        [5],
      );
      assert.equal(last.body.data.next, null);
      const topic = await history('?key=topic');
      assert.deepEqual(
        topic.body.data.events.map((e: { seq: number }) => e.seq),
        [1, 3],
      );
      const seat2 = await history('?key=seat2&limit=1');
      assert.deepEqual(
        seat2.body.data.events.map((e: { seq: number }) => e.seq),
        [2],
      );
      assert.equal(seat2.body.data.next, 2);
      const seat2more = await history('?key=seat2&since=2');
      assert.deepEqual(
        seat2more.body.data.events.map((e: { seq: number }) => e.seq),
        [4],
      );
      assert.deepEqual((await history('?since=5')).body.data, { events: [], next: null });
    });

    it('a member may read it with its user token; a non-member may not; limits are checked', async () => {
      assert.equal((await history('?since=3', 'bob')).status, 200);
      const carol = await history('', 'carol');
      assert.deepEqual([carol.status, carol.body.error_description], [401, 'user is not in chatroom']);
      for (const q of ['?limit=0', '?limit=1001', '?since=-1', '?since=x']) {
        const res = await history(q);
        assert.equal(res.status, 400, q);
        assert.equal(res.body.error, 'illegal_argument', q);
      }
      const missing = await fx.admin.call('GET', '/metadata/chatroom/999999/history');
      assert.equal(missing.status, 404);
    });
  });
}
