import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { type Conformance, QUOTA } from './conformance-support.js';

/** The limits of the store conformance suite: attributes per room and the app's byte quota, over calls, rooms and concurrent writes. */
export function limitTests(suite: Conformance): void {
  const { newApp, users, world, set, del, all } = suite;

  it('the per-room limit holds over several calls and counts only new keys', async () => {
    const limits: Limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: 5 };
    const { app, room } = await world(['alice', 'bob']);
    assert.deepEqual(await set(app, room, 'alice', { k1: '1', k2: '2', k3: '3' }, { limits }), {
      successKeys: ['k1', 'k2', 'k3'],
      errorKeys: {},
    });
    const full = 'size of metadata for this single chatroom exceeds the user defined limit 5';
    assert.deepEqual(await set(app, room, 'bob', { k4: '4', k1: 'x', k5: '5', k6: '6' }, { limits }), {
      successKeys: ['k4', 'k5'],
      errorKeys: { k1: "key 'k1' is not part of you", k6: full },
    });
    assert.deepEqual(await set(app, room, 'alice', { k1: 'again', k7: '7' }, { limits }), {
      successKeys: ['k1'],
      errorKeys: { k7: full },
    });
    assert.equal(Object.keys(await all(app, room)).length, 5);
    await del(app, room, 'bob', ['k4']);
    assert.deepEqual(await set(app, room, 'alice', { k7: '7', k8: '8' }, { limits }), { successKeys: ['k7'], errorKeys: { k8: full } });
    // the limit is per room: another room of the same app starts empty
    const other = (await suite.store.createRoom(app, { name: 'o', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    assert.deepEqual((await set(app, other, 'alice', { k8: '8' }, { limits })).successKeys, ['k8']);
    assert.deepEqual((await set(app, room, 'alice', { k9: '9' })).errorKeys, {}, 'with the default limit of 100 it fits');
  });

  it('the app byte quota holds across calls and rooms and is freed by delete, removal, user deletion and destroy', async () => {
    // every pair below is 10 bytes (UTF-8 key + value), the quota is 30
    const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: 30 };
    const app = newApp();
    await users(app, 'alice', 'bob', 'carol');
    const mk = async (members: string[]) =>
      (await suite.store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members })).id;
    const r1 = await mk(['bob', 'carol']);
    const r2 = await mk(['bob']);
    const ok = (keys: string[]) => ({ successKeys: keys, errorKeys: {} });
    const refused = (k: string) => ({ successKeys: [], errorKeys: { [k]: QUOTA } });
    assert.deepEqual(await set(app, r1, 'alice', { a1: '12345678' }, { limits }), ok(['a1']));
    assert.deepEqual(await set(app, r2, 'bob', { b1: '😀😀' }, { limits }), ok(['b1'])); // 2 + 8 bytes
    assert.deepEqual(await set(app, r1, 'bob', { b2: '123456789' }, { limits }), refused('b2'), '31 bytes');
    assert.deepEqual(await set(app, r1, 'bob', { b2: '12345678' }, { limits }), ok(['b2']), 'exactly 30');
    assert.deepEqual(await set(app, r1, 'carol', { c: '' }, { limits }), refused('c'));
    // an overwrite counts the difference: shrinking a1 by 1 byte makes room for exactly 1 byte
    assert.deepEqual(await set(app, r1, 'alice', { a1: '1234567' }, { limits }), ok(['a1']));
    assert.deepEqual(await set(app, r1, 'carol', { cc: '' }, { limits }), refused('cc'), '2 bytes do not fit in 1');
    assert.deepEqual(await set(app, r1, 'carol', { c: '' }, { limits }), ok(['c']), 'now exactly 30');
    // delete frees
    assert.deepEqual(await del(app, r1, 'carol', ['c']), ok(['c']));
    assert.deepEqual(await del(app, r1, 'alice', ['a1']), ok(['a1']));
    assert.deepEqual(await set(app, r2, 'alice', { a2: '12345678', a3: '' }, { limits }), {
      successKeys: ['a2'],
      errorKeys: { a3: QUOTA },
    });
    // member removal frees its DELETE keys (b2 in r1), not its NO_DELETE ones
    assert.deepEqual(await set(app, r1, 'bob', { b2: '1234567' }, { limits, autoDelete: 'NO_DELETE' }), ok(['b2']));
    await suite.store.removeMembers(app, r1, ['bob'], NO_WEBHOOKS);
    assert.deepEqual(await set(app, r1, 'alice', { a4: '' }, { limits }), refused('a4'), 'b2 was NO_DELETE: still 29 + 2');
    await suite.store.removeMembers(app, r2, ['bob'], NO_WEBHOOKS); // frees b1 (10)
    assert.deepEqual(await set(app, r1, 'alice', { a4: '12345678' }, { limits }), ok(['a4']));
    // user deletion frees (carol is still a member of r1)
    assert.deepEqual(await del(app, r1, 'admin', ['a4'], { forced: true, checkMembership: false }), ok(['a4']));
    assert.deepEqual(await set(app, r1, 'carol', { c1: '12345678' }, { limits }), ok(['c1']));
    await suite.store.deleteUser(app, 'carol', NO_WEBHOOKS);
    assert.deepEqual(await set(app, r1, 'alice', { a5: '12345678' }, { limits }), ok(['a5']));
    // now: b2 (9, r1), a2 (10, r2), a5 (10, r1) = 29; destroying r2 frees a2
    assert.deepEqual(await set(app, r1, 'alice', { a6: '12' }, { limits }), refused('a6'));
    assert.equal(await suite.store.destroyRoom(app, r2, NO_WEBHOOKS), true);
    assert.deepEqual(await set(app, r1, 'alice', { a6: '12345678' }, { limits }), ok(['a6']));
    // the quota is per app
    const other = newApp();
    await users(other, 'x');
    const ro = (await suite.store.createRoom(other, { name: 'r', description: '', owner: 'x', maxusers: 10, members: [] })).id;
    assert.deepEqual(await set(other, ro, 'x', { x1: '12345678', x2: '12345678', x3: '12345678' }, { limits }), ok(['x1', 'x2', 'x3']));
  });

  it('the byte quota counts exactly what is stored after concurrent writes to one room (calls planned again on a conflict)', async () => {
    const names = Array.from({ length: 16 }, (_, i) => `m${i}`);
    const { app, room } = await world(names);
    // Every member writes its own keys at once, growing, shrinking and deleting them: on Redis the
    // room moves under most calls, which are then planned again.
    await Promise.all(
      names.map(async (m, i) => {
        for (let round = 0; round < 6; round++) {
          await set(app, room, m, { [`${m}.k`]: 'x'.repeat((i * 7 + round * 13) % 40), [`${m}.${round % 2}`]: 'é'.repeat(round) });
          if (round % 3 === 2) await del(app, room, m, [`${m}.0`]);
        }
      }),
    );
    const stored = (await suite.store.listAttributes(app, room)).reduce(
      (sum, a) => sum + Buffer.byteLength(a.key) + Buffer.byteLength(a.value),
      0,
    );
    assert.ok(stored > 0);
    // With the quota at what is stored plus 3, 3 more bytes fit and a 4th does not.
    const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: stored + 3 };
    assert.deepEqual(await set(app, room, 'm0', { abc: '' }, { limits }), { successKeys: ['abc'], errorKeys: {} });
    assert.deepEqual(await set(app, room, 'm0', { d: '' }, { limits }), { successKeys: [], errorKeys: { d: QUOTA } });
  });
}
