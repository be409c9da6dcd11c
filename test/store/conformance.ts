import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AutoDelete } from '../../src/domain/attributes.js';
import { keyOutcomesBody, type KeyOutcomesBody as KeyOutcomes } from '../../src/http/key-reasons.js';
import { ApiError, Errors } from '../../src/domain/errors.js';
import { appUuid } from '../../src/domain/ids.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import type { AttrRecord, RemoveResult, Store } from '../../src/store/types.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';

/**
 * The store conformance suite, written against the Store interface only: every store runs it
 * unchanged. Each test uses its own random app id, so a shared store (one Redis) needs no reset.
 */

const NOT_IN_ROOM = 'user is not in chatroom';
const ROOM_FULL_100 = 'size of metadata for this single chatroom exceeds the user defined limit 100';
const QUOTA = 'total size of chatroom metadata for this app exceeds the user defined limit';

const randomApp = (): string => randomBytes(16).toString('hex');

async function rejectsApi(p: Promise<unknown>, status: number, error: string, description: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.deepEqual([e.status, e.error, e.description], [status, error, description]);
    return true;
  });
}

/** Outcomes as plain objects: a store may build errorKeys with a null prototype. */
function plain(o: Parameters<typeof keyOutcomesBody>[0]): KeyOutcomes {
  const body = keyOutcomesBody(o);
  return { successKeys: [...body.successKeys], errorKeys: { ...body.errorKeys } };
}

function byKey(records: AttrRecord[]): Record<string, Omit<AttrRecord, 'key'>> {
  const out: Record<string, Omit<AttrRecord, 'key'>> = {};
  for (const r of records) out[r.key] = { value: r.value, owner: r.owner, autoDelete: r.autoDelete };
  return out;
}

/** Changes a store's records behind its back, so that the integrity check has something to find. */
export interface Tamper {
  /** Breaks the bookkeeping of one stored attribute (its owner record or its recorded size). */
  breakAttribute(store: Store, appId: string, roomId: string, key: string): Promise<void>;
}

export function runStoreSuite(name: string, makeStore: () => Promise<Store> | Store, tamper: Tamper): void {
  describe(`store conformance [${name}]`, () => {
    let store: Store;
    /** Every app the write tests made: the integrity check runs over each after them. */
    const written: string[] = [];
    const newApp = (): string => {
      const app = randomApp();
      written.push(app);
      return app;
    };
    before(async () => {
      store = await makeStore();
    });
    after(async () => {
      await store.close();
    });

    async function users(app: string, ...names: string[]): Promise<void> {
      await store.createUsers(
        app,
        names.map((username) => ({ username, passwordHash: `hash-${username}` })),
      );
    }

    /** An app with users and one room owned by the first name, every other name a member. */
    async function world(names: string[], maxusers = 10_000): Promise<{ app: string; room: string }> {
      const app = newApp();
      await users(app, ...names);
      const owner = at(names, 0);
      const members = names.slice(1);
      const room = await store.createRoom(app, { name: 'r', description: 'd', owner, maxusers, members });
      return { app, room: room.id };
    }

    function set(
      app: string,
      room: string,
      user: string,
      pairs: Record<string, unknown>,
      opts: { forced?: boolean; autoDelete?: AutoDelete; limits?: Limits } = {},
    ): Promise<KeyOutcomes> {
      return store
        .setAttributes({
          appId: app,
          roomId: room,
          user,
          forced: opts.forced ?? false,
          autoDelete: opts.autoDelete ?? 'DELETE',
          pairs: Object.entries(pairs),
          limits: opts.limits ?? DEFAULT_LIMITS,
          routing: NO_WEBHOOKS,
        })
        .then(plain);
    }

    function del(
      app: string,
      room: string,
      user: string,
      keys: string[],
      opts: { forced?: boolean; checkMembership?: boolean } = {},
    ): Promise<KeyOutcomes> {
      return store
        .deleteAttributes({
          appId: app,
          roomId: room,
          user,
          forced: opts.forced ?? false,
          checkMembership: opts.checkMembership ?? true,
          keys,
          routing: NO_WEBHOOKS,
        })
        .then(plain);
    }

    const all = async (app: string, room: string) => ({ ...(await store.getAttributes(app, room, undefined)) });

    describe('users', () => {
      it('creates users and reads them by name and by uuid', async () => {
        const app = newApp();
        const before = Date.now();
        const created = await store.createUsers(app, [
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
        assert.deepEqual(await store.getUser(app, 'alice'), at(created, 0));
        assert.deepEqual(await store.getUserByUuid(app, at(created, 1).uuid), at(created, 1));
        assert.equal(await store.getPasswordHash(app, 'bob'), 'h-b');
        assert.equal(await store.getUser(app, 'carol'), null);
        assert.equal(await store.getUserByUuid(app, '00000000-0000-4000-8000-000000000000'), null);
        assert.equal(await store.getPasswordHash(app, 'carol'), null);
      });

      it('keeps apps apart', async () => {
        const a = newApp();
        const b = newApp();
        const ua = at(await store.createUsers(a, [{ username: 'alice', passwordHash: 'x' }]), 0);
        assert.equal(await store.getUser(b, 'alice'), null);
        assert.equal(await store.getUserByUuid(b, ua.uuid), null);
        const ub = at(await store.createUsers(b, [{ username: 'alice', passwordHash: 'y' }]), 0);
        assert.notEqual(ub.uuid, ua.uuid);
        assert.equal(await store.getPasswordHash(a, 'alice'), 'x');
      });

      it('refuses a duplicate with 400 duplicate_unique_property_exists, all or nothing', async () => {
        const app = newApp();
        await users(app, 'alice');
        await rejectsApi(
          store.createUsers(app, [
            { username: 'bob', passwordHash: 'h' },
            { username: 'alice', passwordHash: 'h' },
            { username: 'carol', passwordHash: 'h' },
          ]),
          400,
          'duplicate_unique_property_exists',
          Errors.duplicateUser(appUuid(app), 'alice').description,
        );
        assert.equal(await store.getUser(app, 'bob'), null, 'none of the batch exists after');
        assert.equal(await store.getUser(app, 'carol'), null);
        assert.equal(await store.getPasswordHash(app, 'alice'), 'hash-alice', 'the existing user is untouched');
        await rejectsApi(
          store.createUsers(app, [
            { username: 'dave', passwordHash: 'h' },
            { username: 'dave', passwordHash: 'h' },
          ]),
          400,
          'duplicate_unique_property_exists',
          Errors.duplicateUser(appUuid(app), 'dave').description,
        );
        assert.equal(await store.getUser(app, 'dave'), null);
      });

      it('deleteUser removes memberships and applies autoDelete in every room', async () => {
        const app = newApp();
        await users(app, 'owner', 'bob', 'carol');
        const r1 = (await store.createRoom(app, { name: 'a', description: '', owner: 'owner', maxusers: 100, members: ['bob', 'carol'] }))
          .id;
        const r2 = (await store.createRoom(app, { name: 'b', description: '', owner: 'owner', maxusers: 100, members: ['bob'] })).id;
        const bob = await store.getUser(app, 'bob');
        for (const room of [r1, r2]) {
          await set(app, room, 'bob', { gone: 'x' }, { autoDelete: 'DELETE' });
          await set(app, room, 'bob', { kept: 'y' }, { autoDelete: 'NO_DELETE' });
          await set(app, room, room === r1 ? 'carol' : 'owner', { other: 'z' });
        }
        assert.deepEqual(await store.deleteUser(app, 'bob', NO_WEBHOOKS), bob);
        assert.equal(await store.getUser(app, 'bob'), null);
        assert.equal(await store.getUserByUuid(app, bob!.uuid), null);
        assert.equal(await store.getPasswordHash(app, 'bob'), null);
        for (const room of [r1, r2]) {
          assert.equal(await store.isMember(app, room, 'bob'), false);
          assert.deepEqual(await all(app, room), { kept: 'y', other: 'z' });
        }
        assert.equal((await store.getRoom(app, r1))!.memberCount, 2);
        assert.equal((await store.getRoom(app, r2))!.memberCount, 1);
        assert.deepEqual(await store.listMembers(app, r1, 0, 10), ['owner', 'carol']);
        assert.equal(await store.deleteUser(app, 'bob', NO_WEBHOOKS), null, 'a second delete finds nobody');
      });
    });

    describe('rooms', () => {
      it('creates a room: the owner is a member, members are de-duplicated', async () => {
        const app = newApp();
        await users(app, 'alice', 'bob', 'carol');
        const before = Date.now();
        const room = await store.createRoom(app, {
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
        assert.deepEqual(await store.getRoom(app, room.id), room);
        assert.equal(await store.isMember(app, room.id, 'alice'), true);
        assert.equal(await store.isMember(app, room.id, 'bob'), true);
        assert.equal(await store.isMember(app, room.id, 'carol'), false);
        const other = await store.createRoom(app, { name: 'R2', description: '', owner: 'carol', maxusers: 50, members: [] });
        assert.notEqual(other.id, room.id);
        assert.equal(other.memberCount, 1);
        assert.equal(await store.getRoom(newApp(), room.id), null, 'rooms belong to their app');
        assert.equal(await store.getRoom(app, '1'), null);
      });

      it('refuses an unknown owner or member with 404', async () => {
        const app = newApp();
        await users(app, 'alice');
        await rejectsApi(
          store.createRoom(app, { name: 'r', description: '', owner: 'ghost', maxusers: 10, members: [] }),
          404,
          'resource_not_found',
          "username ghost doesn't exist!",
        );
        await rejectsApi(
          store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['nobody'] }),
          404,
          'resource_not_found',
          "username nobody doesn't exist!",
        );
        const room = await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: [] });
        assert.equal(room.memberCount, 1);
      });

      it('refuses more members than maxusers at creation with 403 forbidden_op', async () => {
        const app = newApp();
        await users(app, 'a', 'b', 'c');
        await assert.rejects(
          store.createRoom(app, { name: 'r', description: '', owner: 'a', maxusers: 2, members: ['b', 'c'] }),
          (e: unknown) => e instanceof ApiError && e.status === 403 && e.error === 'forbidden_op',
        );
        const ok = await store.createRoom(app, { name: 'r', description: '', owner: 'a', maxusers: 2, members: ['b'] });
        assert.equal(ok.memberCount, 2);
      });

      it('addMembers returns only the new members', async () => {
        const { app, room } = await world(['owner', 'bob']);
        await users(app, 'carol', 'dave');
        assert.deepEqual(await store.addMembers(app, room, ['bob', 'carol', 'carol', 'owner']), ['carol']);
        assert.deepEqual(await store.addMembers(app, room, ['carol']), []);
        assert.deepEqual(await store.addMembers(app, room, ['dave']), ['dave']);
        assert.equal((await store.getRoom(app, room))!.memberCount, 4);
        assert.equal(await store.isMember(app, room, 'dave'), true);
      });

      it('addMembers: unknown room 404, unknown user 404 and nobody added', async () => {
        const { app, room } = await world(['owner']);
        await users(app, 'bob');
        await rejectsApi(store.addMembers(app, '999', ['bob']), 404, 'resource_not_found', 'grpID 999 does not exist!');
        await rejectsApi(store.addMembers(app, room, ['bob', 'ghost']), 404, 'resource_not_found', "username ghost doesn't exist!");
        assert.equal(await store.isMember(app, room, 'bob'), false);
        assert.equal((await store.getRoom(app, room))!.memberCount, 1);
      });

      it('addMembers stops at maxusers with 403 forbidden_op and adds nobody', async () => {
        const { app, room } = await world(['owner', 'm1'], 3);
        await users(app, 'm2', 'm3');
        await assert.rejects(store.addMembers(app, room, ['m2', 'm3']), (e: unknown) => {
          assert.ok(e instanceof ApiError);
          assert.deepEqual([e.status, e.error], [403, 'forbidden_op']);
          return true;
        });
        assert.equal(await store.isMember(app, room, 'm2'), false);
        assert.equal((await store.getRoom(app, room))!.memberCount, 2);
        assert.deepEqual(await store.addMembers(app, room, ['m2']), ['m2'], 'up to maxusers exactly');
        assert.deepEqual(await store.addMembers(app, room, ['m2', 'owner']), [], 'existing members do not count as new');
        await assert.rejects(store.addMembers(app, room, ['m3']), (e: unknown) => e instanceof ApiError && e.status === 403);
      });

      it('removeMembers reports each user: owner cannot be removed, non-member, removed', async () => {
        const { app, room } = await world(['owner', 'bob', 'carol']);
        await users(app, 'dave');
        const results = await store.removeMembers(app, room, ['owner', 'dave', 'bob'], NO_WEBHOOKS);
        assert.deepEqual(
          results.map((r) => ({ ...r })),
          [
            { user: 'owner', result: false, refusal: 'owner' },
            { user: 'dave', result: false, refusal: 'not_member' },
            { user: 'bob', result: true },
          ],
        );
        assert.equal(await store.isMember(app, room, 'bob'), false);
        assert.equal(await store.isMember(app, room, 'owner'), true);
        assert.equal((await store.getRoom(app, room))!.memberCount, 2);
        assert.deepEqual(await store.removeMembers(app, room, ['bob'], NO_WEBHOOKS), [
          { user: 'bob', result: false, refusal: 'not_member' },
        ]);
        await rejectsApi(store.removeMembers(app, '999', ['bob'], NO_WEBHOOKS), 404, 'resource_not_found', 'grpID 999 does not exist!');
      });

      it('removeMembers applies autoDelete for each removed member', async () => {
        const { app, room } = await world(['owner', 'bob', 'carol']);
        await set(app, room, 'bob', { b1: '1', b2: '2' }, { autoDelete: 'DELETE' });
        await set(app, room, 'bob', { bk: 'k' }, { autoDelete: 'NO_DELETE' });
        await set(app, room, 'carol', { c1: '1' }, { autoDelete: 'DELETE' });
        await set(app, room, 'owner', { o1: '1' });
        await store.removeMembers(app, room, ['bob', 'carol'], NO_WEBHOOKS);
        assert.deepEqual(await all(app, room), { bk: 'k', o1: '1' });
        assert.deepEqual(byKey(await store.listAttributes(app, room)), {
          bk: { value: 'k', owner: 'bob', autoDelete: 'NO_DELETE' },
          o1: { value: '1', owner: 'owner', autoDelete: 'DELETE' },
        });
      });

      it('listMembers pages with the owner first', async () => {
        const names = ['zed', 'm01', 'm02', 'm03', 'm04', 'm05', 'm06', 'm07'];
        const app = newApp();
        await users(app, ...names);
        // the owner sorts last by name and joins with everyone: only "owner first" can put it first
        const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'zed', maxusers: 100, members: names.slice(1, 4) }))
          .id;
        await store.addMembers(app, room, names.slice(4));
        const first = await store.listMembers(app, room, 0, 3);
        const second = await store.listMembers(app, room, 3, 3);
        const third = await store.listMembers(app, room, 6, 3);
        assert.equal(first[0], 'zed');
        assert.deepEqual([first.length, second.length, third.length], [3, 3, 2]);
        assert.deepEqual([...first, ...second, ...third].sort(), [...names].sort(), 'every member once');
        assert.deepEqual(await store.listMembers(app, room, 8, 3), []);
        assert.deepEqual(await store.listMembers(app, room, 0, 100), [...first, ...second, ...third], 'pages are stable');
        await rejectsApi(store.listMembers(app, '999', 0, 10), 404, 'resource_not_found', 'grpID 999 does not exist!');
      });
    });

    describe('attributes', () => {
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
        assert.deepEqual(byKey(await store.listAttributes(app, room)), {
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
        assert.deepEqual(await store.listAttributes(app, room), [{ key: 'k', value: 'two', owner: 'alice', autoDelete: 'DELETE' }]);
      });

      it('set, delete and get of a room that does not exist: 404', async () => {
        const app = newApp();
        await users(app, 'alice');
        const desc = 'grpID 424242 does not exist!';
        await rejectsApi(set(app, '424242', 'alice', { a: '1' }), 404, 'resource_not_found', desc);
        await rejectsApi(set(app, '424242', 'alice', { a: '1' }, { forced: true }), 404, 'resource_not_found', desc);
        await rejectsApi(del(app, '424242', 'alice', ['a']), 404, 'resource_not_found', desc);
        await rejectsApi(del(app, '424242', 'admin', ['a'], { forced: true, checkMembership: false }), 404, 'resource_not_found', desc);
        await rejectsApi(store.getAttributes(app, '424242', undefined), 404, 'resource_not_found', desc);
        await rejectsApi(store.getAttributes(app, '424242', ['a'], 'alice'), 404, 'resource_not_found', desc);
      });

      it('a room of another app is not found', async () => {
        const { app, room } = await world(['alice']);
        await set(app, room, 'alice', { a: '1' });
        const other = newApp();
        await users(other, 'alice');
        await rejectsApi(store.getAttributes(other, room, undefined), 404, 'resource_not_found', `grpID ${room} does not exist!`);
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
        assert.deepEqual(await store.listAttributes(app, room), [{ key: 'a', value: '1', owner: 'alice', autoDelete: 'DELETE' }]);
      });

      it("forced set overwrites another member's key: owner and autoDelete become the caller's", async () => {
        const { app, room } = await world(['alice', 'bob']);
        await set(app, room, 'alice', { host: 'alice' }, { autoDelete: 'NO_DELETE' });
        const out = await set(app, room, 'bob', { host: 'bob', 'bad key': 'x', fresh: 'f' }, { forced: true, autoDelete: 'DELETE' });
        assert.deepEqual(out, { successKeys: ['host', 'fresh'], errorKeys: { 'bad key': "properties key 'bad key' is not Legal" } });
        assert.deepEqual(byKey(await store.listAttributes(app, room)), {
          host: { value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
          fresh: { value: 'f', owner: 'bob', autoDelete: 'DELETE' },
        });
        assert.deepEqual(await set(app, room, 'alice', { host: 'alice' }), {
          successKeys: [],
          errorKeys: { host: "key 'host' is not part of you" },
        });
        // bob's autoDelete now governs the key: bob leaving removes it
        await store.removeMembers(app, room, ['bob'], NO_WEBHOOKS);
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
        assert.deepEqual({ ...(await store.getAttributes(app, room, ['a', 'missing', 'b'])) }, { a: '1', b: '' });
        assert.deepEqual({ ...(await store.getAttributes(app, room, ['missing'])) }, {});
        assert.deepEqual({ ...(await store.getAttributes(app, room, ['c'], 'alice')) }, { c: '3' });
        await rejectsApi(store.getAttributes(app, room, undefined, 'carol'), 401, 'unauthorized', NOT_IN_ROOM);
        await rejectsApi(store.getAttributes(app, room, ['a'], 'carol'), 401, 'unauthorized', NOT_IN_ROOM);
      });

      it('getAttributesJson: the map as JSON text, escapes intact, and new text after every write', async () => {
        const { app, room } = await world(['alice', 'bob']);
        const odd = 'q"uote\\ line\nbreak / ☃ 😀 \u0001';
        const out = await set(app, room, 'alice', { a: '1', odd, '7': 'seven' });
        assert.deepEqual([[...out.successKeys].sort(), out.errorKeys], [['7', 'a', 'odd'], {}]);
        const text = await store.getAttributesJson(app, room, undefined);
        assert.equal(typeof text, 'string');
        assert.deepEqual(JSON.parse(text), { a: '1', odd, '7': 'seven' });
        assert.deepEqual(
          JSON.parse(await store.getAttributesJson(app, room, undefined, 'bob')),
          JSON.parse(text),
          'a member reads the same',
        );
        assert.deepEqual(JSON.parse(await store.getAttributesJson(app, room, ['odd', 'missing'])), { odd });
        assert.deepEqual(JSON.parse(await store.getAttributesJson(app, room, ['missing'])), {});
        await set(app, room, 'alice', { a: '2' });
        assert.deepEqual(
          JSON.parse(await store.getAttributesJson(app, room, undefined)),
          { a: '2', odd, '7': 'seven' },
          'a write is seen by the next read of every key',
        );
        await del(app, room, 'alice', ['a', 'odd', '7']);
        assert.equal(await store.getAttributesJson(app, room, undefined), '{}');
        await rejectsApi(store.getAttributesJson(app, '424242', undefined), 404, 'resource_not_found', 'grpID 424242 does not exist!');
      });

      it('__proto__ is stored and read back as an ordinary key', async () => {
        const { app, room } = await world(['alice']);
        const out = await store.setAttributes({
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
        const got = await store.getAttributes(app, room, undefined);
        assert.equal(Object.hasOwn(got, '__proto__'), true);
        assert.equal(got['__proto__'], 'p');
        assert.deepEqual(Object.keys(got).sort(), ['__proto__', 'constructor']);
        const one = await store.getAttributes(app, room, ['__proto__', 'toString']);
        assert.deepEqual(Object.keys(one), ['__proto__']);
      });

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
        const other = (await store.createRoom(app, { name: 'o', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        assert.deepEqual((await set(app, other, 'alice', { k8: '8' }, { limits })).successKeys, ['k8']);
        assert.deepEqual((await set(app, room, 'alice', { k9: '9' })).errorKeys, {}, 'with the default limit of 100 it fits');
      });

      it('the app byte quota holds across calls and rooms and is freed by delete, removal, user deletion and destroy', async () => {
        // every pair below is 10 bytes (UTF-8 key + value), the quota is 30
        const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: 30 };
        const app = newApp();
        await users(app, 'alice', 'bob', 'carol');
        const mk = async (members: string[]) =>
          (await store.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members })).id;
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
        await store.removeMembers(app, r1, ['bob'], NO_WEBHOOKS);
        assert.deepEqual(await set(app, r1, 'alice', { a4: '' }, { limits }), refused('a4'), 'b2 was NO_DELETE: still 29 + 2');
        await store.removeMembers(app, r2, ['bob'], NO_WEBHOOKS); // frees b1 (10)
        assert.deepEqual(await set(app, r1, 'alice', { a4: '12345678' }, { limits }), ok(['a4']));
        // user deletion frees (carol is still a member of r1)
        assert.deepEqual(await del(app, r1, 'admin', ['a4'], { forced: true, checkMembership: false }), ok(['a4']));
        assert.deepEqual(await set(app, r1, 'carol', { c1: '12345678' }, { limits }), ok(['c1']));
        await store.deleteUser(app, 'carol', NO_WEBHOOKS);
        assert.deepEqual(await set(app, r1, 'alice', { a5: '12345678' }, { limits }), ok(['a5']));
        // now: b2 (9, r1), a2 (10, r2), a5 (10, r1) = 29; destroying r2 frees a2
        assert.deepEqual(await set(app, r1, 'alice', { a6: '12' }, { limits }), refused('a6'));
        assert.equal(await store.destroyRoom(app, r2, NO_WEBHOOKS), true);
        assert.deepEqual(await set(app, r1, 'alice', { a6: '12345678' }, { limits }), ok(['a6']));
        // the quota is per app
        const other = newApp();
        await users(other, 'x');
        const ro = (await store.createRoom(other, { name: 'r', description: '', owner: 'x', maxusers: 10, members: [] })).id;
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
        const stored = (await store.listAttributes(app, room)).reduce(
          (sum, a) => sum + Buffer.byteLength(a.key) + Buffer.byteLength(a.value),
          0,
        );
        assert.ok(stored > 0);
        // With the quota at what is stored plus 3, 3 more bytes fit and a 4th does not.
        const limits: Limits = { ...DEFAULT_LIMITS, maxAppBytes: stored + 3 };
        assert.deepEqual(await set(app, room, 'm0', { abc: '' }, { limits }), { successKeys: ['abc'], errorKeys: {} });
        assert.deepEqual(await set(app, room, 'm0', { d: '' }, { limits }), { successKeys: [], errorKeys: { d: QUOTA } });
      });

      it('destroyRoom removes the room, its members and attributes; false the second time', async () => {
        const { app, room } = await world(['alice', 'bob']);
        await set(app, room, 'alice', { a: '1' }, { autoDelete: 'NO_DELETE' });
        await set(app, room, 'bob', { b: '2' });
        assert.equal(await store.destroyRoom(app, room, NO_WEBHOOKS), true);
        assert.equal(await store.getRoom(app, room), null);
        assert.equal(await store.isMember(app, room, 'alice'), false);
        assert.equal(await store.isMember(app, room, 'bob'), false);
        await rejectsApi(store.getAttributes(app, room, undefined), 404, 'resource_not_found', `grpID ${room} does not exist!`);
        await rejectsApi(set(app, room, 'alice', { a: '1' }), 404, 'resource_not_found', `grpID ${room} does not exist!`);
        assert.equal(await store.destroyRoom(app, room, NO_WEBHOOKS), false);
        assert.equal(await store.destroyRoom(app, '999', NO_WEBHOOKS), false);
        // the users survive, and a new room does not inherit anything
        assert.notEqual(await store.getUser(app, 'alice'), null);
        const fresh = (await store.createRoom(app, { name: 'n', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        assert.notEqual(fresh, room);
        assert.deepEqual(await all(app, fresh), {});
      });

      it('concurrency: 20 members set the same new key at once, exactly one wins', async () => {
        const names = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`);
        const { app, room } = await world(names);
        const outs = await Promise.all(names.map((u) => set(app, room, u, { seat: u })));
        const winners = names.filter((_, i) => at(outs, i).successKeys.length === 1);
        assert.equal(winners.length, 1, `winners: ${winners.join(',')}`);
        for (const [i, out] of outs.entries()) {
          if (names[i] === winners[0]) assert.deepEqual(out, { successKeys: ['seat'], errorKeys: {} });
          else assert.deepEqual(out, { successKeys: [], errorKeys: { seat: "key 'seat' is not part of you" } });
        }
        assert.deepEqual(await store.listAttributes(app, room), [
          { key: 'seat', value: winners[0], owner: winners[0], autoDelete: 'DELETE' },
        ]);
      });

      it('concurrency: 15 calls of 10 new keys each into one room store exactly 100', async () => {
        const names = Array.from({ length: 15 }, (_, i) => `w${i}`);
        const { app, room } = await world(names);
        const outs = await Promise.all(
          names.map((u, c) => set(app, room, u, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`c${c}k${i}`, `${c}.${i}`])))),
        );
        const succeeded = outs.flatMap((o) => o.successKeys);
        const failed = outs.flatMap((o) => Object.entries(o.errorKeys));
        assert.equal(succeeded.length, 100);
        assert.equal(failed.length, 50);
        for (const [, reason] of failed) assert.equal(reason, ROOM_FULL_100);
        const stored = await all(app, room);
        assert.equal(Object.keys(stored).length, 100);
        assert.deepEqual(Object.keys(stored).sort(), [...succeeded].sort(), 'stored = reported successes');
        for (const k of succeeded) {
          const [c, i] = k.slice(1).split('k');
          assert.equal(stored[k], `${c}.${i}`);
        }
      });

      it('concurrency: 20 users joining a room of maxusers 10 one at a time: exactly 10 members, the rest refused', async () => {
        const names = Array.from({ length: 19 }, (_, i) => `j${String(i).padStart(2, '0')}`);
        const app = newApp();
        await users(app, 'owner', ...names);
        const room = (await store.createRoom(app, { name: 'r', description: '', owner: 'owner', maxusers: 10, members: [] })).id;
        const outs = await Promise.allSettled(names.map((u) => store.addMembers(app, room, [u])));
        const joined = outs.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
        const refused = outs.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as ApiError);
        assert.equal(joined.length, 9);
        assert.equal(refused.length, 10);
        for (const e of refused) assert.deepEqual([e.status, e.error], [403, 'forbidden_op']);
        assert.equal((await store.getRoom(app, room))!.memberCount, 10);
        assert.deepEqual((await store.listMembers(app, room, 0, 100)).slice(1).sort(), [...joined].sort());
      });

      it('concurrency: a removal and a join of each member at once: every removal finds its member, and the count matches the members', async () => {
        const names = Array.from({ length: 12 }, (_, i) => `x${String(i).padStart(2, '0')}`);
        const { app, room } = await world(['boss', ...names]);
        const calls = names.flatMap((u) => [store.removeMembers(app, room, [u], NO_WEBHOOKS), store.addMembers(app, room, [u])]);
        const outs = await Promise.all(calls);
        const members = new Set(await store.listMembers(app, room, 0, 100));
        const removed = outs.filter((_, i) => i % 2 === 0).flat() as RemoveResult[];
        assert.equal(removed.length, names.length);
        for (const r of removed) assert.ok(r.result, `${r.user} was a member when its removal came`);
        assert.equal((await store.getRoom(app, room))!.memberCount, members.size);
      });
    });

    // After every write test above (node:test runs them in order): what they left is intact.
    describe('integrity', () => {
      it('every app the tests wrote passes the integrity check, per app, per room and as a whole', async () => {
        assert.ok(written.length > 20, `${written.length} apps`);
        for (const app of written) {
          assert.deepEqual(await store.integrityCheck({ appId: app }), [], `app ${app}`);
          for (const room of await store.listRooms(app, '', 1000)) {
            assert.deepEqual(await store.integrityCheck({ appId: app, roomId: room.id }), [], `app ${app} room ${room.id}`);
          }
        }
        assert.deepEqual(await store.integrityCheck({ appId: randomApp(), roomId: '424242' }), [], 'nothing of a room that never was');
        assert.deepEqual(await store.integrityCheck(), [], 'the whole store');
      });

      it('reports a broken attribute, in its room and its app, and nowhere else', async () => {
        const app = randomApp();
        await users(app, 'alice');
        const broken = (await store.createRoom(app, { name: 'b', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        const sound = (await store.createRoom(app, { name: 's', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        await set(app, broken, 'alice', { seat: 'alice', kept: 'x' });
        await set(app, sound, 'alice', { seat: 'alice' });
        assert.deepEqual(await store.integrityCheck({ appId: app }), []);
        await tamper.breakAttribute(store, app, broken, 'seat');
        const inRoom = await store.integrityCheck({ appId: app, roomId: broken });
        assert.ok(
          inRoom.length > 0 && inRoom.every((p) => p.startsWith(`app ${app} room ${broken}: `) && p.includes('seat')),
          inRoom.join('\n'),
        );
        const inApp = await store.integrityCheck({ appId: app });
        for (const p of inRoom) assert.ok(inApp.includes(p), `the app's check reports ${p}`);
        assert.deepEqual(await store.integrityCheck({ appId: app, roomId: sound }), [], 'the other room is sound');
        assert.ok(
          (await store.integrityCheck()).some((p) => inRoom.includes(p)),
          "the whole store's check reports it too",
        );
      });
    });
  });
}
