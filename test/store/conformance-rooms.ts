import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { byKey, type Conformance, rejectsApi } from './conformance-support.js';

/** The rooms of the store conformance suite: creation, members joining and leaving, member pages. */
export function roomTests(suite: Conformance): void {
  const { newApp, users, world, set, all } = suite;

  it('creates a room: the owner is a member, members are de-duplicated', async () => {
    const app = newApp();
    await users(app, 'alice', 'bob', 'carol');
    const before = Date.now();
    const room = await suite.store.createRoom(app, {
      name: 'Room',
      description: 'desc',
      owner: 'alice',
      maxusers: 50,
      members: ['bob', 'alice', 'bob'],
    });
    assert.match(room.id, /^\d+$/);
    assert.deepEqual(
      { ...room, created: 0 },
      {
        id: room.id,
        name: 'Room',
        description: 'desc',
        owner: 'alice',
        maxusers: 50,
        created: 0,
        memberCount: 2,
      },
    );
    assert.ok(room.created >= before - 1000 && room.created <= Date.now() + 1000);
    assert.deepEqual(await suite.store.getRoom(app, room.id), room);
    assert.equal(await suite.store.isMember(app, room.id, 'alice'), true);
    assert.equal(await suite.store.isMember(app, room.id, 'bob'), true);
    assert.equal(await suite.store.isMember(app, room.id, 'carol'), false);
    const other = await suite.store.createRoom(app, { name: 'R2', description: '', owner: 'carol', maxusers: 50, members: [] });
    assert.notEqual(other.id, room.id);
    assert.equal(other.memberCount, 1);
    assert.equal(await suite.store.getRoom(newApp(), room.id), null, 'rooms belong to their app');
    assert.equal(await suite.store.getRoom(app, '1'), null);
  });

  it('refuses an unknown owner or member with 404', async () => {
    const app = newApp();
    await users(app, 'alice');
    await rejectsApi(
      suite.store.createRoom(app, { name: 'r', description: '', owner: 'ghost', maxusers: 10, members: [] }),
      404,
      'resource_not_found',
      "username ghost doesn't exist!",
    );
    await rejectsApi(
      suite.store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['nobody'] }),
      404,
      'resource_not_found',
      "username nobody doesn't exist!",
    );
    const room = await suite.store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] });
    assert.equal(room.memberCount, 1);
  });

  it('refuses more members than maxusers at creation with 403 forbidden_op', async () => {
    const app = newApp();
    await users(app, 'a', 'b', 'c');
    await assert.rejects(
      suite.store.createRoom(app, { name: 'r', description: '', owner: 'a', maxusers: 2, members: ['b', 'c'] }),
      (e: unknown) => e instanceof ApiError && e.status === 403 && e.error === 'forbidden_op',
    );
    const ok = await suite.store.createRoom(app, { name: 'r', description: '', owner: 'a', maxusers: 2, members: ['b'] });
    assert.equal(ok.memberCount, 2);
  });

  it('addMembers returns only the new members', async () => {
    const { app, room } = await world(['owner', 'bob']);
    await users(app, 'carol', 'dave');
    assert.deepEqual(await suite.store.addMembers(app, room, ['bob', 'carol', 'carol', 'owner']), ['carol']);
    assert.deepEqual(await suite.store.addMembers(app, room, ['carol']), []);
    assert.deepEqual(await suite.store.addMembers(app, room, ['dave']), ['dave']);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, 4);
    assert.equal(await suite.store.isMember(app, room, 'dave'), true);
  });

  it('addMembers: unknown room 404, unknown user 404 and nobody added', async () => {
    const { app, room } = await world(['owner']);
    await users(app, 'bob');
    await rejectsApi(suite.store.addMembers(app, '999', ['bob']), 404, 'resource_not_found', 'grpID 999 does not exist!');
    await rejectsApi(suite.store.addMembers(app, room, ['bob', 'ghost']), 404, 'resource_not_found', "username ghost doesn't exist!");
    assert.equal(await suite.store.isMember(app, room, 'bob'), false);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, 1);
  });

  it('addMembers stops at maxusers with 403 forbidden_op and adds nobody', async () => {
    const { app, room } = await world(['owner', 'm1'], 3);
    await users(app, 'm2', 'm3');
    await assert.rejects(suite.store.addMembers(app, room, ['m2', 'm3']), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.deepEqual([e.status, e.error], [403, 'forbidden_op']);
      return true;
    });
    assert.equal(await suite.store.isMember(app, room, 'm2'), false);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, 2);
    assert.deepEqual(await suite.store.addMembers(app, room, ['m2']), ['m2'], 'up to maxusers exactly');
    assert.deepEqual(await suite.store.addMembers(app, room, ['m2', 'owner']), [], 'existing members do not count as new');
    await assert.rejects(suite.store.addMembers(app, room, ['m3']), (e: unknown) => e instanceof ApiError && e.status === 403);
  });

  it('removeMembers reports each user: owner cannot be removed, non-member, removed', async () => {
    const { app, room } = await world(['owner', 'bob', 'carol']);
    await users(app, 'dave');
    const results = await suite.store.removeMembers(app, room, ['owner', 'dave', 'bob'], NO_WEBHOOKS);
    assert.deepEqual(
      results.map((r) => ({ ...r })),
      [
        { user: 'owner', result: false, refusal: 'owner' },
        { user: 'dave', result: false, refusal: 'not_member' },
        { user: 'bob', result: true },
      ],
    );
    assert.equal(await suite.store.isMember(app, room, 'bob'), false);
    assert.equal(await suite.store.isMember(app, room, 'owner'), true);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, 2);
    assert.deepEqual(await suite.store.removeMembers(app, room, ['bob'], NO_WEBHOOKS), [
      { user: 'bob', result: false, refusal: 'not_member' },
    ]);
    await rejectsApi(suite.store.removeMembers(app, '999', ['bob'], NO_WEBHOOKS), 404, 'resource_not_found', 'grpID 999 does not exist!');
  });

  it('removeMembers applies autoDelete for each removed member', async () => {
    const { app, room } = await world(['owner', 'bob', 'carol']);
    await set(app, room, 'bob', { b1: '1', b2: '2' }, { autoDelete: 'DELETE' });
    await set(app, room, 'bob', { bk: 'k' }, { autoDelete: 'NO_DELETE' });
    await set(app, room, 'carol', { c1: '1' }, { autoDelete: 'DELETE' });
    await set(app, room, 'owner', { o1: '1' });
    await suite.store.removeMembers(app, room, ['bob', 'carol'], NO_WEBHOOKS);
    assert.deepEqual(await all(app, room), { bk: 'k', o1: '1' });
    assert.deepEqual(byKey(await suite.store.listAttributes(app, room)), {
      bk: { value: 'k', owner: 'bob', autoDelete: 'NO_DELETE' },
      o1: { value: '1', owner: 'owner', autoDelete: 'DELETE' },
    });
  });

  it('listMembers pages with the owner first', async () => {
    const names = ['zed', 'm01', 'm02', 'm03', 'm04', 'm05', 'm06', 'm07'];
    const app = newApp();
    await users(app, ...names);
    // the owner sorts last by name and joins with everyone: only "owner first" can put it first
    const room = (
      await suite.store.createRoom(app, { name: 'r', description: '', owner: 'zed', maxusers: 100, members: names.slice(1, 4) })
    ).id;
    await suite.store.addMembers(app, room, names.slice(4));
    const first = await suite.store.listMembers(app, room, 0, 3);
    const second = await suite.store.listMembers(app, room, 3, 3);
    const third = await suite.store.listMembers(app, room, 6, 3);
    assert.equal(first[0], 'zed');
    assert.deepEqual([first.length, second.length, third.length], [3, 3, 2]);
    assert.deepEqual([...first, ...second, ...third].sort(), [...names].sort(), 'every member once');
    assert.deepEqual(await suite.store.listMembers(app, room, 8, 3), []);
    assert.deepEqual(await suite.store.listMembers(app, room, 0, 100), [...first, ...second, ...third], 'pages are stable');
    await rejectsApi(suite.store.listMembers(app, '999', 0, 10), 404, 'resource_not_found', 'grpID 999 does not exist!');
  });
}

/** destroyRoom, with the attributes it takes along: registered among the attribute tests, where it always ran. */
export function destroyRoomTests(suite: Conformance): void {
  const { world, set, all } = suite;

  it('destroyRoom removes the room, its members and attributes; false the second time', async () => {
    const { app, room } = await world(['alice', 'bob']);
    await set(app, room, 'alice', { a: '1' }, { autoDelete: 'NO_DELETE' });
    await set(app, room, 'bob', { b: '2' });
    assert.equal(await suite.store.destroyRoom(app, room, NO_WEBHOOKS), true);
    assert.equal(await suite.store.getRoom(app, room), null);
    assert.equal(await suite.store.isMember(app, room, 'alice'), false);
    assert.equal(await suite.store.isMember(app, room, 'bob'), false);
    await rejectsApi(suite.store.getAttributes(app, room, undefined), 404, 'resource_not_found', `grpID ${room} does not exist!`);
    await rejectsApi(set(app, room, 'alice', { a: '1' }), 404, 'resource_not_found', `grpID ${room} does not exist!`);
    assert.equal(await suite.store.destroyRoom(app, room, NO_WEBHOOKS), false);
    assert.equal(await suite.store.destroyRoom(app, '999', NO_WEBHOOKS), false);
    // the users survive, and a new room does not inherit anything
    assert.notEqual(await suite.store.getUser(app, 'alice'), null);
    const fresh = (await suite.store.createRoom(app, { name: 'n', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
    assert.notEqual(fresh, room);
    assert.deepEqual(await all(app, fresh), {});
  });
}
