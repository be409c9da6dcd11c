// Webhooks end to end, the delivery itself: roomkv POSTs each change event to a real local HTTP
// receiver, signed, once, to each endpoint that asked for it (webhooks-support.ts: every store).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { verifyWebhook } from '../../src/events/signature.js';
import { at } from '../support/at.js';
import {
  adminOf,
  createRoom,
  createUsers,
  drained,
  endpointId,
  FAST,
  forEachStore,
  hookedApp,
  ok,
  SECRET,
  setAttr,
} from './webhooks-support.js';

forEachStore(({ serve, receiverUp }) => {
  it(
    'POSTs each event once, signed, with its id in a header; each endpoint gets only the events it asked for',
    { timeout: 30_000 },
    async () => {
      const receiver = await receiverUp();
      const app = hookedApp(receiver, [
        { path: '/all' },
        { path: '/destroyed', events: ['room_destroyed'] },
        { path: '/removals', events: ['removeChatRoomAttributes'] },
      ]);
      const server = await serve(app, FAST);
      const admin = adminOf(server.url, app);
      await createUsers(admin, 'alice', 'bob');
      const room = await createRoom(admin, 'alice', ['bob']);

      const before = Date.now();
      await setAttr(admin, room, 'alice', { seat: 'a1', mic: 'on', title: 't', topic: 'x' });
      const forced = await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/bob/forced`, { metaData: { seat: 'b1' } });
      assert.deepEqual(forced.data, { successKeys: ['seat'], errorKeys: {} });
      const del = await ok(admin, 'DELETE', `/metadata/chatroom/${room}/user/alice`, { keys: ['mic'] });
      assert.deepEqual(del.data, { successKeys: ['mic'], errorKeys: {} });
      await ok(admin, 'DELETE', `/chatrooms/${room}/users/bob`);
      await ok(admin, 'DELETE', `/chatrooms/${room}`);
      const afterCalls = Date.now();

      await Promise.all([
        receiver.waitForEvents(5, { path: '/all' }),
        receiver.waitForEvents(1, { path: '/destroyed' }),
        receiver.waitForEvents(3, { path: '/removals' }),
      ]);
      const state = await drained(admin, 9);

      const appKey = `${app.org}#${app.app}`;
      const expected = [
        {
          operation: 'updateChatRoomAttributes',
          from: 'alice',
          reason: 'set',
          attributes: { seat: 'a1', mic: 'on', title: 't', topic: 'x' },
          previous: { seat: null, mic: null, title: null, topic: null },
        },
        {
          operation: 'updateChatRoomAttributes',
          from: 'bob',
          reason: 'forced_set',
          attributes: { seat: 'b1' },
          previous: { seat: { value: 'a1', owner: 'alice' } },
        },
        {
          operation: 'removeChatRoomAttributes',
          from: 'alice',
          reason: 'delete',
          attributes: ['mic'],
          previous: { mic: { value: 'on', owner: 'alice' } },
        },
        {
          operation: 'removeChatRoomAttributes',
          from: 'bob',
          reason: 'member_left',
          attributes: ['seat'],
          previous: { seat: { value: 'b1', owner: 'bob' } },
        },
        {
          operation: 'removeChatRoomAttributes',
          from: 'admin',
          reason: 'room_destroyed',
          attributes: ['title', 'topic'],
          previous: { title: { value: 't', owner: 'alice' }, topic: { value: 'x', owner: 'alice' } },
        },
      ];
      const check = (path: string, seqs: number[]) => {
        const got = receiver.received(path);
        assert.deepEqual(
          got.map((r) => r.eventId),
          seqs.map((s) => `${room}:${s}`),
          `${path}: one POST per event, in order`,
        );
        for (const r of got) {
          assert.equal(r.method, 'POST');
          assert.equal(r.status, 200);
          assert.match(String(r.headers['content-type']), /^application\/json/);
          assert.equal(r.headers['x-roomkv-attempt'], '1');
          const ts = String(r.headers['x-roomkv-timestamp']);
          assert.match(ts, /^\d+$/);
          assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, `x-roomkv-timestamp ${ts} is Unix seconds`);
          assert.match(String(r.headers['x-roomkv-signature']), /^v1=[0-9a-f]{64}$/);
          assert.equal(r.verified, true, `signature of ${r.eventId} on ${path}`);
          const body = JSON.parse(r.body);
          assert.equal(r.headers['x-roomkv-event-id'], body.id);
          assert.equal(typeof body.timestamp, 'number');
          assert.ok(body.timestamp >= before - 1000 && body.timestamp <= afterCalls + 1000, `event timestamp ${body.timestamp} in ms`);
          const e = expected[body.seq - 1];
          const attributes = Array.isArray(body.attributes) ? [...body.attributes].sort() : body.attributes;
          assert.deepEqual(
            { ...body, attributes },
            {
              id: `${room}:${body.seq}`,
              seq: body.seq,
              chatroomId: room,
              app: appKey,
              timestamp: body.timestamp,
              ...e,
            },
          );
        }
        return got;
      };
      const all = check('/all', [1, 2, 3, 4, 5]);
      check('/destroyed', [5]);
      check('/removals', [3, 4, 5]);

      // the verifier refuses what was not signed as sent (checked on the verifier, not on roomkv)
      const r = at(all, 0);
      const ts = String(r.headers['x-roomkv-timestamp']);
      const sig = String(r.headers['x-roomkv-signature']);
      assert.equal(verifyWebhook(SECRET, ts, r.body, sig), true);
      assert.equal(verifyWebhook(SECRET, ts, r.body.replace('"a1"', '"a2"'), sig), false, 'a tampered body');
      assert.equal(verifyWebhook(SECRET, ts, `${r.body} `, sig), false, 'a body with a byte added');
      assert.equal(verifyWebhook(SECRET, String(Number(ts) + 1), r.body, sig), false, 'another timestamp');
      assert.equal(verifyWebhook(`${SECRET}x`, ts, r.body, sig), false, 'another secret');

      // GET /webhooks: the three endpoints, nothing pending, one delivered attempt per request
      assert.equal(state.endpoints.length, 3);
      assert.equal(new Set(state.endpoints.map((e) => e.id)).size, 3, 'each endpoint has its own id');
      assert.deepEqual(state.endpoints.find((e) => e.url === receiver.url('/destroyed'))?.events, ['room_destroyed']);
      assert.deepEqual(state.endpoints.find((e) => e.url === receiver.url('/removals'))?.events, ['removeChatRoomAttributes']);
      assert.equal(state.attempts.length, 9);
      for (const [path, n] of [
        ['/all', 5],
        ['/destroyed', 1],
        ['/removals', 3],
      ] as const) {
        const id = endpointId(state, receiver.url(path));
        const mine = state.attempts.filter((a) => a.endpoint === id);
        assert.equal(mine.length, n, `${path}: attempts recorded`);
        for (const a of mine) {
          assert.equal(a.roomId, room);
          assert.equal(a.attempt, 1);
          assert.equal(a.status, 200);
          assert.equal(a.error, null);
          assert.equal(a.outcome, 'delivered');
          assert.equal(typeof a.at, 'number');
          assert.ok(a.durationMs >= 0);
        }
      }
    },
  );
});
