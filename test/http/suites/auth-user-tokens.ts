import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userToken } from '../../support/apps.js';
import type { Target } from '../../support/server.js';
import { APP_TOKEN_REQUIRED, authFixture, expectError, expectOk, NOT_IN_ROOM, OTHERS, PASSWORD } from './auth-support.js';

/** 007 user tokens (spec section 2, see authFixture): a user acts only as itself, reads only as a member, never on admin routes. */
export function authUserTokensSuite(target: Target): void {
  describe(`authentication [${target.name}]`, () => {
    const h = authFixture(target);
    const { app, uuids, roomPath, as, getAttrs } = h;

    describe('007 user tokens', () => {
      it('set and delete as itself, the username compared case-insensitively', async () => {
        const alice = as(userToken(app, 'Alice'));
        const set = await alice.call('PUT', `${roomPath()}/user/alice`, { body: { metaData: { ci1: 'a', ci2: 'b' } } });
        expectOk(set, 'set');
        assert.deepEqual(set.body.data, { successKeys: ['ci1', 'ci2'], errorKeys: {} });
        const lower = as(userToken(app, 'alice'));
        expectOk(await lower.call('PUT', `${roomPath()}/user/ALICE`, { body: { metaData: { ci3: 'c' } } }), 'path in capitals');
        const attrs = await getAttrs();
        assert.deepEqual([attrs.ci1, attrs.ci2, attrs.ci3], ['a', 'b', 'c']);
        const del = await alice.call('DELETE', `${roomPath()}/user/alice`, { body: { keys: ['ci1', 'ci3'] } });
        expectOk(del, 'delete');
        assert.deepEqual(del.body.data, { successKeys: ['ci1', 'ci3'], errorKeys: {} });
        const after = await getAttrs();
        assert.deepEqual([after.ci1, after.ci2, after.ci3], [undefined, 'b', undefined]);
      });

      it('acting as another user is 403 on set, delete, forced set and forced delete', async () => {
        expectOk(await h.admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { bobkey: 'bob' } } }), 'seed');
        const alice = as(userToken(app, 'alice'));
        const calls: Array<[string, string, unknown]> = [
          ['PUT', `${roomPath()}/user/bob`, { metaData: { bobkey: 'alice' } }],
          ['DELETE', `${roomPath()}/user/bob`, { keys: ['bobkey'] }],
          ['PUT', `${roomPath()}/user/bob/forced`, { metaData: { bobkey: 'alice' } }],
          ['DELETE', `${roomPath()}/user/bob/forced`, { keys: ['bobkey'] }],
          // alice owns nothing by that name, but the path still names someone else
          ['PUT', `${roomPath()}/user/carol`, { metaData: { c: '1' } }],
        ];
        for (const [method, path, body] of calls) expectError(await alice.call(method, path, { body }), 403, OTHERS, `${method} ${path}`);
        assert.equal((await getAttrs()).bobkey, 'bob');
      });

      it('reads a room only as a member', async () => {
        expectOk(await h.admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { readable: 'yes' } } }), 'seed');
        const member = await as(userToken(app, 'bob')).call('POST', roomPath(), { body: { keys: ['readable'] } });
        expectOk(member, 'member');
        assert.deepEqual(member.body.data, { readable: 'yes' });
        const outsider = await as(userToken(app, 'carol')).call('POST', roomPath(), { body: { keys: ['readable'] } });
        expectError(outsider, 401, NOT_IN_ROOM, 'not a member');
        // A member that left loses read access.
        expectOk(await h.admin.call('DELETE', `/chatrooms/${h.room}/users/dave`), 'remove dave');
        expectError(await as(userToken(app, 'dave')).call('POST', roomPath(), { body: {} }), 401, NOT_IN_ROOM, 'after leaving');
        expectOk(await h.admin.call('POST', `/chatrooms/${h.room}/users/dave`), 're-add dave');
      });

      it('the forced routes require membership for a user token', async () => {
        expectOk(await h.admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { forcedkey: 'bob' } } }), 'seed');
        const carol = as(userToken(app, 'carol'));
        expectError(
          await carol.call('PUT', `${roomPath()}/user/carol/forced`, { body: { metaData: { forcedkey: 'carol' } } }),
          401,
          NOT_IN_ROOM,
          'forced set',
        );
        expectError(
          await carol.call('DELETE', `${roomPath()}/user/carol/forced`, { body: { keys: ['forcedkey'] } }),
          401,
          NOT_IN_ROOM,
          'forced delete',
        );
        // The `admin` pseudo-user is for app tokens only.
        expectError(
          await carol.call('DELETE', `${roomPath()}/user/admin/forced`, { body: { keys: ['forcedkey'] } }),
          403,
          OTHERS,
          'as admin',
        );
        assert.equal((await getAttrs()).forcedkey, 'bob');
        // A member may force as itself.
        const dave = as(userToken(app, 'dave'));
        expectOk(
          await dave.call('PUT', `${roomPath()}/user/dave/forced`, { body: { metaData: { forcedkey: 'dave' } } }),
          'member forced set',
        );
        assert.equal((await getAttrs()).forcedkey, 'dave');
      });

      it("a 007 user token naming the user's uuid acts as that user", async () => {
        const byUuid = as(userToken(app, uuids.bob!));
        const set = await byUuid.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { byuuid: 'v' } } });
        expectOk(set, 'set by uuid');
        assert.deepEqual(set.body.data, { successKeys: ['byuuid'], errorKeys: {} });
        expectOk(await byUuid.call('POST', roomPath(), { body: { keys: ['byuuid'] } }), 'get by uuid');
        expectError(await byUuid.call('PUT', `${roomPath()}/user/alice`, { body: { metaData: { x: 'v' } } }), 403, OTHERS, 'as alice');
        // The key belongs to bob the username: his name token may delete it.
        const del = await as(userToken(app, 'bob')).call('DELETE', `${roomPath()}/user/bob`, { body: { keys: ['byuuid'] } });
        assert.deepEqual(del.body.data, { successKeys: ['byuuid'], errorKeys: {} });
      });

      it('user tokens get 403 app token required on the user, chatroom and token-exchange routes', async () => {
        const alice = as(userToken(app, 'alice'));
        const calls: Array<[string, string, unknown]> = [
          ['POST', '/users', { username: 'byuser', password: PASSWORD }],
          ['GET', '/users/alice', undefined],
          ['DELETE', '/users/bob', undefined],
          ['POST', '/chatrooms', { name: 'n', description: 'd', owner: 'alice' }],
          ['GET', `/chatrooms/${h.room}`, undefined],
          ['DELETE', `/chatrooms/${h.room}`, undefined],
          ['GET', `/chatrooms/${h.room}/users`, undefined],
          ['POST', `/chatrooms/${h.room}/users/carol`, undefined],
          ['POST', `/chatrooms/${h.room}/users`, { usernames: ['carol'] }],
          ['DELETE', `/chatrooms/${h.room}/users/bob`, undefined],
          ['POST', '/token', { grant_type: 'inherit', username: 'alice' }],
          ['POST', '/token', { grant_type: 'agora' }],
        ];
        for (const [method, path, body] of calls)
          expectError(await alice.call(method, path, { body }), 403, APP_TOKEN_REQUIRED, `${method} ${path}`);
        // Nothing happened.
        expectError(
          await h.admin.call('GET', '/users/byuser'),
          404,
          ['service_resource_not_found', 'Service resource not found'],
          'byuser',
        );
        expectOk(await h.admin.call('GET', '/users/bob'), 'bob still there');
        const details = await h.admin.call('GET', `/chatrooms/${h.room}`);
        expectOk(details, 'room still there');
        assert.equal(details.body.data[0].affiliations_count, 3);
      });
    });
  });
}
