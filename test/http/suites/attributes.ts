import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

/** The five attribute calls end to end (spec section 5), as the official clients send them. */
export function attributesSuite(target: Target): void {
  describe(`attribute calls [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob', 'carol');
      room = await fx.createRoom('alice', ['bob']);
    });
    after(() => fx.close());

    it('sets, reads and reports per-key outcomes in the full success envelope', async () => {
      const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, {
        body: { metaData: { seat1: 'alice', 'bad key': 'x', num: 7 }, autoDelete: 'DELETE' },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const b = res.body;
      assert.equal(b.uri, `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom`);
      assert.equal(b.organization, fx.app.org);
      assert.equal(b.applicationName, fx.app.app);
      assert.match(b.application, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(b.application.replace(/-/g, ''), fx.app.appId);
      assert.equal(b.action, 'put');
      assert.equal(typeof b.timestamp, 'number');
      assert.ok(Math.abs(b.timestamp - Date.now()) < 60_000);
      assert.equal(typeof b.duration, 'number');
      assert.ok(b.duration >= 0);
      assert.deepEqual(b.data, {
        successKeys: ['seat1'],
        errorKeys: { 'bad key': "properties key 'bad key' is not Legal", num: "properties value of 'num' is not Legal" },
      });
      const got = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['seat1', 'missing'] } });
      assert.equal(got.status, 200);
      assert.equal(got.body.action, 'post');
      assert.deepEqual(got.body.data, { seat1: 'alice' });
    });

    it('answers the same under the /app-id/ prefix, with the org/app uri', async () => {
      const res = await fx.adminById.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { b1: 'v' } } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data, { successKeys: ['b1'], errorKeys: {} });
      assert.equal(res.body.uri, `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom`);
      const all = await fx.adminById.call('POST', `/metadata/chatroom/${room}`, { body: {} });
      assert.equal(all.body.data.b1, 'v');
      const del = await fx.adminById.call('DELETE', `/metadata/chatroom/${room}/user/bob`, { body: { keys: ['b1'] } });
      assert.deepEqual(del.body.data, { successKeys: ['b1'], errorKeys: {} });
    });

    it('protects a key from other members and lets its owner overwrite it', async () => {
      await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { mic: 'alice' } } });
      const other = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { mic: 'bob' } } });
      assert.deepEqual(other.body.data, { successKeys: [], errorKeys: { mic: "key 'mic' is not part of you" } });
      const same = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { mic: 'alice' } } });
      assert.deepEqual(same.body.data, { successKeys: ['mic'], errorKeys: {} });
      const delOther = await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/bob`, { body: { keys: ['mic', 'ghost'] } });
      assert.deepEqual(delOther.body.data, {
        successKeys: [],
        errorKeys: { mic: "key 'mic' is not part of you", ghost: "key 'ghost' does not exist" },
      });
    });

    it('forced set overwrites and transfers ownership; forced delete removes whoever set it', async () => {
      await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, {
        body: { metaData: { host: 'alice' }, autoDelete: 'NO_DELETE' },
      });
      const forced = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/bob/forced`, { body: { metaData: { host: 'bob' } } });
      assert.deepEqual(forced.body.data, { successKeys: ['host'], errorKeys: {} });
      // bob owns it now: alice's normal set is refused, bob's normal delete works
      const alice = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { host: 'alice' } } });
      assert.deepEqual(alice.body.data.errorKeys, { host: "key 'host' is not part of you" });
      await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { other: 'x' } } });
      const fdel = await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { body: { keys: ['other', 'other'] } });
      assert.equal(fdel.status, 200);
      assert.deepEqual(fdel.body.data, { successKeys: ['other'], errorKeys: {} });
      const bobDel = await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/bob`, { body: { keys: ['host'] } });
      assert.deepEqual(bobDel.body.data, { successKeys: ['host'], errorKeys: {} });
    });

    it('reads every attribute for no body, {}, keys null and keys []', async () => {
      await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { g1: '1', g2: '' } } });
      const forms: Array<{ body?: unknown; headers?: Record<string, string> }> = [
        {},
        { headers: { 'Content-Type': 'application/json' } },
        { body: {} },
        { body: { keys: null } },
        { body: { keys: [] } },
      ];
      for (const form of forms) {
        const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, form);
        assert.equal(res.status, 200, JSON.stringify(form));
        assert.equal(res.body.data.g1, '1');
        assert.equal(res.body.data.g2, '', 'the empty string is a valid value');
      }
    });

    it('requires membership of the acting user', async () => {
      const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/carol`, { body: { metaData: { c: '1' } } });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'unauthorized');
      assert.equal(res.body.error_description, 'user is not in chatroom');
      const del = await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/carol`, { body: { keys: ['c'] } });
      assert.equal(del.status, 401);
      const forced = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/carol/forced`, { body: { metaData: { c: '1' } } });
      assert.equal(forced.status, 401);
    });

    it('answers 404 for a chatroom that does not exist', async () => {
      for (const [method, path, body] of [
        ['PUT', '/metadata/chatroom/999/user/alice', { metaData: { a: '1' } }],
        ['POST', '/metadata/chatroom/999', { keys: ['a'] }],
        ['DELETE', '/metadata/chatroom/999/user/alice', { keys: ['a'] }],
        ['DELETE', '/metadata/chatroom/999/user/admin/forced', { keys: ['a'] }],
      ] as const) {
        const res = await fx.admin.call(method, path, { body });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.deepEqual([res.body.error, res.body.error_description], ['resource_not_found', 'grpID 999 does not exist!']);
      }
    });

    it('treats __proto__, constructor and prototype as ordinary keys', async () => {
      const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, {
        body: '{"metaData":{"__proto__":"p","constructor":"c","prototype":"t"}}',
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data.successKeys.sort(), ['__proto__', 'constructor', 'prototype']);
      const got = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['__proto__', 'constructor', 'toString'] } });
      assert.equal(got.text.includes('"__proto__":"p"'), true);
      assert.equal(got.body.data.constructor, 'c');
      assert.equal(Object.keys(got.body.data).length, 2);
    });
  });
}
