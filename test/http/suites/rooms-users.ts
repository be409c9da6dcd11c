import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { at } from '../../support/at.js';
import type { Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MISSING_ROOM = '987654321987';

function assertError(res: Reply, status: number, error: string, description?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.error, error, res.text);
  if (description !== undefined) assert.equal(res.body.error_description, description, res.text);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

/** Spec section 6 (users and chatrooms, app tokens) and the autoDelete rules of section 5. */
export function roomsUsersSuite(target: Target): void {
  describe(`users and chatrooms [${target.name}]`, () => {
    let fx: Fixture;
    let seq = 0;
    /** A fresh lower-case name per call, so tests sharing the server never collide. */
    const uniq = (prefix: string) => `${prefix}${++seq}`;

    const register = (body: unknown) => fx.admin.call('POST', '/users', { body });
    const getUser = (u: string) => fx.admin.call('GET', `/users/${u}`);
    const assertNoUser = async (u: string) => {
      const res = await getUser(u);
      assert.equal(res.status, 404, `user ${u} should not exist: ${res.text}`);
    };
    const members = async (room: string): Promise<string[]> => {
      const res = await fx.admin.call('GET', `/chatrooms/${room}/users`);
      assert.equal(res.status, 200, res.text);
      return (res.body.data as Array<Record<string, string>>).map((e) => e.owner ?? e.member!).sort();
    };
    const details = async (room: string) => {
      const res = await fx.admin.call('GET', `/chatrooms/${room}`);
      assert.equal(res.status, 200, res.text);
      return res.body.data[0];
    };
    const set = async (room: string, user: string, metaData: Record<string, string>, autoDelete?: string, forced = false) => {
      const body = autoDelete === undefined ? { metaData } : { metaData, autoDelete };
      const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.data, { successKeys: Object.keys(metaData), errorKeys: {} });
    };
    const attrs = async (room: string): Promise<Record<string, string>> => {
      const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} });
      assert.equal(res.status, 200, res.text);
      return res.body.data;
    };
    const removeMember = async (room: string, users: string) => {
      const res = await fx.admin.call('DELETE', `/chatrooms/${room}/users/${users}`);
      assert.equal(res.status, 200, res.text);
      return res;
    };

    before(async () => {
      fx = await startFixture(target);
    });
    after(() => fx.close());

    describe('register and get users', () => {
      it('registers one user with the entities shape and reads it back', async () => {
        const name = uniq('solo');
        const startedAt = Date.now();
        const res = await register({ username: name, password: 'pw-123456' });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.action, 'post');
        assert.equal(res.body.uri, `${fx.server.url}/${fx.app.org}/${fx.app.app}/users`);
        assert.equal(res.body.entities.length, 1);
        const e = res.body.entities[0];
        assert.deepEqual(Object.keys(e).sort(), ['activated', 'created', 'modified', 'type', 'username', 'uuid']);
        assert.match(e.uuid, UUID);
        assert.equal(e.type, 'user');
        assert.equal(e.username, name);
        assert.equal(e.activated, true);
        assert.equal(typeof e.created, 'number');
        assert.equal(typeof e.modified, 'number');
        assert.ok(e.created >= startedAt - 1000 && e.created <= Date.now() + 1000, `created ${e.created}`);
        const got = await getUser(name);
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.action, 'get');
        assert.deepEqual(got.body.entities, [e]);
      });

      it('registers an array of 60 users in one call', async () => {
        const names = Array.from({ length: 60 }, () => uniq('bulk'));
        const res = await register(names.map((username) => ({ username: username.toUpperCase(), password: 'pw-123456' })));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.entities.length, 60);
        assert.deepEqual(
          res.body.entities.map((e: { username: string }) => e.username),
          names,
        );
        assert.equal(new Set(res.body.entities.map((e: { uuid: string }) => e.uuid)).size, 60);
        for (const e of res.body.entities) {
          assert.equal(e.type, 'user');
          assert.equal(e.activated, true);
          assert.match(e.uuid, UUID);
        }
        for (const n of [at(names, 0), at(names, 29), at(names, 59)]) {
          const got = await getUser(n);
          assert.equal(got.status, 200, got.text);
          assert.equal(got.body.entities[0].username, n);
        }
      });

      it('refuses more than 60 users in one call and creates none', async () => {
        const names = Array.from({ length: 61 }, () => uniq('over'));
        const res = await register(names.map((username) => ({ username, password: 'pw-123456' })));
        assertError(res, 400, 'illegal_argument');
        await assertNoUser(at(names, 0));
        await assertNoUser(at(names, 60));
      });

      it('fails the whole array on a duplicate inside it, whatever its case', async () => {
        const a = uniq('dupa');
        const b = uniq('dupb');
        const res = await register([
          { username: a, password: 'pw-123456' },
          { username: b, password: 'pw-123456' },
          { username: b.toUpperCase(), password: 'pw-123456' },
        ]);
        assertError(res, 400, 'duplicate_unique_property_exists');
        await assertNoUser(a);
        await assertNoUser(b);
      });

      it('fails the whole array on a duplicate of an existing user', async () => {
        const existing = uniq('exist');
        await fx.createUsers(existing);
        const first = uniq('fresh');
        const last = uniq('fresh');
        const res = await register([
          { username: first, password: 'pw-123456' },
          { username: existing, password: 'pw-123456' },
          { username: last, password: 'pw-123456' },
        ]);
        assertError(res, 400, 'duplicate_unique_property_exists');
        await assertNoUser(first);
        await assertNoUser(last);
        assert.equal((await getUser(existing)).status, 200);
      });

      it('fails the whole array on one bad username', async () => {
        const first = uniq('okay');
        const last = uniq('okay');
        const res = await register([
          { username: first, password: 'pw-123456' },
          { username: 'not valid!', password: 'pw-123456' },
          { username: last, password: 'pw-123456' },
        ]);
        assertError(res, 400, 'illegal_argument');
        await assertNoUser(first);
        await assertNoUser(last);
      });

      it('treats usernames case-insensitively and stores them lower-case', async () => {
        const name = uniq('dave');
        const mixed = `D${name.slice(1)}`;
        const res = await register({ username: mixed, password: 'pw-123456' });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.entities[0].username, name);
        const got = await getUser(name.toUpperCase());
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.entities[0].username, name);
        assert.equal(got.body.entities[0].uuid, res.body.entities[0].uuid);
        const again = await register({ username: name.toUpperCase(), password: 'pw-123456' });
        assertError(again, 400, 'duplicate_unique_property_exists');
      });

      it('accepts the full username alphabet up to 64 characters', async () => {
        const dotted = `${uniq('a.b-c_d')}`;
        const long = `${uniq('l')}`.padEnd(64, '9');
        const res = await register([
          { username: dotted, password: 'pw-123456' },
          { username: long, password: 'pw-123456' },
        ]);
        assert.equal(res.status, 200, res.text);
        assert.equal((await getUser(dotted)).status, 200);
        assert.equal((await getUser(long)).status, 200);
      });

      it('refuses usernames outside 1-64 of a-z 0-9 _ - . with 400 illegal_argument', async () => {
        for (const username of ['has space', 'a@b', 'caf\u00e9', 'semi;colon', 'plus+', '', 'x'.repeat(65)]) {
          const res = await register({ username, password: 'pw-123456' });
          assertError(res, 400, 'illegal_argument');
          assert.equal(typeof res.body.error_description, 'string');
        }
      });

      it('answers 404 service_resource_not_found for an unknown user', async () => {
        const res = await getUser(uniq('nobody'));
        assertError(res, 404, 'service_resource_not_found', 'Service resource not found');
      });
    });

    describe('create, read and destroy chatrooms', () => {
      it('creates a chatroom with a numeric id whose owner is a member, with default details', async () => {
        const owner = uniq('own');
        const m = uniq('mem');
        await fx.createUsers(owner, m);
        const startedAt = Date.now();
        const res = await fx.admin.call('POST', '/chatrooms', { body: { name: 'Lobby', description: 'the lobby', owner, members: [m] } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.uri, `${fx.server.url}/${fx.app.org}/${fx.app.app}/chatrooms`);
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
        await fx.createUsers(owner);
        const a = await fx.admin.call('POST', '/chatrooms', { body: { name: 'a', description: '', owner, maxusers: 5 } });
        const b = await fx.admin.call('POST', '/chatrooms', { body: { name: 'b', description: '', owner } });
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
        await fx.createUsers(owner);
        const ghost = uniq('ghost');
        const badOwner = await fx.admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: ghost } });
        assert.equal(badOwner.status, 404, badOwner.text);
        assert.equal(badOwner.body.error_description, `username ${ghost} doesn't exist!`);
        const badMember = await fx.admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner, members: [ghost] } });
        assert.equal(badMember.status, 404, badMember.text);
        assert.equal(badMember.body.error_description, `username ${ghost} doesn't exist!`);
      });

      it('destroys a chatroom; then details, members and attribute calls answer 404', async () => {
        const owner = uniq('own');
        await fx.createUsers(owner);
        const room = await fx.createRoom(owner);
        await set(room, owner, { k: 'v' }, 'NO_DELETE');
        const res = await fx.admin.call('DELETE', `/chatrooms/${room}`);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.action, 'delete');
        assert.deepEqual(res.body.data, { success: true, id: room });
        const gone = `grpID ${room} does not exist!`;
        assertError(await fx.admin.call('GET', `/chatrooms/${room}`), 404, 'resource_not_found', gone);
        assertError(await fx.admin.call('GET', `/chatrooms/${room}/users`), 404, 'resource_not_found', gone);
        assertError(await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} }), 404, 'resource_not_found', gone);
        assertError(
          await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}`, { body: { metaData: { k: 'w' } } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}/forced`, { body: { metaData: { k: 'w' } } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/${owner}`, { body: { keys: ['k'] } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(
          await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { body: { keys: ['k'] } }),
          404,
          'resource_not_found',
          gone,
        );
        assertError(await fx.admin.call('DELETE', `/chatrooms/${room}`), 404, 'resource_not_found', gone);
      });

      it('answers 404 grpID for details of a chatroom that never existed', async () => {
        const res = await fx.admin.call('GET', `/chatrooms/${MISSING_ROOM}`);
        assertError(res, 404, 'resource_not_found', `grpID ${MISSING_ROOM} does not exist!`);
      });
    });

    describe('chatroom membership', () => {
      it('adds one member', async () => {
        const [owner, u] = [uniq('own'), uniq('join')];
        await fx.createUsers(owner, u);
        const room = await fx.createRoom(owner);
        const res = await fx.admin.call('POST', `/chatrooms/${room}/users/${u}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.data, { result: true, action: 'add_member', id: room, user: u });
        assert.deepEqual(await members(room), [owner, u].sort());
        assert.equal((await details(room)).affiliations_count, 2);
        await set(room, u, { mine: 'x' });
      });

      it('answers 404 when adding a user that does not exist', async () => {
        const owner = uniq('own');
        await fx.createUsers(owner);
        const room = await fx.createRoom(owner);
        const ghost = uniq('ghost');
        const one = await fx.admin.call('POST', `/chatrooms/${room}/users/${ghost}`);
        assert.equal(one.status, 404, one.text);
        assert.equal(one.body.error_description, `username ${ghost} doesn't exist!`);
        assert.deepEqual(await members(room), [owner]);
      });

      it('adds several members and lists only the new ones in newmembers', async () => {
        const [owner, old, n1, n2] = [uniq('own'), uniq('old'), uniq('new'), uniq('new')];
        await fx.createUsers(owner, old, n1, n2);
        const room = await fx.createRoom(owner, [old]);
        const res = await fx.admin.call('POST', `/chatrooms/${room}/users`, { body: { usernames: [old, n1, owner, n2] } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.data.action, 'add_member');
        assert.equal(res.body.data.id, room);
        assert.deepEqual([...res.body.data.newmembers].sort(), [n1, n2].sort());
        assert.deepEqual(await members(room), [owner, old, n1, n2].sort());
        assert.equal((await details(room)).affiliations_count, 4);
      });

      it('refuses to add past maxusers with 403 forbidden_op and keeps the members', async () => {
        const [owner, a, b, c] = [uniq('own'), uniq('fill'), uniq('fill'), uniq('fill')];
        await fx.createUsers(owner, a, b, c);
        const created = await fx.admin.call('POST', '/chatrooms', {
          body: { name: 'small', description: '', owner, maxusers: 3, members: [a] },
        });
        assert.equal(created.status, 200, created.text);
        const room = created.body.data.id as string;
        const many = await fx.admin.call('POST', `/chatrooms/${room}/users`, { body: { usernames: [b, c] } });
        assertError(many, 403, 'forbidden_op');
        assert.deepEqual(await members(room), [owner, a].sort());
        const ok = await fx.admin.call('POST', `/chatrooms/${room}/users/${b}`);
        assert.equal(ok.status, 200, ok.text);
        const full = await fx.admin.call('POST', `/chatrooms/${room}/users/${c}`);
        assertError(full, 403, 'forbidden_op');
        assert.deepEqual(await members(room), [owner, a, b].sort());
        assert.equal((await details(room)).affiliations_count, 3);
      });

      it('removes one member, who then may no longer set attributes', async () => {
        const [owner, u] = [uniq('own'), uniq('leave')];
        await fx.createUsers(owner, u);
        const room = await fx.createRoom(owner, [u]);
        const res = await removeMember(room, u);
        assert.equal(res.body.action, 'delete');
        assert.deepEqual(res.body.data, { result: true, action: 'remove_member', user: u, id: room });
        assert.deepEqual(await members(room), [owner]);
        const refused = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData: { k: 'v' } } });
        assertError(refused, 401, 'unauthorized', 'user is not in chatroom');
      });

      it('answers 400 forbidden_op when removing a user that is not a member', async () => {
        const [owner, out] = [uniq('own'), uniq('out')];
        await fx.createUsers(owner, out);
        const room = await fx.createRoom(owner);
        const res = await fx.admin.call('DELETE', `/chatrooms/${room}/users/${out}`);
        assertError(res, 400, 'forbidden_op', `users [${out}] are not members of this group!`);
        assert.deepEqual(await members(room), [owner]);
      });

      it('removes several members and reports each one, with a reason for a non-member', async () => {
        const [owner, u1, u2, u3, out] = [uniq('own'), uniq('m'), uniq('m'), uniq('m'), uniq('out')];
        await fx.createUsers(owner, u1, u2, u3, out);
        const room = await fx.createRoom(owner, [u1, u2, u3]);
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
        await fx.createUsers(owner, ...ms);
        const room = await fx.createRoom(owner, ms);
        const all = await fx.admin.call('GET', `/chatrooms/${room}/users`);
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
          const page = await fx.admin.call('GET', `/chatrooms/${room}/users?pagenum=${pagenum}&pagesize=2`);
          assert.equal(page.status, 200, page.text);
          assert.equal(page.body.data.length, size, `page ${pagenum}: ${page.text}`);
          assert.equal(page.body.count, size);
          seen.push(...page.body.data);
        }
        assert.deepEqual(seen[0], { owner });
        assert.deepEqual(seen, all.body.data);
      });
    });

    describe('autoDelete when members leave', () => {
      it('removing a member deletes its DELETE keys (upper, lower case and default) and keeps NO_DELETE and others', async () => {
        const [owner, a, b] = [uniq('own'), uniq('ada'), uniq('bob')];
        await fx.createUsers(owner, a, b);
        const room = await fx.createRoom(owner, [a, b]);
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
        await fx.createUsers(owner, a);
        const room = await fx.createRoom(owner, [a]);
        await set(room, a, { kept: 'x' }, 'no_delete');
        await set(room, a, { gone: 'y' }, 'DELETE');
        await removeMember(room, a);
        assert.deepEqual(await attrs(room), { kept: 'x' });
      });

      it("removing several members at once deletes each one's DELETE keys", async () => {
        const [owner, a, b, c] = [uniq('own'), uniq('ada'), uniq('bob'), uniq('cy')];
        await fx.createUsers(owner, a, b, c);
        const room = await fx.createRoom(owner, [a, b, c]);
        await set(room, a, { a1: '1', a2: '2' }, 'DELETE');
        await set(room, a, { aKeep: '3' }, 'NO_DELETE');
        await set(room, b, { b1: '4' });
        await set(room, c, { c1: '5' });
        await removeMember(room, `${a},${b}`);
        assert.deepEqual(await attrs(room), { aKeep: '3', c1: '5' });
      });

      it('a member re-added after removal does not get its DELETE keys back', async () => {
        const [owner, a] = [uniq('own'), uniq('ada')];
        await fx.createUsers(owner, a);
        const room = await fx.createRoom(owner, [a]);
        await set(room, a, { seat: 'a' });
        await removeMember(room, a);
        const add = await fx.admin.call('POST', `/chatrooms/${room}/users/${a}`);
        assert.equal(add.status, 200, add.text);
        assert.deepEqual(await attrs(room), {});
      });

      it('deleting a user deletes its DELETE keys in every room it was in and keeps its NO_DELETE keys', async () => {
        const [owner, a, b] = [uniq('own'), uniq('ada'), uniq('bob')];
        await fx.createUsers(owner, a, b);
        const r1 = await fx.createRoom(owner, [a, b]);
        const r2 = await fx.createRoom(owner, [a]);
        const r3 = await fx.createRoom(owner, [b]);
        await set(r1, a, { a1: '1' });
        await set(r1, a, { aKeep: '2' }, 'NO_DELETE');
        await set(r1, b, { b1: '3' });
        await set(r2, a, { a2: '4' }, 'delete');
        await set(r2, owner, { o2: '5' });
        await set(r3, b, { b3: '6' });
        const res = await fx.admin.call('DELETE', `/users/${a}`);
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
        await fx.createUsers(owner, alice, bob);
        const room = await fx.createRoom(owner, [alice, bob]);
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
        await fx.createUsers(owner, alice, bob);
        const room = await fx.createRoom(owner, [alice, bob]);
        await set(room, alice, { k: 'alice' }, 'DELETE');
        await set(room, bob, { k: 'bob' }, 'NO_DELETE', true);
        await removeMember(room, alice);
        assert.deepEqual(await attrs(room), { k: 'bob' });
        await removeMember(room, bob);
        assert.deepEqual(await attrs(room), { k: 'bob' });
      });

      it('forced set with the default flag makes a key DELETE for its new owner, applied on user deletion', async () => {
        const [owner, alice, bob] = [uniq('own'), uniq('alice'), uniq('bob')];
        await fx.createUsers(owner, alice, bob);
        const room = await fx.createRoom(owner, [alice, bob]);
        await set(room, alice, { k: 'alice' }, 'NO_DELETE');
        await set(room, bob, { k: 'bob' }, undefined, true);
        const res = await fx.admin.call('DELETE', `/users/${bob}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(await attrs(room), {});
      });
    });

    describe('secrets at rest', () => {
      it('never writes a password in clear under the data directory', async () => {
        const name = uniq('secret');
        const password = `Clear-Pw-${randomBytes(12).toString('hex')}`;
        const res = await register({ username: name, password });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.text.includes(password), false, 'the answer must not echo the password');
        // a password grant proves the password really was taken in before looking for it on disk
        const token = await fx.admin.call('POST', '/token', { body: { grant_type: 'password', username: name, password } });
        assert.equal(token.status, 200, token.text);
        const needle = Buffer.from(password, 'utf8');
        const files = filesUnder(fx.server.dataDir);
        assert.ok(files.length > 0, 'the data directory holds at least the apps file');
        for (const file of files) {
          assert.equal(readFileSync(file).includes(needle), false, `${file} holds the password in clear`);
        }
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
