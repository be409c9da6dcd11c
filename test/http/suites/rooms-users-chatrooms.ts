import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../../support/server.js';
import { assertError, MISSING_ROOM, roomsUsersFixture } from './rooms-users-support.js';

/** Spec section 6 (see roomsUsersFixture): creating, reading and destroying chatrooms, and their members. */
export function roomsUsersChatroomsSuite(target: Target): void {
  describe(`users and chatrooms [${target.name}]`, () => {
    const h = roomsUsersFixture(target);
    const { uniq, members, details, set, removeMember } = h;

    describe('create, read and destroy chatrooms', () => {
      it('creates a chatroom with a numeric id whose owner is a member, with default details', async () => {
        const owner = uniq('own');
        const m = uniq('mem');
        await h.fx.createUsers(owner, m);
        const startedAt = Date.now();
        const res = await h.fx.admin.call('POST', '/chatrooms', { body: { name: 'Lobby', description: 'the lobby', owner, members: [m] } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.uri, `${h.fx.server.url}/${h.fx.app.org}/${h.fx.app.app}/chatrooms`);
        assert.deepEqual(Object.keys(res.body.data), ['id']);
        const id = res.body.data.id;
        assert.equal(typeof id, 'string');
        assert.match(id, /^[0-9]+$/);
        assert.deepEqual(await members(id), [m, owner].sort());
        const d = await details(id);
        assert.deepEqual(Object.keys(d).sort(), ['affiliations_count', 'created', 'description', 'id', 'maxusers', 'name', 'owner']);
        assert.deepEqual(
          {
            id: d.id,
            name: d.name,
            description: d.description,
            owner: d.owner,
            maxusers: d.maxusers,
            affiliations_count: d.affiliations_count,
          },
          { id, name: 'Lobby', description: 'the lobby', owner, maxusers: 10000, affiliations_count: 2 },
        );
        assert.equal(typeof d.created, 'number');
        assert.ok(d.created >= startedAt - 1000 && d.created <= Date.now() + 1000, `created ${d.created}`);
        // the owner may set attributes straight away: it is a member
        await set(id, owner, { o: '1' });
      });

      it('gives every chatroom its own id and keeps an explicit maxusers', async () => {
        const owner = uniq('own');
        await h.fx.createUsers(owner);
        const a = await h.fx.admin.call('POST', '/chatrooms', { body: { name: 'a', description: '', owner, maxusers: 5 } });
        const b = await h.fx.admin.call('POST', '/chatrooms', { body: { name: 'b', description: '', owner } });
        assert.equal(a.status, 200, a.text);
        assert.equal(b.status, 200, b.text);
        assert.notEqual(a.body.data.id, b.body.data.id);
        const d = await details(a.body.data.id);
        assert.equal(d.maxusers, 5);
        assert.equal(d.affiliations_count, 1);
        assert.deepEqual(await members(a.body.data.id), [owner]);
      });

      it('answers 404 for an unknown owner or member', async () => {
        const owner = uniq('own');
        await h.fx.createUsers(owner);
        const ghost = uniq('ghost');
        const badOwner = await h.fx.admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: ghost } });
        assert.equal(badOwner.status, 404, badOwner.text);
        assert.equal(badOwner.body.error_description, `username ${ghost} doesn't exist!`);
        const badMember = await h.fx.admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner, members: [ghost] } });
        assert.equal(badMember.status, 404, badMember.text);
        assert.equal(badMember.body.error_description, `username ${ghost} doesn't exist!`);
      });

      it('destroys a chatroom; then details, members and attribute calls answer 404', async () => {
        const owner = uniq('own');
        await h.fx.createUsers(owner);
        const room = await h.fx.createRoom(owner);
        await set(room, owner, { k: 'v' }, 'NO_DELETE');
        const res = await h.fx.admin.call('DELETE', `/chatrooms/${room}`);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.action, 'delete');
        assert.deepEqual(res.body.data, { success: true, id: room });
        const gone = `grpID ${room} does not exist!`;
        assertError(await h.fx.admin.call('GET', `/chatrooms/${room}`), 404, 'resource_not_found', gone);
        assertError(await h.fx.admin.call('GET', `/chatrooms/${room}/users`), 404, 'resource_not_found', gone);
        assertError(await h.fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} }), 404, 'resource_not_found', gone);
        assertError(
          await h.fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}`, { body: { metaData: { k: 'w' } } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await h.fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}/forced`, { body: { metaData: { k: 'w' } } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await h.fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/${owner}`, { body: { keys: ['k'] } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await h.fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { body: { keys: ['k'] } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(await h.fx.admin.call('DELETE', `/chatrooms/${room}`), 404, 'resource_not_found', gone);
      });

      it('answers 404 grpID for details of a chatroom that never existed', async () => {
        const res = await h.fx.admin.call('GET', `/chatrooms/${MISSING_ROOM}`);
        assertError(res, 404, 'resource_not_found', `grpID ${MISSING_ROOM} does not exist!`);
      });
    });

    describe('chatroom membership', () => {
      it('adds one member', async () => {
        const [owner, u] = [uniq('own'), uniq('join')];
        await h.fx.createUsers(owner, u);
        const room = await h.fx.createRoom(owner);
        const res = await h.fx.admin.call('POST', `/chatrooms/${room}/users/${u}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.data, { result: true, action: 'add_member', id: room, user: u });
        assert.deepEqual(await members(room), [owner, u].sort());
        assert.equal((await details(room)).affiliations_count, 2);
        await set(room, u, { mine: 'x' });
      });

      it('answers 404 when adding a user that does not exist', async () => {
        const owner = uniq('own');
        await h.fx.createUsers(owner);
        const room = await h.fx.createRoom(owner);
        const ghost = uniq('ghost');
        const one = await h.fx.admin.call('POST', `/chatrooms/${room}/users/${ghost}`);
        assert.equal(one.status, 404, one.text);
        assert.equal(one.body.error_description, `username ${ghost} doesn't exist!`);
        assert.deepEqual(await members(room), [owner]);
      });

      it('adds several members and lists only the new ones in newmembers', async () => {
        const [owner, old, n1, n2] = [uniq('own'), uniq('old'), uniq('new'), uniq('new')];
        await h.fx.createUsers(owner, old, n1, n2);
        const room = await h.fx.createRoom(owner, [old]);
        const res = await h.fx.admin.call('POST', `/chatrooms/${room}/users`, { body: { usernames: [old, n1, owner, n2] } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.data.action, 'add_member');
        assert.equal(res.body.data.id, room);
        assert.deepEqual([...res.body.data.newmembers].sort(), [n1, n2].sort());
        assert.deepEqual(await members(room), [owner, old, n1, n2].sort());
        assert.equal((await details(room)).affiliations_count, 4);
      });

      it('refuses to add past maxusers with 403 forbidden_op and keeps the members', async () => {
        const [owner, a, b, c] = [uniq('own'), uniq('fill'), uniq('fill'), uniq('fill')];
        await h.fx.createUsers(owner, a, b, c);
        const created = await h.fx.admin.call('POST', '/chatrooms', {
          body: { name: 'small', description: '', owner, maxusers: 3, members: [a] },
        });
        assert.equal(created.status, 200, created.text);
        const room = created.body.data.id as string;
        const many = await h.fx.admin.call('POST', `/chatrooms/${room}/users`, { body: { usernames: [b, c] } });
        assertError(many, 403, 'forbidden_op');
        assert.deepEqual(await members(room), [owner, a].sort());
        const ok = await h.fx.admin.call('POST', `/chatrooms/${room}/users/${b}`);
        assert.equal(ok.status, 200, ok.text);
        const full = await h.fx.admin.call('POST', `/chatrooms/${room}/users/${c}`);
        assertError(full, 403, 'forbidden_op');
        assert.deepEqual(await members(room), [owner, a, b].sort());
        assert.equal((await details(room)).affiliations_count, 3);
      });

      it('removes one member, who then may no longer set attributes', async () => {
        const [owner, u] = [uniq('own'), uniq('leave')];
        await h.fx.createUsers(owner, u);
        const room = await h.fx.createRoom(owner, [u]);
        const res = await removeMember(room, u);
        assert.equal(res.body.action, 'delete');
        assert.deepEqual(res.body.data, { result: true, action: 'remove_member', user: u, id: room });
        assert.deepEqual(await members(room), [owner]);
        const refused = await h.fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData: { k: 'v' } } });
        assertError(refused, 401, 'unauthorized', 'user is not in chatroom');
      });

      it('answers 400 forbidden_op when removing a user that is not a member', async () => {
        const [owner, out] = [uniq('own'), uniq('out')];
        await h.fx.createUsers(owner, out);
        const room = await h.fx.createRoom(owner);
        const res = await h.fx.admin.call('DELETE', `/chatrooms/${room}/users/${out}`);
        assertError(res, 400, 'forbidden_op', `users [${out}] are not members of this group!`);
        assert.deepEqual(await members(room), [owner]);
      });

      it('removes several members and reports each one, with a reason for a non-member', async () => {
        const [owner, u1, u2, u3, out] = [uniq('own'), uniq('m'), uniq('m'), uniq('m'), uniq('out')];
        await h.fx.createUsers(owner, u1, u2, u3, out);
        const room = await h.fx.createRoom(owner, [u1, u2, u3]);
        const res = await removeMember(room, `${u1},${u2},${out}`);
        const data = res.body.data;
        assert.ok(Array.isArray(data), res.text);
        assert.equal(data.length, 3);
        const byUser = new Map<string, Record<string, unknown>>(data.map((r: Record<string, unknown>) => [r.user as string, r]));
        for (const u of [u1, u2]) {
          const r = byUser.get(u)!;
          assert.equal(r.result, true, JSON.stringify(r));
          assert.equal(r.action, 'remove_member');
          assert.equal(r.id, room);
          assert.equal(r.reason, undefined);
        }
        const bad = byUser.get(out)!;
        assert.equal(bad.result, false, JSON.stringify(bad));
        assert.equal(bad.action, 'remove_member');
        assert.equal(bad.id, room);
        assert.equal(typeof bad.reason, 'string');
        assert.ok((bad.reason as string).length > 0);
        assert.deepEqual(await members(room), [owner, u3].sort());
      });

      it('lists members page by page with the owner first and count at the top level', async () => {
        const owner = uniq('own');
        const ms = [uniq('p'), uniq('p'), uniq('p'), uniq('p')];
        await h.fx.createUsers(owner, ...ms);
        const room = await h.fx.createRoom(owner, ms);
        const all = await h.fx.admin.call('GET', `/chatrooms/${room}/users`);
        assert.equal(all.status, 200, all.text);
        assert.equal(all.body.action, 'get');
        assert.equal(all.body.count, 5);
        assert.deepEqual(all.body.data[0], { owner });
        assert.deepEqual(
          all.body.data.slice(1).map((e: Record<string, string>) => Object.keys(e)),
          [['member'], ['member'], ['member'], ['member']],
        );
        assert.deepEqual(
          all.body.data
            .slice(1)
            .map((e: { member: string }) => e.member)
            .sort(),
          [...ms].sort(),
        );

        const seen: Array<Record<string, string>> = [];
        for (const [pagenum, size] of [
          [1, 2],
          [2, 2],
          [3, 1],
          [4, 0],
        ] as const) {
          const page = await h.fx.admin.call('GET', `/chatrooms/${room}/users?pagenum=${pagenum}&pagesize=2`);
          assert.equal(page.status, 200, page.text);
          assert.equal(page.body.data.length, size, `page ${pagenum}: ${page.text}`);
          assert.equal(page.body.count, size);
          seen.push(...page.body.data);
        }
        assert.deepEqual(seen[0], { owner });
        assert.deepEqual(seen, all.body.data);
      });
    });
  });
}
