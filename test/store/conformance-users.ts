import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Errors } from '../../src/domain/errors.js';
import { appUuid } from '../../src/domain/ids.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';
import { type Conformance, rejectsApi } from './conformance-support.js';

/** The users of the store conformance suite: made, read, kept per app, refused as duplicates, deleted. */
export function userTests(suite: Conformance): void {
  const { newApp, users, set, all } = suite;

  it('creates users and reads them by name and by uuid', async () => {
    const app = newApp();
    const before = Date.now();
    const created = await suite.store.createUsers(app, [
      { username: 'alice', passwordHash: 'h-a' },
      { username: 'bob', passwordHash: 'h-b' },
    ]);
    assert.deepEqual(
      created.map((u) => u.username),
      ['alice', 'bob'],
    );
    for (const u of created) {
      assert.match(u.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.ok(u.created >= before - 1000 && u.created <= Date.now() + 1000, 'created is Unix ms');
      assert.equal(u.modified, u.created);
    }
    assert.notEqual(at(created, 0).uuid, at(created, 1).uuid);
    assert.deepEqual(await suite.store.getUser(app, 'alice'), at(created, 0));
    assert.deepEqual(await suite.store.getUserByUuid(app, at(created, 1).uuid), at(created, 1));
    assert.equal(await suite.store.getPasswordHash(app, 'bob'), 'h-b');
    assert.equal(await suite.store.getUser(app, 'carol'), null);
    assert.equal(await suite.store.getUserByUuid(app, '00000000-0000-4000-8000-000000000000'), null);
    assert.equal(await suite.store.getPasswordHash(app, 'carol'), null);
  });

  it('keeps apps apart', async () => {
    const a = newApp();
    const b = newApp();
    const ua = at(await suite.store.createUsers(a, [{ username: 'alice', passwordHash: 'x' }]), 0);
    assert.equal(await suite.store.getUser(b, 'alice'), null);
    assert.equal(await suite.store.getUserByUuid(b, ua.uuid), null);
    const ub = at(await suite.store.createUsers(b, [{ username: 'alice', passwordHash: 'y' }]), 0);
    assert.notEqual(ub.uuid, ua.uuid);
    assert.equal(await suite.store.getPasswordHash(a, 'alice'), 'x');
  });

  it('refuses a duplicate with 400 duplicate_unique_property_exists, all or nothing', async () => {
    const app = newApp();
    await users(app, 'alice');
    await rejectsApi(
      suite.store.createUsers(app, [
        { username: 'bob', passwordHash: 'h' },
        { username: 'alice', passwordHash: 'h' },
        { username: 'carol', passwordHash: 'h' },
      ]),
      400,
      'duplicate_unique_property_exists',
      Errors.duplicateUser(appUuid(app), 'alice').description,
    );
    assert.equal(await suite.store.getUser(app, 'bob'), null, 'none of the batch exists after');
    assert.equal(await suite.store.getUser(app, 'carol'), null);
    assert.equal(await suite.store.getPasswordHash(app, 'alice'), 'hash-alice', 'the existing user is untouched');
    await rejectsApi(
      suite.store.createUsers(app, [
        { username: 'dave', passwordHash: 'h' },
        { username: 'dave', passwordHash: 'h' },
      ]),
      400,
      'duplicate_unique_property_exists',
      Errors.duplicateUser(appUuid(app), 'dave').description,
    );
    assert.equal(await suite.store.getUser(app, 'dave'), null);
  });

  it('deleteUser removes memberships and applies autoDelete in every room', async () => {
    const app = newApp();
    await users(app, 'owner', 'bob', 'carol');
    const r1 = (await suite.store.createRoom(app, { name: 'a', description: '', owner: 'owner', maxusers: 100, members: ['bob', 'carol'] }))
      .id;
    const r2 = (await suite.store.createRoom(app, { name: 'b', description: '', owner: 'owner', maxusers: 100, members: ['bob'] })).id;
    const bob = await suite.store.getUser(app, 'bob');
    for (const room of [r1, r2]) {
      await set(app, room, 'bob', { gone: 'x' }, { autoDelete: 'DELETE' });
      await set(app, room, 'bob', { kept: 'y' }, { autoDelete: 'NO_DELETE' });
      await set(app, room, room === r1 ? 'carol' : 'owner', { other: 'z' });
    }
    assert.deepEqual(await suite.store.deleteUser(app, 'bob', NO_WEBHOOKS), bob);
    assert.equal(await suite.store.getUser(app, 'bob'), null);
    assert.equal(await suite.store.getUserByUuid(app, bob!.uuid), null);
    assert.equal(await suite.store.getPasswordHash(app, 'bob'), null);
    for (const room of [r1, r2]) {
      assert.equal(await suite.store.isMember(app, room, 'bob'), false);
      assert.deepEqual(await all(app, room), { kept: 'y', other: 'z' });
    }
    assert.equal((await suite.store.getRoom(app, r1))!.memberCount, 2);
    assert.equal((await suite.store.getRoom(app, r2))!.memberCount, 1);
    assert.deepEqual(await suite.store.listMembers(app, r1, 0, 10), ['owner', 'carol']);
    assert.equal(await suite.store.deleteUser(app, 'bob', NO_WEBHOOKS), null, 'a second delete finds nobody');
  });
}
