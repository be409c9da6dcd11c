import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../../support/apps.js';
import type { Target } from '../../support/server.js';
import {
  assertErrorStream,
  assertEvent,
  assertSnapshot,
  eventsFixture,
  eventsUrl,
  ok,
  SEED,
  seededRoom,
  withPlus,
} from './events-support.js';

/** Who may subscribe and how (see eventsFixture): the token in the query, members only, unknown rooms, heartbeats, /app-id/. */
export function eventsAccessSuite(target: Target): void {
  describe(`change events over SSE [${target.name}]`, () => {
    const h = eventsFixture(target);
    const { sse, path } = h;

    it('the token as ?access_token= (URL-encoded); a bad one gets 401 as JSON, not a stream', async () => {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      for (const token of [withPlus((ttl) => appToken(h.fx.app, ttl)), withPlus((ttl) => userToken(h.fx.app, 'bob', ttl))]) {
        const { snapshot } = await sse.fresh(eventsUrl(h.fx, room), { query: { access_token: token } });
        assertSnapshot(h.fx, snapshot, room, 1, SEED);
      }
      const bad = await sse.open(eventsUrl(h.fx, room), { query: { access_token: 'not-a-token' } });
      assertErrorStream(bad, 401, 'auth_bad_access_token', 'Unable to authenticate due to corrupt access token');
      const other = await sse.open(eventsUrl(h.fx, room), { query: { access_token: appToken(makeApp()) } });
      assertErrorStream(other, 401, 'unauthorized', 'Unable to authenticate (OAuth)');
      const none = await sse.open(eventsUrl(h.fx, room));
      assertErrorStream(none, 401, 'unauthorized', 'Unable to authenticate due to expired access token');
    });

    it("a non-member's user token gets 401 user is not in chatroom; a member's works", async () => {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      const outsider = await sse.open(eventsUrl(h.fx, room), { token: userToken(h.fx.app, 'outsider') });
      assertErrorStream(outsider, 401, 'unauthorized', 'user is not in chatroom');
      const viaQuery = await sse.open(eventsUrl(h.fx, room), { query: { access_token: userToken(h.fx.app, 'outsider') } });
      assertErrorStream(viaQuery, 401, 'unauthorized', 'user is not in chatroom');
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: userToken(h.fx.app, 'bob') });
      assertSnapshot(h.fx, snapshot, room, 1, SEED);
      ok(await h.fx.user('alice').call('PUT', path(room, 'alice'), { body: { metaData: { m: '1' } } }), ['m']);
      assertEvent(h.fx, await s.next(), { seq: 2, room, reason: 'set', from: 'alice', attributes: { m: '1' } });
      s.close();
    });

    it('an unknown room answers 404 resource_not_found', async () => {
      const res = await sse.open(eventsUrl(h.fx, '999'), { token: appToken(h.fx.app) });
      assertErrorStream(res, 404, 'resource_not_found', 'grpID 999 does not exist!');
      const byUser = await sse.open(eventsUrl(h.fx, '999'), { token: userToken(h.fx.app, 'alice') });
      assertErrorStream(byUser, 404, 'resource_not_found', 'grpID 999 does not exist!');
    });

    it('heartbeat comments arrive every ROOMKV_SSE_HEARTBEAT_MS', async () => {
      const room = await seededRoom(h.fx, 'alice');
      const { s } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      const started = Date.now();
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      // three at 200 ms intervals: well under the 15 s default
      assert.ok(Date.now() - started < 5000, `three heartbeats took ${Date.now() - started} ms`);
      assert.ok(s.raw().includes('\n\n: heartbeat\n\n'), JSON.stringify(s.raw().slice(-80)));
      assert.equal(s.messages.length, 1, 'heartbeats dispatch no message');
      s.close();
    });

    it('works under the /app-id/ prefix', async () => {
      const room = await seededRoom(h.fx, 'alice');
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room, true), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, snapshot, room, 1, SEED);
      ok(await h.fx.adminById.call('PUT', path(room, 'alice'), { body: { metaData: { id: 'x' } } }), ['id']);
      assertEvent(h.fx, await s.next(), { seq: 2, room, reason: 'set', from: 'alice', attributes: { id: 'x' } });
      const unknown = await sse.open(`${h.fx.server.url}/app-id/${makeApp().appId}/metadata/chatroom/${room}/events`, {
        token: appToken(h.fx.app),
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body?.error, 'organization_application_not_found');
      s.close();
    });
  });
}
