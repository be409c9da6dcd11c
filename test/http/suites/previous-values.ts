import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type SseStream } from '../../support/sse.js';
import { eventsUrl, WAIT_MS, type PreviousValue } from './events-support.js';

/**
 * Spec section 10's previous values through the REST API: every event names each key it touched as
 * it was (value and owner), null for a key that did not exist, whatever made it: set, forced set,
 * delete, forced delete, a member removed, a user deleted, an expiry and a destroyed room (which
 * lists every key the room held). History answers them as streamed (history.ts).
 */
export function previousValuesSuite(target: Target): void {
  describe(`previous values in events [${target.name}]`, () => {
    let fx: Fixture;
    let stream: SseStream;
    let room: string;
    const put = (user: string, body: unknown, forced = false) =>
      fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body });
    const del = (user: string, keys: string[], forced = false) =>
      fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body: { keys } });
    /** The next event of the room: its reason, from, and previous. */
    const next = async () => {
      const b = json(await stream.next((m) => m.event === undefined, WAIT_MS));
      return [b.reason, b.from, b.previous] as [string, string, Record<string, PreviousValue>];
    };
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob', 'carol', 'dave');
      room = await fx.createRoom('alice', ['bob', 'carol', 'dave']);
      stream = await openStream(eventsUrl(fx, room), { token: appToken(fx.app) });
      await stream.next((m) => m.event === 'snapshot');
    });
    after(async () => {
      stream.close();
      await fx.close();
    });

    it('set and forced set: null for a new key, else its value and owner before', async () => {
      await put('alice', { metaData: { s: '1', t: 'é "quoted" \\ /' } });
      assert.deepEqual(await next(), ['set', 'alice', { s: null, t: null }]);
      await put('alice', { metaData: { s: '2', t: '' } });
      assert.deepEqual(await next(), [
        'set',
        'alice',
        { s: { value: '1', owner: 'alice' }, t: { value: 'é "quoted" \\ /', owner: 'alice' } },
      ]);
      await put('bob', { metaData: { s: 'b', n: 'new' } }, true);
      assert.deepEqual(await next(), ['forced_set', 'bob', { s: { value: '2', owner: 'alice' }, n: null }]);
    });

    it('delete and forced delete: each key removed as it was', async () => {
      await del('bob', ['s', 'missing']);
      assert.deepEqual(await next(), ['delete', 'bob', { s: { value: 'b', owner: 'bob' } }]);
      await del('admin', ['t', 'n'], true);
      assert.deepEqual(await next(), ['forced_delete', 'admin', { t: { value: '', owner: 'alice' }, n: { value: 'new', owner: 'bob' } }]);
    });

    it("a member removed, a user deleted, an expiry: the keys that went, each with its owner's value", async () => {
      await put('carol', { metaData: { c: 'cv' } });
      await next();
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}/users/carol`)).status, 200);
      assert.deepEqual(await next(), ['member_left', 'carol', { c: { value: 'cv', owner: 'carol' } }]);
      await put('dave', { metaData: { d: 'dv' } });
      await next();
      assert.equal((await fx.admin.call('DELETE', '/users/dave')).status, 200);
      assert.deepEqual(await next(), ['user_deleted', 'dave', { d: { value: 'dv', owner: 'dave' } }]);
      await put('bob', { metaData: { e: 'ev' }, ttl: { e: 1 } });
      await next();
      assert.deepEqual(await next(), ['expired', 'bob', { e: { value: 'ev', owner: 'bob' } }]);
    });

    it('a destroyed room: every key it held, with its value and owner', async () => {
      await put('alice', { metaData: { a: 'av' } });
      await put('bob', { metaData: { b: 'bv' }, autoDelete: 'NO_DELETE' });
      await next();
      await next();
      const history = await fx.admin.call('GET', `/metadata/chatroom/${room}/history`);
      assert.ok(
        history.body.data.events.every((e: { previous?: unknown }) => typeof e.previous === 'object' && e.previous !== null),
        'every logged event carries previous',
      );
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}`)).status, 200);
      assert.deepEqual(await next(), ['room_destroyed', 'admin', { a: { value: 'av', owner: 'alice' }, b: { value: 'bv', owner: 'bob' } }]);
    });
  });
}
