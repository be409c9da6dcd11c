// Webhooks of expired keys (spec section 10): an endpoint that asks for `expired` gets the event as
// any other, signed, with what the key was; a format:"agora" endpoint gets Agora's delete_metadata
// for it, the removed value in `properties` (webhooks-support.ts: every store).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { makeApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { adminOf, createRoom, createUsers, FAST, forEachStore, ok, SECRET } from './webhooks-support.js';

forEachStore(({ serve, receiverUp }) => {
  it('an expired key reaches the endpoints that ask for it, in both formats', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    const app = Object.assign(makeApp({ limits: { rateLimitPerSecond: 100_000 } }), {
      webhooks: [
        { url: receiver.url('/expired'), secret: SECRET, events: ['expired'] },
        { url: receiver.url('/updates'), secret: SECRET, events: ['updateChatRoomAttributes'] },
        { url: receiver.url('/agora'), secret: SECRET, format: 'agora', events: ['expired'] },
      ],
    });
    const server = await serve(app, FAST);
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice');
    const room = await createRoom(admin, 'alice');
    await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/alice`, { metaData: { mute: 'bob', keep: 'k' }, ttl: { mute: 1 } });

    await Promise.all([receiver.waitForEvents(1, { path: '/expired' }), receiver.waitForEvents(1, { path: '/agora' })]);
    const [hook] = receiver.received('/expired');
    assert.equal(hook?.verified, true);
    const body = JSON.parse(hook!.body);
    assert.deepEqual(
      [body.seq, body.operation, body.from, body.reason, body.attributes, body.previous],
      [2, 'removeChatRoomAttributes', 'alice', 'expired', ['mute'], { mute: { value: 'bob', owner: 'alice' } }],
    );
    assert.deepEqual(
      receiver.received('/updates').map((r) => JSON.parse(r.body).reason),
      ['set'],
      'an endpoint that names other events does not get it',
    );
    const agora = JSON.parse(at(receiver.received('/agora'), 0).body);
    assert.equal(agora.payload.operation, 'delete_metadata');
    const ext = JSON.parse(agora.payload.event_info.ext);
    assert.deepEqual([ext.properties, ext.result.successKeys, ext.operator, ext.is_forced], [{ mute: 'bob' }, ['mute'], 'alice', false]);
  });
});
