import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { roomsUsersFixture } from './rooms-users-support.js';

/** The autoDelete rules of spec section 5 (see roomsUsersFixture): what leaving members, deleted users and destroyed rooms take with them. */
export function roomsUsersAutoDeleteSuite(target: Target): void {
  describe(`users and chatrooms [${target.name}]`, () => {
    const h = roomsUsersFixture(target);
    const { uniq, assertNoUser, members, set, attrs, removeMember } = h;

    describe('autoDelete when members leave', () => {
      it('removing a member deletes its DELETE keys (upper, lower case and default) and keeps NO_DELETE and others', async () => {
        const [owner, a, b] = [uniq('own'), uniq('ada'), uniq('bob')];
        await h.fx.createUsers(owner, a, b);
        const room = await h.fx.createRoom(owner, [a, b]);
        await set(room, a, { aUpper: '1' }, 'DELETE');
        await set(room, a, { aLower: '2' }, 'delete');
        await set(room, a, { aDefault: '3' });
        await set(room, a, { aKeep: '4' }, 'NO_DELETE');
        await set(room, b, { bKey: '5' }, 'DELETE');
        await set(room, owner, { oKey: '6' });
        await removeMember(room, a);
        assert.deepEqual(await attrs(room), { aKeep: '4', bKey: '5', oKey: '6' });
      });

      it('lower-case no_delete keeps the key after removal', async () => {
        const [owner, a] = [uniq('own'), uniq('ada')];
        await h.fx.createUsers(owner, a);
        const room = await h.fx.createRoom(owner, [a]);
        await set(room, a, { kept: 'x' }, 'no_delete');
        await set(room, a, { gone: 'y' }, 'DELETE');
        await removeMember(room, a);
        assert.deepEqual(await attrs(room), { kept: 'x' });
      });

      it("removing several members at once deletes each one's DELETE keys", async () => {
        const [owner, a, b, c] = [uniq('own'), uniq('ada'), uniq('bob'), uniq('cy')];
        await h.fx.createUsers(owner, a, b, c);
        const room = await h.fx.createRoom(owner, [a, b, c]);
        await set(room, a, { a1: '1', a2: '2' }, 'DELETE');
        await set(room, a, { aKeep: '3' }, 'NO_DELETE');
        await set(room, b, { b1: '4' });
        await set(room, c, { c1: '5' });
        await removeMember(room, `${a},${b}`);
        assert.deepEqual(await attrs(room), { aKeep: '3', c1: '5' });
      });

      it('a member re-added after removal does not get its DELETE keys back', async () => {
        const [owner, a] = [uniq('own'), uniq('ada')];
        await h.fx.createUsers(owner, a);
        const room = await h.fx.createRoom(owner, [a]);
        await set(room, a, { seat: 'a' });
        await removeMember(room, a);
        const add = await h.fx.admin.call('POST', `/chatrooms/${room}/users/${a}`);
        assert.equal(add.status, 200, add.text);
        assert.deepEqual(await attrs(room), {});
      });

      it('deleting a user deletes its DELETE keys in every room it was in and keeps its NO_DELETE keys', async () => {
        const [owner, a, b] = [uniq('own'), uniq('ada'), uniq('bob')];
        await h.fx.createUsers(owner, a, b);
        const r1 = await h.fx.createRoom(owner, [a, b]);
        const r2 = await h.fx.createRoom(owner, [a]);
        const r3 = await h.fx.createRoom(owner, [b]);
        await set(r1, a, { a1: '1' });
        await set(r1, a, { aKeep: '2' }, 'NO_DELETE');
        await set(r1, b, { b1: '3' });
        await set(r2, a, { a2: '4' }, 'delete');
        await set(r2, owner, { o2: '5' });
        await set(r3, b, { b3: '6' });
        const res = await h.fx.admin.call('DELETE', `/users/${a}`);
        assert.equal(res.status, 200, res.text);
        await assertNoUser(a);
        assert.deepEqual(await attrs(r1), { aKeep: '2', b1: '3' });
        assert.deepEqual(await attrs(r2), { o2: '5' });
        assert.deepEqual(await attrs(r3), { b3: '6' });
        assert.deepEqual(await members(r1), [owner, b].sort());
        assert.deepEqual(await members(r2), [owner]);
      });

      it('forced set hands the DELETE flag to the new owner: NO_DELETE by alice, DELETE by bob, bob removed -> gone', async () => {
        const [owner, alice, bob] = [uniq('own'), uniq('alice'), uniq('bob')];
        await h.fx.createUsers(owner, alice, bob);
        const room = await h.fx.createRoom(owner, [alice, bob]);
        await set(room, alice, { k: 'alice' }, 'NO_DELETE');
        await set(room, alice, { other: 'x' }, 'NO_DELETE');
        await set(room, bob, { k: 'bob' }, 'DELETE', true);
        assert.deepEqual(await attrs(room), { k: 'bob', other: 'x' });
        await removeMember(room, alice);
        assert.deepEqual(await attrs(room), { k: 'bob', other: 'x' }, 'alice no longer owns k');
        await removeMember(room, bob);
        assert.deepEqual(await attrs(room), { other: 'x' });
      });

      it('forced set hands the NO_DELETE flag to the new owner: DELETE by alice, NO_DELETE by bob, both removed -> kept', async () => {
        const [owner, alice, bob] = [uniq('own'), uniq('alice'), uniq('bob')];
        await h.fx.createUsers(owner, alice, bob);
        const room = await h.fx.createRoom(owner, [alice, bob]);
        await set(room, alice, { k: 'alice' }, 'DELETE');
        await set(room, bob, { k: 'bob' }, 'NO_DELETE', true);
        await removeMember(room, alice);
        assert.deepEqual(await attrs(room), { k: 'bob' });
        await removeMember(room, bob);
        assert.deepEqual(await attrs(room), { k: 'bob' });
      });

      it('forced set with the default flag makes a key DELETE for its new owner, applied on user deletion', async () => {
        const [owner, alice, bob] = [uniq('own'), uniq('alice'), uniq('bob')];
        await h.fx.createUsers(owner, alice, bob);
        const room = await h.fx.createRoom(owner, [alice, bob]);
        await set(room, alice, { k: 'alice' }, 'NO_DELETE');
        await set(room, bob, { k: 'bob' }, undefined, true);
        const res = await h.fx.admin.call('DELETE', `/users/${bob}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(await attrs(room), {});
      });
    });
  });

  describe(`chatroom destruction frees its attributes [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      // Room for about two 20-byte attributes in the whole app: a key left behind would block the next set.
      fx = await startFixture(target, { maxAppBytes: 50 });
      await fx.createUsers('owner', 'alice');
    });
    after(() => fx.close());

    it('destroying a room removes every attribute, NO_DELETE ones included', async () => {
      const first = await fx.createRoom('owner', ['alice']);
      const put = (room: string, user: string, metaData: Record<string, string>, autoDelete: string) =>
        fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body: { metaData, autoDelete } });
      const a = await put(first, 'alice', { keep: 'x'.repeat(16) }, 'NO_DELETE');
      const o = await put(first, 'owner', { mine: 'y'.repeat(16) }, 'DELETE');
      assert.deepEqual(
        [a.body.data, o.body.data],
        [
          { successKeys: ['keep'], errorKeys: {} },
          { successKeys: ['mine'], errorKeys: {} },
        ],
      );

      const second = await fx.createRoom('owner', ['alice']);
      const blocked = await put(second, 'alice', { next: 'z'.repeat(16) }, 'NO_DELETE');
      assert.deepEqual(blocked.body.data, {
        successKeys: [],
        errorKeys: { next: 'total size of chatroom metadata for this app exceeds the user defined limit' },
      });

      const destroyed = await fx.admin.call('DELETE', `/chatrooms/${first}`);
      assert.deepEqual(destroyed.body.data, { success: true, id: first });
      const res = await put(second, 'alice', { next: 'z'.repeat(16), more: 'w'.repeat(16) }, 'NO_DELETE');
      assert.deepEqual(res.body.data, { successKeys: ['next', 'more'], errorKeys: {} });
      const all = await fx.admin.call('POST', `/metadata/chatroom/${second}`, { body: {} });
      assert.deepEqual(all.body.data, { next: 'z'.repeat(16), more: 'w'.repeat(16) });
    });
  });
}
