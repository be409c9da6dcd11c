import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../../support/apps.js';
import { call } from '../../support/client.js';
import type { Target } from '../../support/server.js';
import {
  APP_ID_AT,
  APP_TOKEN_REQUIRED,
  authFixture,
  CHAT,
  chatApp,
  chatUser,
  CORRUPT,
  craft,
  expectError,
  expectOk,
  EXPIRE_AT,
  EXPIRED,
  flipChar,
  mint,
  nowSec,
  OAUTH,
  OTHERS,
  PASSWORD,
  PRIV_APP,
  PRIV_USER,
  rewrite,
  rtc,
  serviceBytes,
  SIG_AT,
} from './auth-support.js';

/** The token error table of spec section 2 (see authFixture): which refusal each bad token gets, on every kind of route. */
export function authTokenTableSuite(target: Target): void {
  describe(`authentication [${target.name}]`, () => {
    const h = authFixture(target);
    const { app, other, prefix, roomPath, as, getAttrs, expectRefused } = h;

    describe('the token error table', () => {
      it('a missing Authorization header is 401 expired on every kind of route', async () => {
        await expectRefused(undefined, EXPIRED, {}, 'no header');
      });

      it('Bearer with an empty token is 401 expired, like a missing one', async () => {
        // HTTP drops trailing whitespace from header values: the server receives `Bearer`.
        await expectRefused(undefined, EXPIRED, { Authorization: 'Bearer ' }, 'Bearer + empty');
      });

      it('a scheme other than Bearer is 401 corrupt, even around a valid token', async () => {
        await expectRefused(undefined, CORRUPT, { Authorization: 'Basic abc' }, 'Basic abc');
        await expectRefused(undefined, CORRUPT, { Authorization: `Basic ${appToken(app)}` }, 'Basic + valid token');
        await expectRefused(undefined, CORRUPT, { Authorization: appToken(app) }, 'no scheme');
        // Decided from the code: the scheme is matched exactly, so `bearer` is not `Bearer`.
        await expectRefused(undefined, CORRUPT, { Authorization: `bearer ${appToken(app)}` }, 'lower-case bearer');
      });

      it('garbage after Bearer is 401 corrupt', async () => {
        await expectRefused('007' + 'not-base64-deflate!!', CORRUPT, {}, '007 + junk');
        await expectRefused(`007${Buffer.from('plain, not deflated').toString('base64')}`, CORRUPT, {}, '007 + undeflated');
        await expectRefused(randomBytes(24).toString('hex'), CORRUPT, {}, 'random string');
        await expectRefused('YWMtjunk', CORRUPT, {}, 'issued-token prefix + junk');
      });

      it('an expired 007 app or user token is 401 expired', async () => {
        const issued = nowSec() - 7200;
        await expectRefused(mint(app, issued, 3600, chatApp(3600)), EXPIRED, {}, 'app token');
        await expectRefused(mint(app, issued, 3600, chatUser('alice', 3600)), EXPIRED, {}, 'user token');
        // The overall expiry governs too: a privilege that outlives the token does not save it.
        await expectRefused(mint(app, issued, 3600, chatApp(86_400)), EXPIRED, {}, 'long privilege, short token');
      });

      it("another app's token and a token signed with another certificate are 401 OAuth", async () => {
        await expectRefused(appToken(makeApp()), OAUTH, {}, 'unknown app id');
        await expectRefused(appToken(other), OAUTH, {}, 'other app on the same server');
        await expectRefused(userToken(other, 'alice'), OAUTH, {}, 'other app user token');
        await expectRefused(appToken({ ...app, appCertificate: randomBytes(16).toString('hex') }), OAUTH, {}, 'other certificate');
        // The same token string stays valid for its own app: refusals are per app.
        const token = appToken(other);
        expectError(await as(token).call('GET', '/users/alice'), 401, OAUTH, 'at app');
        expectOk(await h.otherAdmin.as(token).call('GET', '/users/alice'), 'at its own app');
      });

      it('a changed character inside a valid token is refused, corrupt or OAuth by where it lands', async () => {
        const valid = appToken(app);
        expectOk(await as(valid).call('GET', '/users/alice'), 'the untouched token');
        // Inside the deflate stream: inflation (or its checksum) fails, the token cannot be parsed.
        await expectRefused(flipChar(valid, 20), CORRUPT, {}, 'base64 character of the compressed body');
        await expectRefused(`006${valid.slice(3)}`, CORRUPT, {}, 'version prefix');
        // Inside the parsed content: still well-formed, but the signature no longer matches.
        await expectRefused(
          rewrite(valid, (c) => {
            c[SIG_AT + 5]! ^= 0x01;
          }),
          OAUTH,
          {},
          'signature byte',
        );
        await expectRefused(
          rewrite(valid, (c) => {
            c.writeUInt32LE(c.readUInt32LE(EXPIRE_AT) + 86_400, EXPIRE_AT);
          }),
          OAUTH,
          {},
          'extended expiry',
        );
        await expectRefused(
          rewrite(valid, (c) => {
            c[APP_ID_AT] = c[APP_ID_AT] === 0x61 ? 0x62 : 0x61;
          }),
          OAUTH,
          {},
          'app id hex digit',
        );
      });

      it('a token with only an RTC service is 401 OAuth', async () => {
        await expectRefused(mint(app, nowSec(), 3600, rtc(3600)), OAUTH, {}, 'rtc only');
      });

      it('an RTC + Chat token is accepted and uses its Chat service', async () => {
        const appWide = mint(app, nowSec(), 3600, rtc(3600), chatApp(3600));
        expectOk(await as(appWide).call('GET', '/users/alice'), 'rtc + chat app token on an admin route');
        const bobs = mint(app, nowSec(), 3600, chatUser('bob', 3600), rtc(3600));
        expectOk(await as(bobs).call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { multi: 'bob' } } }), 'rtc + chat user token');
        expectError(
          await as(bobs).call('PUT', `${roomPath()}/user/alice`, { body: { metaData: { multi2: 'x' } } }),
          403,
          OTHERS,
          'as alice',
        );
        expectError(await as(bobs).call('GET', '/users/alice'), 403, APP_TOKEN_REQUIRED, 'on an admin route');
        assert.equal((await getAttrs()).multi, 'bob');
      });

      it('a crafted token with the spec layout is accepted (the crafting is right)', async () => {
        const token = craft(app, nowSec(), 3600, [serviceBytes(CHAT, [[PRIV_APP, 3600]], '')]);
        expectOk(await as(token).call('GET', '/users/alice'), 'crafted app token');
        const daveToken = craft(app, nowSec(), 3600, [serviceBytes(CHAT, [[PRIV_USER, 3600]], 'dave')]);
        expectOk(await as(daveToken).call('POST', roomPath(), { body: {} }), 'crafted user token');
      });

      it('a properly signed token with an unknown service type is 401 corrupt', async () => {
        const unknown = serviceBytes(99, [[1, 3600]], 'x');
        await expectRefused(craft(app, nowSec(), 3600, [unknown]), CORRUPT, {}, 'unknown service alone');
        // Chat parses first and the package stops quietly at the unknown type: still corrupt.
        const chatFirst = craft(app, nowSec(), 3600, [serviceBytes(CHAT, [[PRIV_APP, 3600]], ''), unknown]);
        await expectRefused(chatFirst, CORRUPT, {}, 'chat then unknown');
        const unknownFirst = craft(app, nowSec(), 3600, [unknown, serviceBytes(CHAT, [[PRIV_APP, 3600]], '')]);
        await expectRefused(unknownFirst, CORRUPT, {}, 'unknown then chat');
      });

      it('an expired Chat privilege inside a token that has not expired is 401 expired', async () => {
        const issued = nowSec() - 600;
        await expectRefused(mint(app, issued, 3600, chatApp(300)), EXPIRED, {}, 'app privilege');
        await expectRefused(mint(app, issued, 3600, chatUser('alice', 300)), EXPIRED, {}, 'user privilege');
        // The RTC privilege is still good: only the Chat one counts.
        await expectRefused(mint(app, issued, 3600, rtc(3600), chatApp(300)), EXPIRED, {}, 'rtc ok, chat expired');
      });

      it('a Chat privilege expiry of 0 counts as expired', async () => {
        await expectRefused(mint(app, nowSec(), 3600, chatApp(0)), EXPIRED, {}, 'app privilege 0');
        await expectRefused(mint(app, nowSec(), 3600, chatUser('alice', 0)), EXPIRED, {}, 'user privilege 0');
      });

      it('a refused call changes nothing', async () => {
        const bad = [undefined, 'garbage', appToken(other), mint(app, nowSec() - 7200, 3600, chatApp(3600))];
        for (const token of bad) {
          const res = await call(h.server.url, 'PUT', `${prefix}${roomPath()}/user/alice/forced`, {
            token,
            body: { metaData: { refused: 'x' } },
          });
          assert.equal(res.status, 401, String(token));
          assert.equal(
            (await call(h.server.url, 'POST', `${prefix}/users`, { token, body: { username: 'refused', password: PASSWORD } })).status,
            401,
          );
        }
        assert.equal((await getAttrs()).refused, undefined);
        expectError(await h.admin.call('GET', '/users/refused'), 404, ['service_resource_not_found', 'Service resource not found'], 'user');
      });
    });
  });
}
