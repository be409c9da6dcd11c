import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken } from '../../support/apps.js';
import { call, client } from '../../support/client.js';
import { startTarget, type Target } from '../../support/server.js';
import {
  APP_TOKEN_REQUIRED,
  authFixture,
  chatApp,
  CORRUPT,
  DEFAULT_TTL,
  expectError,
  expectOk,
  EXPIRED,
  flipChar,
  mint,
  NOT_IN_ROOM,
  nowSec,
  OAUTH,
  OTHERS,
  PASSWORD,
} from './auth-support.js';

/** POST .../token (spec section 2, see authFixture): every grant, the issued tokens, their restart and the /app-id/ prefix. */
export function authGrantsSuite(target: Target): void {
  describe(`authentication [${target.name}]`, () => {
    const h = authFixture(target);
    const { app, other, uuids, entities, roomPath, as, getAttrs, grant, expectRefused } = h;

    describe('POST .../token', () => {
      it('client_credentials issues an app token for 60 days by default', async () => {
        const res = await grant({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret });
        expectOk(res, 'grant');
        assert.equal(typeof res.body.access_token, 'string');
        assert.ok(res.body.access_token.length > 0);
        assert.equal(res.body.expires_in, DEFAULT_TTL);
        assert.equal(res.body.expires_in, 5_184_000);
        assert.equal(
          res.body.application,
          `${app.appId.slice(0, 8)}-${app.appId.slice(8, 12)}-${app.appId.slice(12, 16)}-${app.appId.slice(16, 20)}-${app.appId.slice(20)}`,
        );
        expectOk(await as(res.body.access_token).call('GET', '/users/alice'), 'the issued token');
      });

      it('client_credentials honours ttl', async () => {
        for (const ttl of [1, 120, 7 * 24 * 3600]) {
          const res = await grant({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, ttl });
          expectOk(res, `ttl ${ttl}`);
          assert.equal(res.body.expires_in, ttl);
        }
        const res = await grant({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, ttl: 120 });
        expectOk(await as(res.body.access_token).call('GET', '/users/alice'), 'ttl 120 token');
      });

      it('client_credentials with a wrong secret or client id is 400 invalid_grant', async () => {
        const wrong = [
          { client_id: app.clientId, client_secret: `${app.clientSecret}x` },
          { client_id: app.clientId, client_secret: other.clientSecret },
          { client_id: other.clientId, client_secret: app.clientSecret },
          { client_id: other.clientId, client_secret: other.clientSecret },
        ];
        for (const creds of wrong) {
          const res = await grant({ grant_type: 'client_credentials', ...creds });
          expectError(res, 400, ['invalid_grant', 'invalid client credentials'], JSON.stringify(creds));
          assert.equal(res.body.access_token, undefined);
        }
      });

      it('an issued app token works on every route', async () => {
        const res = await grant({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret });
        const c = as(res.body.access_token);
        const step = async (method: string, path: string, body?: unknown) => {
          const r = await c.call(method, path, { body });
          expectOk(r, `${method} ${path}`);
          return r;
        };
        await step('POST', '/users', [
          { username: 'ev1', password: PASSWORD },
          { username: 'ev2', password: PASSWORD },
          { username: 'ev3', password: PASSWORD },
        ]);
        await step('GET', '/users/ev1');
        const id = (await step('POST', '/chatrooms', { name: 'every', description: 'route', owner: 'ev1' })).body.data.id as string;
        await step('GET', `/chatrooms/${id}`);
        await step('POST', `/chatrooms/${id}/users/ev2`);
        await step('POST', `/chatrooms/${id}/users`, { usernames: ['ev3'] });
        assert.equal((await step('GET', `/chatrooms/${id}/users`)).body.count, 3);
        const set = await step('PUT', `/metadata/chatroom/${id}/user/ev1`, { metaData: { k1: 'v1', k2: 'v2' } });
        assert.deepEqual(set.body.data.successKeys, ['k1', 'k2']);
        await step('PUT', `/metadata/chatroom/${id}/user/ev2/forced`, { metaData: { k2: 'ev2' } });
        assert.deepEqual((await step('POST', `/metadata/chatroom/${id}`, { keys: ['k1', 'k2'] })).body.data, { k1: 'v1', k2: 'ev2' });
        assert.deepEqual((await step('DELETE', `/metadata/chatroom/${id}/user/ev1`, { keys: ['k1'] })).body.data.successKeys, ['k1']);
        assert.deepEqual((await step('DELETE', `/metadata/chatroom/${id}/user/admin/forced`, { keys: ['k2'] })).body.data.successKeys, [
          'k2',
        ]);
        await step('DELETE', `/chatrooms/${id}/users/ev3`);
        await step('DELETE', `/chatrooms/${id}/users/ev2,ev1`);
        await step('POST', '/token', { grant_type: 'inherit', username: 'ev2' });
        await step('DELETE', `/chatrooms/${id}`);
        await step('DELETE', '/users/ev3');
        expectError(
          await h.admin.call('GET', '/users/ev3'),
          404,
          ['service_resource_not_found', 'Service resource not found'],
          'deleted user',
        );
      });

      it('the agora grant exchanges a 007 app token for one that expires with it', async () => {
        const issueTs = nowSec();
        const token = mint(app, issueTs, 3600, chatApp(3600));
        const res = await grant({ grant_type: 'agora' }, token);
        expectOk(res, 'agora grant');
        assert.equal(typeof res.body.access_token, 'string');
        assert.notEqual(res.body.access_token, token);
        assert.ok(Math.abs(res.body.expire_timestamp - (issueTs + 3600) * 1000) <= 1000, String(res.body.expire_timestamp));
        // A Chat privilege shorter than the token bounds it.
        const shorter = await grant({ grant_type: 'agora' }, mint(app, issueTs, 3600, chatApp(600)));
        expectOk(shorter, 'shorter privilege');
        assert.ok(Math.abs(shorter.body.expire_timestamp - (issueTs + 600) * 1000) <= 1000, String(shorter.body.expire_timestamp));
        const c = as(res.body.access_token);
        expectOk(await c.call('GET', '/users/alice'), 'admin route');
        expectOk(await c.call('POST', roomPath(), { body: {} }), 'attribute route');
      });

      it('the agora grant refuses a missing, expired or foreign 007 token by the table', async () => {
        expectError(await grant({ grant_type: 'agora' }), 401, EXPIRED, 'no header');
        expectError(await grant({ grant_type: 'agora' }, mint(app, nowSec() - 7200, 3600, chatApp(3600))), 401, EXPIRED, 'expired');
        expectError(await grant({ grant_type: 'agora' }, 'garbage'), 401, CORRUPT, 'garbage');
        expectError(await grant({ grant_type: 'agora' }, appToken(other)), 401, OAUTH, 'other app');
      });

      it('the password grant issues a user token with the user entity', async () => {
        const res = await grant({ grant_type: 'password', username: 'carol', password: PASSWORD });
        expectOk(res, 'password grant');
        assert.equal(typeof res.body.access_token, 'string');
        assert.equal(res.body.expires_in, DEFAULT_TTL);
        assert.deepEqual(res.body.user, entities.carol);
        assert.deepEqual(Object.keys(res.body.user).sort(), ['activated', 'created', 'modified', 'type', 'username', 'uuid']);
        assert.equal(res.body.user.type, 'user');
        assert.equal(res.body.user.activated, true);
        const withTtl = await grant({ grant_type: 'password', username: 'CAROL', password: PASSWORD, ttl: 90 });
        expectOk(withTtl, 'capitalised username, ttl');
        assert.equal(withTtl.body.expires_in, 90);
        assert.equal(withTtl.body.user.uuid, uuids.carol);
      });

      it('the password grant refuses a wrong password and an unknown user alike (400 invalid password)', async () => {
        expectError(
          await grant({ grant_type: 'password', username: 'carol', password: 'wrong-pw' }),
          400,
          ['invalid_grant', 'invalid password'],
          'wrong',
        );
        // An unknown user is not told apart from a wrong password, so usernames cannot be probed.
        expectError(
          await grant({ grant_type: 'password', username: 'nobody', password: PASSWORD }),
          400,
          ['invalid_grant', 'invalid password'],
          'unknown',
        );
        // A user of another app is unknown here.
        expectOk(await h.otherAdmin.call('POST', '/users', { body: { username: 'onlyother', password: PASSWORD } }), 'other app user');
        expectError(
          await grant({ grant_type: 'password', username: 'onlyother', password: PASSWORD }),
          400,
          ['invalid_grant', 'invalid password'],
          'other app user',
        );
      });

      it('an issued user token acts only as its own user', async () => {
        const token = (await grant({ grant_type: 'password', username: 'bob', password: PASSWORD })).body.access_token as string;
        const bob = as(token);
        const set = await bob.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { issuedbob: '1' } } });
        expectOk(set, 'as itself');
        assert.deepEqual(set.body.data, { successKeys: ['issuedbob'], errorKeys: {} });
        expectOk(await bob.call('POST', roomPath(), { body: { keys: ['issuedbob'] } }), 'get as member');
        expectError(await bob.call('PUT', `${roomPath()}/user/alice`, { body: { metaData: { x: '1' } } }), 403, OTHERS, 'set as alice');
        expectError(
          await bob.call('DELETE', `${roomPath()}/user/admin/forced`, { body: { keys: ['issuedbob'] } }),
          403,
          OTHERS,
          'forced delete as admin',
        );
        expectError(await bob.call('GET', '/users/bob'), 403, APP_TOKEN_REQUIRED, 'admin route');
        expectError(
          await bob.call('POST', '/token', { body: { grant_type: 'inherit', username: 'alice' } }),
          403,
          APP_TOKEN_REQUIRED,
          'inherit',
        );
        const carol = as((await grant({ grant_type: 'password', username: 'carol', password: PASSWORD })).body.access_token);
        expectError(await carol.call('POST', roomPath(), { body: {} }), 401, NOT_IN_ROOM, 'non-member get');
        assert.equal((await getAttrs()).issuedbob, '1');
      });

      it('inherit with an app token issues a token for an existing user', async () => {
        const res = await grant({ grant_type: 'inherit', username: 'dave', ttl: 300 }, appToken(app));
        expectOk(res, 'inherit');
        assert.equal(res.body.expires_in, 300);
        assert.deepEqual(res.body.user, entities.dave);
        const dave = as(res.body.access_token);
        expectOk(await dave.call('PUT', `${roomPath()}/user/dave`, { body: { metaData: { inherited: 'd' } } }), 'acts as dave');
        expectError(
          await dave.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { inherited2: 'd' } } }),
          403,
          OTHERS,
          'not as bob',
        );
        const byDefault = await grant({ grant_type: 'inherit', username: 'dave' }, appToken(app));
        assert.equal(byDefault.body.expires_in, DEFAULT_TTL);
      });

      it('inherit of an unknown user is 404 and creates nobody', async () => {
        expectError(
          await grant({ grant_type: 'inherit', username: 'ghost' }, appToken(app)),
          404,
          ['invalid_grant', 'user not found'],
          'no flag',
        );
        expectError(
          await grant({ grant_type: 'inherit', username: 'ghost', autoCreateUser: false }, appToken(app)),
          404,
          ['invalid_grant', 'user not found'],
          'false',
        );
        expectError(await h.admin.call('GET', '/users/ghost'), 404, ['service_resource_not_found', 'Service resource not found'], 'ghost');
      });

      it('inherit with autoCreateUser creates the user', async () => {
        const res = await grant({ grant_type: 'inherit', username: 'Newbie', autoCreateUser: true }, appToken(app));
        expectOk(res, 'inherit + create');
        assert.equal(res.body.user.username, 'newbie');
        assert.equal(res.body.user.type, 'user');
        assert.equal(res.body.user.activated, true);
        const got = await h.admin.call('GET', '/users/newbie');
        expectOk(got, 'the new user');
        assert.deepEqual(got.body.entities[0], res.body.user);
        // A second call finds the same user.
        const again = await grant({ grant_type: 'inherit', username: 'newbie', autoCreateUser: true }, appToken(app));
        assert.equal(again.body.user.uuid, res.body.user.uuid);
      });

      it('an issued token of another app is 401 OAuth', async () => {
        const foreign = await grant(
          { grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret },
          undefined,
          h.otherAdmin.as(undefined),
        );
        expectOk(foreign, 'other app grant');
        expectOk(await h.otherAdmin.as(foreign.body.access_token).call('GET', '/users/alice'), 'at its own app');
        await expectRefused(foreign.body.access_token, OAUTH, {}, 'other app app token');
        const foreignUser = await grant(
          { grant_type: 'password', username: 'alice', password: PASSWORD },
          undefined,
          h.otherAdmin.as(undefined),
        );
        expectOk(foreignUser, 'other app password grant');
        expectError(await as(foreignUser.body.access_token).call('POST', roomPath(), { body: {} }), 401, OAUTH, 'other app user token');
      });

      it('an issued token expires after its ttl, and tampering cannot extend it', async () => {
        // Not waited for: the ttl is checked in the answer, and a token whose expiry is rewritten
        // (roomkv's issued format: "YWMt" + base64url(JSON claims) + "." + signature) is refused.
        const res = await grant({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, ttl: 1 });
        expectOk(res, 'ttl 1');
        assert.equal(res.body.expires_in, 1);
        const token = res.body.access_token as string;
        const dot = token.indexOf('.');
        assert.ok(token.startsWith('YWMt') && dot > 4, token);
        const claims = JSON.parse(Buffer.from(token.slice(4, dot), 'base64url').toString('utf8')) as { e: number };
        assert.ok(Math.abs(claims.e - (Date.now() + 1000)) < 5000, 'expiry claim is ttl seconds ahead');
        const extended = `YWMt${Buffer.from(JSON.stringify({ ...claims, e: Date.now() + 86_400_000 })).toString('base64url')}${token.slice(dot)}`;
        await expectRefused(extended, OAUTH, {}, 'extended expiry');
        await expectRefused(flipChar(token, token.length - 3), OAUTH, {}, 'signature character');
        await expectRefused(token.slice(0, dot), CORRUPT, {}, 'signature cut off');
      });
    });

    it('issued tokens survive a restart on the same data dir', async () => {
      const solo = makeApp();
      const dataDir = tempDir();
      const first = await startTarget(target, [solo], { dataDir });
      let token: string;
      try {
        const p = `/${solo.org}/${solo.app}`;
        const res = await call(first.url, 'POST', `${p}/token`, {
          body: { grant_type: 'client_credentials', client_id: solo.clientId, client_secret: solo.clientSecret },
        });
        expectOk(res, 'grant');
        token = res.body.access_token;
        expectOk(await call(first.url, 'POST', `${p}/users`, { token, body: { username: 'survivor', password: PASSWORD } }), 'register');
      } finally {
        await first.close();
      }
      const second = await startTarget(target, [solo], { dataDir });
      try {
        const c = client(second.url, `/${solo.org}/${solo.app}`, token);
        const got = await c.call('GET', '/users/survivor');
        expectOk(got, 'after restart');
        assert.equal(got.body.entities[0].username, 'survivor');
        expectOk(await c.call('POST', '/users', { body: { username: 'afterwards', password: PASSWORD } }), 'write after restart');
      } finally {
        await second.close();
      }
    });

    it('the /app-id/{appId} prefix checks tokens the same way', async () => {
      const byId = client(h.server.url, `/app-id/${app.appId}`, undefined);
      const res = await byId.call('POST', '/token', {
        body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
      });
      expectOk(res, 'grant under app-id');
      assert.equal(res.body.expires_in, DEFAULT_TTL);
      const issued = res.body.access_token as string;
      expectOk(await byId.as(issued).call('GET', '/users/alice'), 'issued token under app-id');
      expectOk(await as(issued).call('GET', '/users/alice'), 'the same token under org/app');
      expectOk(await byId.as(appToken(app)).call('POST', roomPath(), { body: {} }), '007 app token under app-id');
      expectError(await byId.call('GET', '/users/alice'), 401, EXPIRED, 'no header');
      expectError(await byId.as('garbage').call('GET', '/users/alice'), 401, CORRUPT, 'garbage');
      expectError(await byId.as(appToken(other)).call('GET', '/users/alice'), 401, OAUTH, 'other app');
      expectError(await byId.as(userToken(app, 'alice')).call('GET', '/users/alice'), 403, APP_TOKEN_REQUIRED, 'user token on admin route');
      expectError(
        await byId.as(userToken(app, 'alice')).call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { x: '1' } } }),
        403,
        OTHERS,
        'as another',
      );
    });
  });
}
