import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { appToken, userToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import type { SseStream } from '../../support/sse.js';
import {
  blip,
  eventsOf,
  GRACE_MS,
  hangUp,
  members,
  nextPresence,
  NO_LIMIT,
  offlineLeave,
  online,
  onlineList,
  PRESENCE,
  presenceOf,
  put,
  sse,
  waitMembership,
  witnessLeaves,
  wsSubscribed,
} from './presence-support.js';
import { Clients, WAIT_MS } from './ws-client.js';

/**
 * Presence (spec section 9): a member is online while it holds a live connection (an SSE stream or
 * a WebSocket subscription) with its own user token; every live connection of the room hears when
 * that changes; one offline for the app's grace leaves the room, with a member_offline event
 * listing its DELETE keys, unless it comes back first; the owner stays; app tokens make no one
 * online; and an app without presence sees none of it.
 *
 * Where a test must show that something did not happen, a witness proves the time has passed: a
 * member who went offline later has left by presence, so the due pass has looked at the other.
 */
export function presenceBasicsSuite(target: Target): void {
  describe(`presence [${target.name}]`, () => {
    let fx: Fixture;
    let off: Fixture;
    const clients = new Clients();
    const streams: SseStream[] = [];
    const watch = async (f: Fixture, room: string) => {
      const s = await sse(f, room);
      streams.push(s);
      return s;
    };
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, {}, PRESENCE);
      off = await startFixture(target, NO_LIMIT);
      for (const f of [fx, off]) await f.createUsers('alice', 'bob', 'carol', 'dave');
    });
    afterEach(async () => {
      for (const s of streams.splice(0)) await hangUp(s);
      await clients.closeAll();
    });
    after(async () => {
      await fx.close();
      await off.close();
    });

    it('the first live connection makes a member online and the last makes it offline: SSE, WebSocket and the route agree', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const observer = await watch(fx, room);
      const ws = clients.add(await wsSubscribed(fx, room));
      assert.deepEqual(await onlineList(fx, room), []);

      const bobSse = await sse(fx, room, userToken(fx.app, 'bob'));
      const on = await nextPresence(observer, 'bob', 'online');
      assert.deepEqual(Object.keys(on), ['chatroomId', 'user', 'status', 'timestamp']);
      assert.equal(on.chatroomId, room);
      assert.ok(Math.abs(on.timestamp - Date.now()) < 10_000);
      const { type, ...wsOn } = await ws.next((m) => m.type === 'presence');
      assert.equal(type, 'presence');
      assert.deepEqual(wsOn, on, 'the WebSocket message is the SSE one with a type');
      assert.deepEqual(await onlineList(fx, room), ['bob']);
      assert.deepEqual((await online(fx, room, 'bob')).body.data, { online: ['bob'] }, 'a member reads it with its user token');

      // A second connection (a WebSocket subscription) and the end of the first change nothing.
      const bobWs = clients.add(await wsSubscribed(fx, room, userToken(fx.app, 'bob')));
      await hangUp(bobSse);
      await put(fx, room, 'alice', { barrier: '1' });
      await observer.next((m) => m.event === undefined && 'barrier' in JSON.parse(m.data).attributes, WAIT_MS);
      assert.deepEqual(
        presenceOf(observer).map((p) => p.status),
        ['online'],
        'one online message, no offline while a connection remains',
      );
      assert.deepEqual(await onlineList(fx, room), ['bob']);

      await bobWs.close();
      const offMsg = await nextPresence(observer, 'bob', 'offline');
      assert.ok(offMsg.timestamp >= on.timestamp);
      assert.equal((await ws.next((m) => m.type === 'presence')).status, 'offline');
      assert.deepEqual(await onlineList(fx, room), []);
    });

    it('the route: an app token or a member’s user token; a non-member 401, an unknown room 404, presence off 403', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const outsider = await online(fx, room, 'carol');
      assert.equal(outsider.status, 401);
      assert.deepEqual([outsider.body.error, outsider.body.error_description], ['unauthorized', 'user is not in chatroom']);
      const missing = await online(fx, '999999999999');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error_description, 'grpID 999999999999 does not exist!');
      const ok = await online(fx, room, 'alice');
      assert.equal(ok.status, 200);
      assert.equal(ok.body.uri.endsWith(`/${fx.app.org}/${fx.app.app}/metadata/chatroom`), true, ok.body.uri);
      const offRoom = await off.createRoom('alice', ['bob']);
      const refused = await online(off, offRoom);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, 'forbidden_op');
    });

    it('after the grace an offline member leaves: one member_offline event with its DELETE keys, NO_DELETE kept', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      await put(fx, room, 'bob', { seat: 'bob', mic: 'on' });
      await put(fx, room, 'bob', { bio: 'hi' }, 'NO_DELETE');
      const observer = await watch(fx, room);
      const wentOff = await blip(fx, room, 'bob', observer);
      const event = await offlineLeave(observer, 'bob');
      assert.equal(event.operation, 'removeChatRoomAttributes');
      assert.deepEqual([...event.attributes].sort(), ['mic', 'seat']);
      // spec section 10: what each key was
      assert.deepEqual(event.previous, { mic: { value: 'on', owner: 'bob' }, seat: { value: 'bob', owner: 'bob' } });
      assert.ok(event.timestamp >= wentOff.timestamp + GRACE_MS, `left ${event.timestamp - wentOff.timestamp} ms after going offline`);
      assert.deepEqual(await members(fx, room), ['alice']);
      const got = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(got.body.data, { bio: 'hi' });
      assert.equal(eventsOf(observer).filter((e) => e.reason === 'member_offline').length, 1);
      assert.deepEqual(await onlineList(fx, room), []);
      const set = await fx.user('bob').call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { back: '1' } } });
      assert.equal(set.status, 401, 'no longer a member');
    });

    it('a member with no DELETE key leaves all the same, with no event', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const observer = await watch(fx, room);
      await blip(fx, room, 'bob', observer);
      await waitMembership(fx, room, 'bob', false);
      assert.deepEqual(eventsOf(observer), []);
    });

    it('a new live connection within the grace cancels the leave', async () => {
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      await put(fx, room, 'bob', { seat: 'bob' });
      const observer = await watch(fx, room);
      await blip(fx, room, 'bob', observer);
      const back = clients.add(await wsSubscribed(fx, room, userToken(fx.app, 'bob')));
      await nextPresence(observer, 'bob', 'online');
      await witnessLeaves(fx, room, 'carol', observer);
      assert.deepEqual(await members(fx, room), ['alice', 'bob']);
      assert.deepEqual(await onlineList(fx, room), ['bob']);
      assert.equal(eventsOf(observer).filter((e) => e.from === 'bob').length, 0);
      assert.equal(back.messages.filter((m) => m.type === 'end').length, 0);
    });

    it('the owner never leaves by presence: it stays, with its DELETE keys', async () => {
      const room = await fx.createRoom('alice', ['carol']);
      await put(fx, room, 'alice', { host: 'alice' });
      const observer = await watch(fx, room);
      await blip(fx, room, 'alice', observer);
      await witnessLeaves(fx, room, 'carol', observer);
      assert.deepEqual(await members(fx, room), ['alice']);
      assert.deepEqual((await fx.admin.call('POST', `/metadata/chatroom/${room}`, {})).body.data, { host: 'alice' });
      assert.equal(eventsOf(observer).filter((e) => e.from === 'alice').length, 0);
    });

    it('app-token streams make no one online', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const observer = await watch(fx, room);
      await watch(fx, room);
      clients.add(await wsSubscribed(fx, room, appToken(fx.app)));
      await put(fx, room, 'alice', { barrier: '1' });
      await observer.next((m) => m.event === undefined, WAIT_MS);
      assert.deepEqual(presenceOf(observer), []);
      assert.deepEqual(await onlineList(fx, room), []);
    });

    it('presence off (the default) changes nothing: no presence messages, and an offline member stays', async () => {
      const offRoom = await off.createRoom('alice', ['bob']);
      const offObserver = await watch(off, offRoom);
      const offWs = clients.add(await wsSubscribed(off, offRoom));
      const bob = await sse(off, offRoom, userToken(off.app, 'bob'));
      await hangUp(bob);
      // A witness on the app with presence: by the time it has left, bob was offline longer than the grace.
      const room = await fx.createRoom('alice', ['carol']);
      const observer = await watch(fx, room);
      await witnessLeaves(fx, room, 'carol', observer);
      await put(off, offRoom, 'bob', { still: 'here' });
      await offObserver.next((m) => m.event === undefined, WAIT_MS);
      await offWs.next((m) => m.type === 'event');
      assert.deepEqual(await members(off, offRoom), ['alice', 'bob']);
      assert.deepEqual(presenceOf(offObserver), []);
      assert.deepEqual(
        offWs.messages.filter((m) => m.type === 'presence'),
        [],
      );
    });
  });
}
