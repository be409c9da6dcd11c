import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { byKey, type Conformance, NOT_IN_ROOM, rejectsApi } from './conformance-support.js';

/** The attribute calls of the store conformance suite: set, delete and get, their per-key outcomes and refusals. */
export function attributeTests(suite: Conformance): void {
  const { newApp, users, world, set, del, all } = suite;

  it('setAttributes reports per-key outcomes and stores exactly the successes', async () => {
    const { app, room } = await world(['alice', 'bob']);
    await set(app, room, 'bob', { theirs: 'b' });
    const out = await set(
      app,
      room,
      'alice',
      {
        seat1: 'alice',
        'bad key': 'x',
        num: 7,
        theirs: 'a',
        empty: '',
        long: 'v'.repeat(4087),
        seat2: '😀',
      },
      { autoDelete: 'NO_DELETE' },
    );
    assert.deepEqual(out, {
      successKeys: ['seat1', 'empty', 'seat2'],
      errorKeys: {
        'bad key': "properties key 'bad key' is not Legal",
        num: "properties value of 'num' is not Legal",
        theirs: "key 'theirs' is not part of you",
        long: "properties value of 'long' is exceeding maximum limit 4086",
      },
    });
    assert.deepEqual(await all(app, room), { theirs: 'b', seat1: 'alice', empty: '', seat2: '😀' });
    assert.deepEqual(byKey(await suite.store.listAttributes(app, room)), {
      theirs: { value: 'b', owner: 'bob', autoDelete: 'DELETE' },
      seat1: { value: 'alice', owner: 'alice', autoDelete: 'NO_DELETE' },
      empty: { value: '', owner: 'alice', autoDelete: 'NO_DELETE' },
      seat2: { value: '😀', owner: 'alice', autoDelete: 'NO_DELETE' },
    });
  });

  it('an owner overwrites its key: value and autoDelete follow the latest call', async () => {
    const { app, room } = await world(['alice']);
    await set(app, room, 'alice', { k: 'one' }, { autoDelete: 'NO_DELETE' });
    assert.deepEqual(await set(app, room, 'alice', { k: 'two' }, { autoDelete: 'DELETE' }), { successKeys: ['k'], errorKeys: {} });
    assert.deepEqual(await set(app, room, 'alice', { k: 'two' }), { successKeys: ['k'], errorKeys: {} }, 'same value again');
    assert.deepEqual(await suite.store.listAttributes(app, room), [{ key: 'k', value: 'two', owner: 'alice', autoDelete: 'DELETE' }]);
  });

  it('a leave removes exactly the keys whose latest set said DELETE, whoever set them before', async () => {
    const { app, room } = await world(['owner', 'alice', 'bob']);
    const opts = (autoDelete: 'DELETE' | 'NO_DELETE', forced = false) => ({ autoDelete, forced });
    await set(app, room, 'alice', { on: '1', off: '1', again: '1', taken: '1' }, opts('NO_DELETE'));
    await set(app, room, 'alice', { on: '2', again: '2', taken: '2' }, opts('DELETE'));
    await set(app, room, 'alice', { off: '2' }, opts('DELETE'));
    await set(app, room, 'alice', { off: '3' }, opts('NO_DELETE'));
    await set(app, room, 'alice', { again: '3' }, opts('DELETE'));
    // bob forces alice's DELETE key with NO_DELETE, and takes it DELETE then NO_DELETE himself.
    await set(app, room, 'bob', { taken: 'b1' }, opts('NO_DELETE', true));
    await set(app, room, 'bob', { kept: 'b1' }, opts('DELETE'));
    await set(app, room, 'bob', { kept: 'b2' }, opts('NO_DELETE'));
    await suite.store.removeMembers(app, room, ['alice'], NO_WEBHOOKS);
    assert.deepEqual(await all(app, room), { off: '3', taken: 'b1', kept: 'b2' });
    await suite.store.removeMembers(app, room, ['bob'], NO_WEBHOOKS);
    assert.deepEqual(await all(app, room), { off: '3', taken: 'b1', kept: 'b2' });
  });

  it('set, delete and get of a room that does not exist: 404', async () => {
    const app = newApp();
    await users(app, 'alice');
    const desc = 'grpID 424242 does not exist!';
    await rejectsApi(set(app, '424242', 'alice', { a: '1' }), 404, 'resource_not_found', desc);
    await rejectsApi(set(app, '424242', 'alice', { a: '1' }, { forced: true }), 404, 'resource_not_found', desc);
    await rejectsApi(del(app, '424242', 'alice', ['a']), 404, 'resource_not_found', desc);
    await rejectsApi(del(app, '424242', 'admin', ['a'], { forced: true, checkMembership: false }), 404, 'resource_not_found', desc);
    await rejectsApi(suite.store.getAttributes(app, '424242', undefined), 404, 'resource_not_found', desc);
    await rejectsApi(suite.store.getAttributes(app, '424242', ['a'], 'alice'), 404, 'resource_not_found', desc);
  });

  it('a room of another app is not found', async () => {
    const { app, room } = await world(['alice']);
    await set(app, room, 'alice', { a: '1' });
    const other = newApp();
    await users(other, 'alice');
    await rejectsApi(suite.store.getAttributes(other, room, undefined), 404, 'resource_not_found', `grpID ${room} does not exist!`);
    await rejectsApi(set(other, room, 'alice', { a: '2' }), 404, 'resource_not_found', `grpID ${room} does not exist!`);
    assert.deepEqual(await all(app, room), { a: '1' });
  });

  it('a non-member gets 401 on set, forced set and delete; nothing changes', async () => {
    const { app, room } = await world(['alice']);
    await users(app, 'carol');
    await set(app, room, 'alice', { a: '1' });
    await rejectsApi(set(app, room, 'carol', { c: '1' }), 401, 'unauthorized', NOT_IN_ROOM);
    await rejectsApi(set(app, room, 'carol', { a: 'c' }, { forced: true }), 401, 'unauthorized', NOT_IN_ROOM);
    await rejectsApi(del(app, room, 'carol', ['a']), 401, 'unauthorized', NOT_IN_ROOM);
    await rejectsApi(del(app, room, 'carol', ['a'], { forced: true }), 401, 'unauthorized', NOT_IN_ROOM);
    await rejectsApi(set(app, room, 'nobody', { c: '1' }), 401, 'unauthorized', NOT_IN_ROOM);
    assert.deepEqual(await suite.store.listAttributes(app, room), [{ key: 'a', value: '1', owner: 'alice', autoDelete: 'DELETE' }]);
  });

  it("forced set overwrites another member's key: owner and autoDelete become the caller's", async () => {
    const { app, room } = await world(['alice', 'bob']);
    await set(app, room, 'alice', { host: 'alice' }, { autoDelete: 'NO_DELETE' });
    const out = await set(app, room, 'bob', { host: 'bob', 'bad key': 'x', fresh: 'f' }, { forced: true, autoDelete: 'DELETE' });
    assert.deepEqual(out, { successKeys: ['host', 'fresh'], errorKeys: { 'bad key': "properties key 'bad key' is not Legal" } });
    assert.deepEqual(byKey(await suite.store.listAttributes(app, room)), {
      host: { value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      fresh: { value: 'f', owner: 'bob', autoDelete: 'DELETE' },
    });
    assert.deepEqual(await set(app, room, 'alice', { host: 'alice' }), {
      successKeys: [],
      errorKeys: { host: "key 'host' is not part of you" },
    });
    // bob's autoDelete now governs the key: bob leaving removes it
    await suite.store.removeMembers(app, room, ['bob'], NO_WEBHOOKS);
    assert.deepEqual(await all(app, room), {});
  });

  it("deleteAttributes: own keys removed, others' not part of you, missing does not exist", async () => {
    const { app, room } = await world(['alice', 'bob']);
    await set(app, room, 'alice', { a1: '1', a2: '2' });
    await set(app, room, 'bob', { b1: '1' });
    assert.deepEqual(await del(app, room, 'alice', ['b1', 'a1', 'ghost']), {
      successKeys: ['a1'],
      errorKeys: { b1: "key 'b1' is not part of you", ghost: "key 'ghost' does not exist" },
    });
    assert.deepEqual(await all(app, room), { a2: '2', b1: '1' });
    assert.deepEqual(await del(app, room, 'alice', ['a1']), { successKeys: [], errorKeys: { a1: "key 'a1' does not exist" } });
  });

  it('forced delete removes keys whoever set them; checkMembership false lets admin in', async () => {
    const { app, room } = await world(['alice', 'bob']);
    await set(app, room, 'alice', { a1: '1' });
    await set(app, room, 'bob', { b1: '1', b2: '2' });
    assert.deepEqual(await del(app, room, 'alice', ['b1', 'ghost'], { forced: true }), {
      successKeys: ['b1'],
      errorKeys: { ghost: "key 'ghost' does not exist" },
    });
    assert.deepEqual(await del(app, room, 'admin', ['a1', 'b2'], { forced: true, checkMembership: false }), {
      successKeys: ['a1', 'b2'],
      errorKeys: {},
    });
    assert.deepEqual(await all(app, room), {});
  });

  it('getAttributes: every key, listed keys only, and the member check', async () => {
    const { app, room } = await world(['alice', 'bob']);
    await users(app, 'carol');
    await set(app, room, 'alice', { a: '1', b: '', __proto__x: 'p' });
    await set(app, room, 'bob', { c: '3' });
    assert.deepEqual(await all(app, room), { a: '1', b: '', __proto__x: 'p', c: '3' });
    assert.deepEqual({ ...(await suite.store.getAttributes(app, room, ['a', 'missing', 'b'])) }, { a: '1', b: '' });
    assert.deepEqual({ ...(await suite.store.getAttributes(app, room, ['missing'])) }, {});
    assert.deepEqual({ ...(await suite.store.getAttributes(app, room, ['c'], 'alice')) }, { c: '3' });
    await rejectsApi(suite.store.getAttributes(app, room, undefined, 'carol'), 401, 'unauthorized', NOT_IN_ROOM);
    await rejectsApi(suite.store.getAttributes(app, room, ['a'], 'carol'), 401, 'unauthorized', NOT_IN_ROOM);
  });

  it('getAttributesJson: the map as JSON text, escapes intact, and new text after every write', async () => {
    const { app, room } = await world(['alice', 'bob']);
    const odd = 'q"uote\\ line\nbreak / ☃ 😀 \u0001';
    const out = await set(app, room, 'alice', { a: '1', odd, '7': 'seven' });
    assert.deepEqual([[...out.successKeys].sort(), out.errorKeys], [['7', 'a', 'odd'], {}]);
    const text = await suite.store.getAttributesJson(app, room, undefined);
    assert.equal(typeof text, 'string');
    assert.deepEqual(JSON.parse(text), { a: '1', odd, '7': 'seven' });
    assert.deepEqual(
      JSON.parse(await suite.store.getAttributesJson(app, room, undefined, 'bob')),
      JSON.parse(text),
      'a member reads the same',
    );
    assert.deepEqual(JSON.parse(await suite.store.getAttributesJson(app, room, ['odd', 'missing'])), { odd });
    assert.deepEqual(JSON.parse(await suite.store.getAttributesJson(app, room, ['missing'])), {});
    await set(app, room, 'alice', { a: '2' });
    assert.deepEqual(
      JSON.parse(await suite.store.getAttributesJson(app, room, undefined)),
      { a: '2', odd, '7': 'seven' },
      'a write is seen by the next read of every key',
    );
    await del(app, room, 'alice', ['a', 'odd', '7']);
    assert.equal(await suite.store.getAttributesJson(app, room, undefined), '{}');
    await rejectsApi(suite.store.getAttributesJson(app, '424242', undefined), 404, 'resource_not_found', 'grpID 424242 does not exist!');
  });

  it('__proto__ is stored and read back as an ordinary key', async () => {
    const { app, room } = await world(['alice']);
    const out = await suite.store.setAttributes({
      appId: app,
      roomId: room,
      user: 'alice',
      forced: false,
      autoDelete: 'DELETE',
      pairs: [
        ['__proto__', 'p'],
        ['constructor', 'c'],
      ],
      limits: DEFAULT_LIMITS,
      routing: NO_WEBHOOKS,
    });
    assert.deepEqual(out.successKeys, ['__proto__', 'constructor']);
    const got = await suite.store.getAttributes(app, room, undefined);
    assert.equal(Object.hasOwn(got, '__proto__'), true);
    assert.equal(got['__proto__'], 'p');
    assert.deepEqual(Object.keys(got).sort(), ['__proto__', 'constructor']);
    const one = await suite.store.getAttributes(app, room, ['__proto__', 'toString']);
    assert.deepEqual(Object.keys(one), ['__proto__']);
  });
}
