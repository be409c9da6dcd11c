import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { appToken, userToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type SseStream } from '../../support/sse.js';
import { Clients, closedWithin, connectWithToken, type WsClient } from './ws-client.js';
import { assertSameAnswer } from './ws-ops.js';

/**
 * Room subscriptions on a WebSocket (spec section 9): the same snapshot, events, resume and
 * rights as the SSE stream, built on the same LiveStream; several rooms on one socket, each in
 * seq order; unsubscribe; and the `end` of a subscription whose right ended.
 */

const NO_LIMIT = { rateLimitPerSecond: 100_000 };

function eventsUrl(fx: Fixture, room: string): string {
  return `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`;
}

async function put(fx: Fixture, room: string, user: string, metaData: Record<string, string>): Promise<void> {
  const r = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body: { metaData } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.errorKeys, {}, r.text);
}

/** Subscribes and checks the reply; returns it. */
async function subscribe(c: WsClient, room: string, resume: Record<string, unknown> = {}): Promise<any> {
  const reply = await c.request({ op: 'subscribe', room, ...resume });
  assert.deepEqual(reply, { type: 'reply', id: reply.id, status: 200, data: { chatroomId: room } });
  return reply;
}

/** The next message about `room` (a snapshot, an event or an end). */
const about = (c: WsClient, room: string) => c.next((m) => m.type !== 'reply' && m.chatroomId === room);

const eventsOf = (c: WsClient, room: string) => c.messages.filter((m) => m.type === 'event' && m.chatroomId === room);

/** The first message about `room` after `reply` (the messages of an earlier subscription come before it). */
const firstAfter = (c: WsClient, reply: unknown, room: string) =>
  c.seen((m) => m.type !== 'reply' && m.chatroomId === room && c.messages.indexOf(m) > c.messages.indexOf(reply));

export function wsSubscriptionsSuite(target: Target): void {
  describe(`WebSocket: subscriptions [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    const sse: SseStream[] = [];
    before(async () => {
      fx = await startFixture(target, NO_LIMIT);
      await fx.createUsers('alice', 'bob', 'carol', 'dave');
    });
    afterEach(async () => {
      for (const s of sse.splice(0)) {
        s.close();
        await s.closed;
      }
      await clients.closeAll();
    });
    after(() => fx.close());

    it('sends the reply, then the snapshot, then each change: the SSE stream’s snapshot and events, with a type', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      await put(fx, room, 'alice', { seed: 's' });
      const stream = await openStream(eventsUrl(fx, room), { token: appToken(fx.app) });
      sse.push(stream);
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'bob')));
      const reply = await subscribe(c, room);
      const snap = await about(c, room);
      assert.ok(c.messages.indexOf(reply) < c.messages.indexOf(snap), 'the reply comes first');
      const { type, ...fields } = snap;
      assert.equal(type, 'snapshot');
      assert.deepEqual(fields, json(await stream.next((m) => m.event === 'snapshot')));
      await put(fx, room, 'bob', { seat: 'bob' });
      assert.equal((await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/alice`, { body: { keys: ['seed'] } })).status, 200);
      for (const seq of [2, 3]) {
        const { type: t, epoch, ...event } = await about(c, room);
        const m = await stream.next((x) => x.event === undefined);
        assert.equal(t, 'event');
        assert.equal(`${seq}-${epoch}`, m.id, 'the epoch and seq of the SSE id');
        assert.deepEqual(event, json(m));
      }
    });

    it('resumes as the SSE stream does: after a seq or an event id, a snapshot for another epoch or a seq ahead, nothing new at the room’s seq', async () => {
      const room = await fx.createRoom('alice');
      for (const k of ['a', 'b', 'c']) await put(fx, room, 'alice', { [k]: k });
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      await subscribe(c, room);
      const { epoch } = await about(c, room);
      const cases: Array<[string, Record<string, unknown>, (m: any) => void]> = [
        ['since a number', { since: 1 }, (m) => assert.deepEqual([m.type, m.seq, m.attributes], ['event', 2, { b: 'b' }])],
        ['since an event id', { since: `2-${epoch}` }, (m) => assert.deepEqual([m.type, m.seq], ['event', 3])],
        ['since a seq string and its epoch', { since: '2', epoch }, (m) => assert.deepEqual([m.type, m.seq], ['event', 3])],
        ['since an id of another epoch', { since: '2-zzzz' }, (m) => assert.deepEqual([m.type, m.seq, m.epoch], ['snapshot', 3, epoch])],
        ['since with another epoch', { since: 2, epoch: 'zzzz' }, (m) => assert.deepEqual([m.type, m.seq], ['snapshot', 3])],
        ['since ahead of the room', { since: 99 }, (m) => assert.deepEqual([m.type, m.seq], ['snapshot', 3])],
      ];
      for (const [what, resume, check] of cases) {
        assert.equal((await c.request({ op: 'unsubscribe', room })).status, 200, what);
        const reply = await subscribe(c, room, resume);
        check(await firstAfter(c, reply, room));
      }
      assert.equal((await c.request({ op: 'unsubscribe', room })).status, 200);
      const reply = await subscribe(c, room, { since: 3 });
      await put(fx, room, 'alice', { d: 'd' });
      const first = await firstAfter(c, reply, room);
      assert.deepEqual([first.type, first.seq], ['event', 4], 'nothing before the next change');
    });

    it('carries several rooms on one socket, each in seq order with no gaps, under concurrent writers', async () => {
      const rooms = [await fx.createRoom('alice', ['bob']), await fx.createRoom('bob', ['alice'])];
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'alice')));
      for (const room of rooms) {
        await subscribe(c, room);
        assert.equal((await about(c, room)).type, 'snapshot');
      }
      const writes = rooms.flatMap((room) =>
        ['alice', 'bob'].map(async (u) => {
          for (let i = 0; i < 10; i++) await put(fx, room, u, { [`${u}${i}`]: String(i) });
        }),
      );
      await Promise.all(writes);
      for (const room of rooms) {
        await c.seen((m) => m.type === 'event' && m.chatroomId === room && m.seq === 20);
        assert.deepEqual(
          eventsOf(c, room).map((e) => e.seq),
          Array.from({ length: 20 }, (_, i) => i + 1),
          `room ${room}`,
        );
      }
    });

    it('unsubscribe stops a room’s events at once (twice is fine); a later subscribe resumes what was missed', async () => {
      const room = await fx.createRoom('alice');
      const stream = await openStream(eventsUrl(fx, room), { token: appToken(fx.app) });
      sse.push(stream);
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      await subscribe(c, room);
      await about(c, room);
      await put(fx, room, 'alice', { one: '1' });
      assert.equal((await about(c, room)).seq, 1);
      const bye = await c.request({ op: 'unsubscribe', room });
      assert.deepEqual(bye.data, { chatroomId: room });
      await put(fx, room, 'alice', { two: '2' });
      // The SSE observer on the same instance was handed seq 2 in the same fan-out; a ping after it proves none followed.
      await stream.next((m) => m.seq === '2');
      assert.equal((await c.request({ op: 'ping' })).status, 200);
      assert.deepEqual(
        eventsOf(c, room).map((e) => e.seq),
        [1],
      );
      assert.equal((await c.request({ op: 'unsubscribe', room })).status, 200);
      await subscribe(c, room, { since: 1 });
      assert.deepEqual([(await about(c, room)).seq], [2]);
    });

    it('a member removed from one room gets end membership_ended for it; its other room and the socket carry on', async () => {
      const [a, b] = [await fx.createRoom('alice', ['bob']), await fx.createRoom('alice', ['bob'])];
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'bob')));
      for (const room of [a, b]) {
        await subscribe(c, room);
        await about(c, room);
      }
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${a}/users/bob`)).status, 200);
      await put(fx, a, 'alice', { after: 'removal' });
      const end = await c.next((m) => m.type === 'end');
      assert.deepEqual(end, { type: 'end', chatroomId: a, reason: 'membership_ended' });
      await put(fx, b, 'alice', { still: 'here' });
      assert.deepEqual((await about(c, b)).attributes, { still: 'here' });
      assert.deepEqual(eventsOf(c, a), [], "nothing of room a after bob's removal");
      const again = await c.request({ op: 'subscribe', room: a });
      assert.deepEqual([again.status, again.error_description], [401, 'user is not in chatroom']);
    });

    it('a destroyed room ends with its last event, then end room_destroyed; an app-token resume at its end gets the end at once', async () => {
      const room = await fx.createRoom('alice');
      await put(fx, room, 'alice', { k: 'v' });
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      await subscribe(c, room);
      await about(c, room);
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}`)).status, 200);
      const last = await about(c, room);
      assert.deepEqual([last.type, last.reason, last.seq], ['event', 'room_destroyed', 2]);
      assert.deepEqual(await about(c, room), { type: 'end', chatroomId: room, reason: 'room_destroyed' });
      await subscribe(c, room, { since: 2 });
      assert.deepEqual(await about(c, room), { type: 'end', chatroomId: room, reason: 'room_destroyed' });
    });

    it('when its token expires, each subscription ends with token_expired, then the socket closes with 4401', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'bob', 2)));
      await subscribe(c, room);
      await about(c, room);
      assert.deepEqual(await about(c, room), { type: 'end', chatroomId: room, reason: 'token_expired' });
      assert.deepEqual(await closedWithin(c), { code: 4401, reason: 'Unable to authenticate due to expired access token' });
    });

    it('refuses a subscribe as the SSE stream refuses it (no room, not a member), and a second one to the same room', async () => {
      const room = await fx.createRoom('alice');
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'dave')));
      for (const target_ of [room, '299999999999', 'not-a-room']) {
        const stream = await openStream(eventsUrl(fx, target_), { token: userToken(fx.app, 'dave') });
        sse.push(stream);
        const reply = await c.request({ op: 'subscribe', room: target_ });
        assertSameAnswer(reply, { status: stream.status, body: stream.body, text: stream.text ?? '', headers: stream.headers }, target_);
      }
      const app = clients.add(await connectWithToken(fx, appToken(fx.app)));
      await subscribe(app, room);
      const twice = await app.request({ op: 'subscribe', room });
      assert.deepEqual([twice.status, twice.error_description], [400, `chatroom ${room} is already subscribed on this connection`]);
    });
  });

  describe(`WebSocket: caps [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_MAX_STREAMS_PER_USER: '2' } });
      await fx.createUsers('alice', 'bob');
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('subscriptions count against the event streams’ per-user cap (429 as SSE); an unsubscribe gives the place back', async () => {
      const rooms = [await fx.createRoom('alice', ['bob']), await fx.createRoom('alice', ['bob']), await fx.createRoom('alice', ['bob'])];
      const [a, b, c3] = rooms as [string, string, string];
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'bob')));
      await subscribe(c, a);
      await subscribe(c, b);
      const stream = await openStream(eventsUrl(fx, c3), { token: userToken(fx.app, 'bob') });
      const refused = await c.request({ op: 'subscribe', room: c3 });
      assertSameAnswer(refused, { status: stream.status, body: stream.body, text: stream.text ?? '', headers: stream.headers }, 'third');
      assert.equal(refused.status, 429);
      assert.equal((await c.request({ op: 'unsubscribe', room: a })).status, 200);
      await subscribe(c, c3);
    });

    it('a user holds at most as many sockets as streams: past the cap the socket closes with 4429', async () => {
      const token = userToken(fx.app, 'alice');
      for (let i = 0; i < 2; i++) assert.equal((await clients.add(await connectWithToken(fx, token)).request({ op: 'ping' })).status, 200);
      const third = clients.add(await connectWithToken(fx, token));
      assert.deepEqual(await closedWithin(third), { code: 4429, reason: 'too many open WebSocket connections for this user (limit 2)' });
    });
  });
}
