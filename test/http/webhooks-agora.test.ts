// Webhooks in Agora Chat's callback format (`"format": "agora"`): set, delete, a member's removal
// and a destroyed room reach such an endpoint as Agora's set_metadata / delete_metadata / destroy
// bodies, with `security` as Agora documents it and roomkv's signature too; a roomkv-format
// endpoint of the same app gets roomkv's events unchanged; retries send the same Agora body
// (webhooks-support.ts: every store). The expected shapes are written from Agora's documents
// (sources in src/events/agora-callback.ts), not from the renderer.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { it } from 'node:test';
import { ConfigError } from '../../src/config/config.js';
import { parseAppsFile } from '../../src/config/apps.js';
import { makeApp, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import type { ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver.js';
import { adminOf, createRoom, createUsers, drained, FAST, forEachStore, ok, SECRET, setAttr } from './webhooks-support.js';

const AGORA_SECRET = `agora-${randomBytes(8).toString('hex')}`;

/** An app with one endpoint per `hooks` entry on `receiver`, each signed (roomkv's way) with SECRET. */
function appWith(receiver: WebhookReceiver, hooks: Array<{ path: string; format?: 'agora' | 'roomkv'; agoraSecret?: string }>): TestApp {
  const webhooks = hooks.map(({ path, ...rest }) => ({ url: receiver.url(path), secret: SECRET, ...rest }));
  return Object.assign(makeApp({ limits: { rateLimitPerSecond: 100_000 } }), { webhooks });
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What Agora documents for a chat room attribute change, checked field by field; answers the body and its parsed `ext`. */
function checkAgoraBody(r: ReceivedRequest, room: string, appKey: string, secret: string): { body: any; ext: any } {
  assert.equal(r.verified, true, `roomkv's signature of ${r.eventId}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const body = JSON.parse(r.body);
  const documented = [
    'chat_type',
    'callId',
    'security',
    'payload',
    'group_id',
    'host',
    'appkey',
    'from',
    'to',
    'eventType',
    'msg_id',
    'timestamp',
  ];
  assert.deepEqual(Object.keys(body), [...documented, 'securityVersion'], 'the documented fields, in the documented order');
  assert.equal(body.chat_type, 'muc');
  assert.equal(body.eventType, 'chat');
  assert.equal(body.securityVersion, '1.0.0');
  assert.equal(body.appkey, appKey);
  assert.equal(body.group_id, room);
  assert.equal(body.from, room, 'from: the chat room id');
  assert.equal(body.host, hostname());
  assert.match(body.msg_id, /^\d+$/);
  assert.equal(body.callId, `${appKey}_${body.msg_id}`);
  assert.equal(typeof body.timestamp, 'number');
  assert.ok(Math.abs(body.timestamp - Date.now()) < 60_000, 'timestamp in ms');
  // Agora: `security` is the MD5 of the `{callId} + {secret} + {timestamp}` string.
  assert.equal(body.security, md5(`${body.callId}${secret}${body.timestamp}`), `security of ${r.eventId}`);
  assert.equal(body.payload.muc_id, `${appKey}_${room}@conference.easemob.com`);
  assert.equal(body.payload.is_chatroom, true);
  assert.deepEqual(body.payload.status, { description: '', error_code: 'ok' });
  if (body.payload.operation === 'destroy') {
    assert.deepEqual(Object.keys(body.payload), ['muc_id', 'reason', 'is_chatroom', 'operation', 'status']);
    return { body, ext: null };
  }
  assert.deepEqual(Object.keys(body.payload), ['muc_id', 'is_chatroom', 'event_info', 'operation', 'status']);
  assert.equal(body.payload.event_info.type, 'event_none');
  assert.equal(typeof body.payload.event_info.ext, 'string', 'ext is a JSON string');
  const ext = JSON.parse(body.payload.event_info.ext);
  assert.deepEqual(Object.keys(ext), ['result', 'identify', 'is_forced', 'muc_name', 'need_notify', 'properties', 'operator']);
  assert.deepEqual(ext.result.errorKeys, {});
  assert.equal(ext.identify, '');
  assert.equal(ext.need_notify, true);
  assert.equal(ext.operator, body.to, 'the operator is the member in `to`');
  return { body, ext };
}

forEachStore(({ serve, receiverUp }) => {
  it('sends Agora bodies to a format:"agora" endpoint and roomkv events to the others', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    const app = appWith(receiver, [
      { path: '/agora', format: 'agora', agoraSecret: AGORA_SECRET },
      { path: '/agora-plain', format: 'agora' },
      { path: '/roomkv' },
    ]);
    const appKey = `${app.org}#${app.app}`;
    const server = await serve(app, FAST);
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice', 'bob');
    const room = await createRoom(admin, 'alice', ['bob']);

    await setAttr(admin, room, 'alice', { seat1: 'alice', mic: 'on', title: 't' });
    await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/bob/forced`, { metaData: { seat1: 'bob' } });
    await ok(admin, 'DELETE', `/metadata/chatroom/${room}/user/alice`, { keys: ['mic'] });
    await setAttr(admin, room, 'bob', { seat2: 'bob' });
    await ok(admin, 'DELETE', `/chatrooms/${room}/users/bob`);
    await ok(admin, 'DELETE', `/chatrooms/${room}`);

    const EVENTS = 6;
    await Promise.all(['/agora', '/agora-plain', '/roomkv'].map((path) => receiver.waitForEvents(EVENTS, { path })));
    await drained(admin, 3 * EVENTS);

    // roomkv's own bodies, unchanged beside the Agora endpoints
    const roomkv = receiver.received('/roomkv').map((r) => {
      assert.equal(r.verified, true);
      return JSON.parse(r.body);
    });
    const asSorted = (a: unknown) => (Array.isArray(a) ? [...a].sort() : a);
    assert.deepEqual(
      roomkv.map((e) => [e.id, e.app, e.operation, e.from, e.reason, asSorted(e.attributes)]),
      [
        [`${room}:1`, appKey, 'updateChatRoomAttributes', 'alice', 'set', { seat1: 'alice', mic: 'on', title: 't' }],
        [`${room}:2`, appKey, 'updateChatRoomAttributes', 'bob', 'forced_set', { seat1: 'bob' }],
        [`${room}:3`, appKey, 'removeChatRoomAttributes', 'alice', 'delete', ['mic']],
        [`${room}:4`, appKey, 'updateChatRoomAttributes', 'bob', 'set', { seat2: 'bob' }],
        [`${room}:5`, appKey, 'removeChatRoomAttributes', 'bob', 'member_left', ['seat1', 'seat2']],
        [`${room}:6`, appKey, 'removeChatRoomAttributes', 'admin', 'room_destroyed', ['title']],
      ],
    );

    const agora = receiver.received('/agora');
    assert.deepEqual(
      agora.map((r) => [r.eventId, r.status, r.attempt]),
      roomkv.map((e) => [e.id, 200, 1]),
      'one POST per event, in seq order, with roomkv headers',
    );
    const got = agora.map((r) => checkAgoraBody(r, room, appKey, AGORA_SECRET));
    const ids = got.map(({ body }) => body.msg_id);
    assert.equal(new Set(ids).size, EVENTS, 'each event its own msg_id');
    for (const [i, { body }] of got.entries()) assert.equal(body.timestamp, at(roomkv, i).timestamp, "the event's timestamp");

    const metadata = (i: number) => {
      const { body, ext } = at(got, i);
      return [body.payload.operation, body.to, ext.is_forced, ext.result.successKeys.sort(), ext.properties];
    };
    assert.deepEqual(metadata(0), ['set_metadata', 'alice', false, ['mic', 'seat1', 'title'], { seat1: 'alice', mic: 'on', title: 't' }]);
    assert.deepEqual(metadata(1), ['set_metadata', 'bob', true, ['seat1'], { seat1: 'bob' }]);
    assert.deepEqual(metadata(3), ['set_metadata', 'bob', false, ['seat2'], { seat2: 'bob' }]);
    // Removals: the removed keys, each mapped to its value when the event carries it, else to "".
    const removal = (i: number, previous: Record<string, string>) => {
      const [operation, to, forced, keys, properties] = metadata(i);
      assert.deepEqual(Object.keys(properties).sort(), keys);
      for (const [k, v] of Object.entries(properties)) assert.ok(v === '' || v === previous[k], `${k}: ${String(v)}`);
      return [operation, to, forced, keys];
    };
    assert.deepEqual(removal(2, { mic: 'on' }), ['delete_metadata', 'alice', false, ['mic']]);
    assert.deepEqual(removal(4, { seat1: 'bob', seat2: 'bob' }), ['delete_metadata', 'bob', false, ['seat1', 'seat2']]);
    // A destroyed room is Agora's `destroy` of the chat room.
    const destroyed = at(got, 5).body;
    assert.deepEqual([destroyed.payload.operation, destroyed.payload.reason, destroyed.to], ['destroy', '', 'admin']);

    // Without agoraSecret, `security` is keyed with the endpoint's secret; the rest is the same body.
    const plain = receiver.received('/agora-plain').map((r) => checkAgoraBody(r, room, appKey, SECRET).body);
    assert.deepEqual(
      plain.map(({ security: _, ...rest }) => rest),
      got.map(({ body: { security: _, ...rest } }) => rest),
    );
  });

  it('retries an Agora-format delivery with the same Agora body, signed both ways', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    receiver.failWhen(({ attempt }) => attempt <= 2);
    const app = appWith(receiver, [{ path: '/agora', format: 'agora', agoraSecret: AGORA_SECRET }]);
    const appKey = `${app.org}#${app.app}`;
    const server = await serve(app, FAST);
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice');
    const room = await createRoom(admin, 'alice');
    await setAttr(admin, room, 'alice', { seat1: 'alice' });
    await ok(admin, 'DELETE', `/metadata/chatroom/${room}/user/alice`, { keys: ['seat1'] });

    await receiver.waitForEvents(2, { path: '/agora' });
    const state = await drained(admin, 2);
    const sent = receiver.received('/agora');
    assert.deepEqual(
      sent.map((r) => [r.eventId, r.attempt, r.status]),
      [
        [`${room}:1`, 1, 500],
        [`${room}:1`, 2, 500],
        [`${room}:1`, 3, 200],
        [`${room}:2`, 1, 500],
        [`${room}:2`, 2, 500],
        [`${room}:2`, 3, 200],
      ],
    );
    for (const seq of [1, 2]) {
      const tries = sent.filter((r) => r.eventId === `${room}:${seq}`);
      for (const r of tries) {
        assert.equal(r.body, at(tries, 0).body, `${room}:${seq}: every attempt sends the same body`);
        checkAgoraBody(r, room, appKey, AGORA_SECRET);
      }
      assert.equal(JSON.parse(at(tries, 0).body).payload.operation, seq === 1 ? 'set_metadata' : 'delete_metadata');
    }
    assert.deepEqual(state.attempts.map((a) => a.outcome).sort(), ['delivered', 'delivered', 'retry', 'retry', 'retry', 'retry']);
  });
});

it('the apps file takes format "roomkv" or "agora" and a non-empty agoraSecret, nothing else', () => {
  const file = (hook: Record<string, unknown>) =>
    JSON.stringify({ apps: [{ ...makeApp(), webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: SECRET, ...hook }] }] });
  const parsed = (hook: Record<string, unknown>) => at(at(parseAppsFile(file(hook), 'apps.json'), 0).webhooks, 0);
  assert.deepEqual([parsed({}).format, parsed({}).agoraSecret], ['roomkv', null]);
  assert.deepEqual(
    [parsed({ format: 'agora', agoraSecret: 'k' }).format, parsed({ format: 'agora', agoraSecret: 'k' }).agoraSecret],
    ['agora', 'k'],
  );
  assert.throws(() => parsed({ format: 'easemob' }), ConfigError);
  assert.throws(() => parsed({ format: 'agora', agoraSecret: '' }), ConfigError);
});
