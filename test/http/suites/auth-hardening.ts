import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { appToken, makeApp, userToken, type TestApp } from '../../support/apps.js';
import { at } from '../../support/at.js';
import { call, client, type Client } from '../../support/client.js';
import { dropAppKeys } from '../../support/redis-keys.js';
import { startTarget, type ServerHandle, type Target } from '../../support/server.js';
import {
  cheaperInSomeRound,
  chatApp,
  CORRUPT,
  expectError,
  heapAfterGc,
  inParallel,
  mint,
  OAUTH,
  PASSWORD,
  rtc,
} from './hardening-helpers.js';
import { loginHardeningTests } from './login-hardening.js';

const DEFAULT_TTL = 60 * 24 * 3600;
const MAX_TTL = 31_536_000;
const BOMB_CHARS = 15_000;

/** Distinct 007 tokens of about BOMB_CHARS characters that each inflate to about 11 MB. */
function inflateBombs(n: number): string[] {
  const zeros = Buffer.alloc(11_000_000);
  return Array.from({ length: n }, () => `007${deflateSync(Buffer.concat([zeros, randomBytes(8)])).toString('base64')}`);
}

/** Distinct "007" + random base64 of `length` characters: refused at once by inflate's header check. */
function garbage007(length: number): string {
  return `007${randomBytes(length)
    .toString('base64')
    .slice(0, length - 3)}`;
}

/** An issued app token of `app`, signed as roomkv signs them, with `extra` claims in its payload. */
function issuedWith(app: TestApp, extra: Record<string, unknown>): string {
  const payload = Buffer.from(JSON.stringify({ a: app.appId, t: 'a', e: Date.now() + 3_600_000, ...extra })).toString('base64url');
  const key = createHmac('sha256', app.appCertificate).update('roomkv issued token v1').digest();
  return `YWMt${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

/** Security hardening of authentication (issue "roomkv must be safe to expose to the internet"). */
export function authHardeningSuite(target: Target): void {
  describe(`auth hardening [${target.name}]`, () => {
    tokenHardeningTests(target);
    consoleHardeningTests(target);
    loginHardeningTests(target);
  });
}

function tokenHardeningTests(target: Target): void {
  describe('tokens and the token route', () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 1_000_000 } });
    const prefix = `/${app.org}/${app.app}`;
    let server: ServerHandle;
    let admin: Client;
    let room: string;
    const read = (token: string) => call(server.url, 'POST', `${prefix}/metadata/chatroom/${room}`, { token, body: {} });
    const grant = (body: Record<string, unknown>, token?: string) => call(server.url, 'POST', `${prefix}/token`, { token, body });
    const credentials = () => ({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret });

    before(async () => {
      server = await startTarget(target, [app]);
      admin = client(server.url, prefix, appToken(app));
      const reg = await admin.call('POST', '/users', {
        body: ['alice', 'bob', 'zed'].map((username) => ({ username, password: PASSWORD })),
      });
      assert.equal(reg.status, 200, reg.text);
      const created = await admin.call('POST', '/chatrooms', {
        body: { name: 'r', description: 'd', owner: 'alice', members: ['bob', 'zed'] },
      });
      assert.equal(created.status, 200, created.text);
      room = created.body.data.id;
    });
    after(async () => {
      await server.close();
      await dropAppKeys(target, [app.appId]);
    });

    it('a validly signed 007 token longer than 2,048 characters is 401 corrupt; a multi-service token under it works', async () => {
      const small = mint(app, rtc('channel-1'), chatApp());
      assert.equal((await read(small)).status, 200, 'RTC + Chat token');
      // Random base64 hardly compresses: the token is long while its content stays under 4 KB.
      const long = mint(app, rtc(randomBytes(1800).toString('base64')), chatApp());
      assert.ok(long.length > 2048 && inflateSync(Buffer.from(long.slice(3), 'base64')).length < 4096, String(long.length));
      expectError(await read(long), 401, CORRUPT, 'long token, attribute route');
      expectError(await grant({ grant_type: 'agora' }, long), 401, CORRUPT, 'long token, agora grant');
    });

    it('a validly signed 007 token whose content inflates past 4 KB is 401 corrupt', async () => {
      const bomb = mint(app, rtc('a'.repeat(20_000)), chatApp());
      assert.ok(bomb.length < 2048, String(bomb.length));
      expectError(await read(bomb), 401, CORRUPT, 'small bomb, attribute route');
      expectError(await grant({ grant_type: 'agora' }, bomb), 401, CORRUPT, 'small bomb, agora grant');
    });

    it('an issued token longer than 2,048 characters is 401 corrupt even when validly signed', async () => {
      assert.equal((await read(issuedWith(app, {}))).status, 200, 'a signed issued token');
      const padded = issuedWith(app, { pad: 'x'.repeat(3000) });
      expectError(await read(padded), 401, CORRUPT, 'padded issued token');
      expectError(await admin.as(padded).call('GET', '/users/alice'), 401, CORRUPT, 'padded issued token, admin route');
    });

    it('distinct 15 KB inflate-bomb tokens cost no more than distinct garbage tokens of the same length (median < 3x)', async (t) => {
      const n = 15;
      // Fresh tokens each round (made when the round starts): a refusal may be cached, and the
      // cached answer costs nothing.
      const bombs: string[][] = [];
      const junk: string[][] = [];
      const refused = async (token: string) => assert.equal((await read(token)).status, 401);
      await cheaperInSomeRound(
        t,
        ['bomb', 'garbage'],
        3,
        n,
        (round, i) => {
          if (i === 0) bombs[round] = inflateBombs(n);
          return refused(bombs[round]![i]!);
        },
        (round, i) => {
          if (i === 0) junk[round] = bombs[round]!.map((b) => garbage007(b.length));
          return refused(junk[round]![i]!);
        },
      );
    });

    it('a stream of distinct refused 15 KB tokens leaves the heap where the same token repeated does', async (t) => {
      const n = 1000;
      const send = (tokens: () => string) =>
        inParallel(
          16,
          Array.from({ length: n }, () => async () => {
            const res = await call(server.url, 'GET', `${prefix}/users/alice`, { token: tokens() });
            assert.equal(res.status, 401, res.text);
          }),
        );
      const repeated = garbage007(BOMB_CHARS);
      await send(() => repeated);
      const start = heapAfterGc();
      await send(() => repeated);
      const control = heapAfterGc() - start;
      await send(() => garbage007(BOMB_CHARS));
      const distinct = heapAfterGc() - start - control;
      t.diagnostic(`heap growth: repeated ${(control / 1e6).toFixed(1)} MB, distinct ${(distinct / 1e6).toFixed(1)} MB`);
      // Old code kept each token (n x 15 KB = 15 MB); a quarter of that is far above noise.
      assert.ok(
        distinct - control < 0.25 * n * BOMB_CHARS,
        `distinct refused tokens grew the heap by ${distinct} bytes (repeated: ${control})`,
      );
    });

    it('the token route takes a body of at most 4 KiB: more is 413 in the Agora envelope; other routes keep the server limit', async () => {
      assert.equal((await grant(credentials())).status, 200);
      const big = await grant({ ...credentials(), pad: 'x'.repeat(5000) });
      expectError(big, 413, ['request_entity_too_large', 'Request body is larger than 4096 bytes'], 'token body of 5 KB');
      assert.equal(typeof big.body.timestamp, 'number');
      const value = 'v'.repeat(4086);
      const set = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { k1: value, k2: value } } });
      assert.equal(set.status, 200, set.text.slice(0, 300));
    });

    it('error descriptions of the token route repeat at most a short piece of the input', async () => {
      const grantType = 'g'.repeat(3000);
      const res = await grant({ grant_type: grantType });
      assert.equal(res.status, 400, res.text.slice(0, 300));
      assert.equal(res.body.error, 'unsupported_grant_type');
      assert.ok(res.body.error_description.startsWith(`grant_type ${'g'.repeat(64)}`), res.body.error_description);
      assert.ok(res.text.length < 400, `answer of ${res.text.length} characters`);
      for (const body of [
        { grant_type: 'password', username: 'U'.repeat(3000), password: PASSWORD },
        { grant_type: 'inherit', username: 'U'.repeat(3000) },
      ]) {
        const refused = await grant(body, appToken(app));
        assert.equal(refused.status, 400, refused.text.slice(0, 300));
        assert.equal(refused.body.error, 'illegal_argument');
        assert.ok(refused.text.length < 400, `${body.grant_type}: answer of ${refused.text.length} characters`);
      }
    });

    it('ttl is bounded by tokenMaxTtlS: beyond it, or not a non-negative integer, is 400 illegal_argument naming ttl', async () => {
      const bodies = [
        credentials(),
        { grant_type: 'password', username: 'alice', password: PASSWORD },
        { grant_type: 'inherit', username: 'alice' },
      ];
      for (const body of bodies) {
        const what = body.grant_type;
        for (const ttl of [1e308, 1e12, MAX_TTL + 1, -1, 1.5, '60', null]) {
          const res = await grant({ ...body, ttl }, appToken(app));
          assert.equal(res.status, 400, `${what}, ttl ${ttl}: ${res.text}`);
          assert.equal(res.body.error, 'illegal_argument', `${what}, ttl ${ttl}`);
          assert.match(res.body.error_description, /ttl/, `${what}, ttl ${ttl}`);
        }
        const longest = await grant({ ...body, ttl: MAX_TTL }, appToken(app));
        assert.equal(longest.status, 200, `${what}: ${longest.text}`);
        assert.equal(longest.body.expires_in, MAX_TTL);
        assert.equal((await read(longest.body.access_token)).status, 200, `${what}: the longest-lived token works`);
        for (const ttl of [0, undefined]) {
          const res = await grant({ ...body, ttl }, appToken(app));
          assert.equal(res.body.expires_in, DEFAULT_TTL, `${what}, ttl ${ttl}`);
        }
      }
    });

    it('an issued user token opens only the user it was issued to: not once deleted, nor a new user of the same name', async () => {
      const login = async () => {
        const res = await grant({ grant_type: 'password', username: 'zed', password: PASSWORD });
        assert.equal(res.status, 200, res.text);
        return res.body.access_token as string;
      };
      const old = await login();
      assert.equal((await read(old)).status, 200, 'before the user is deleted');
      assert.equal((await admin.call('DELETE', '/users/zed')).status, 200);
      expectError(await read(old), 401, OAUTH, 'user deleted');
      assert.equal((await admin.call('POST', '/users', { body: { username: 'zed', password: PASSWORD } })).status, 200);
      assert.equal((await admin.call('POST', `/chatrooms/${room}/users/zed`)).status, 200);
      expectError(await read(old), 401, OAUTH, 'a new user of the same name');
      expectError(
        await call(server.url, 'PUT', `${prefix}/metadata/chatroom/${room}/user/zed`, { token: old, body: { metaData: { k: 'v' } } }),
        401,
        OAUTH,
        'set as the new zed',
      );
      assert.equal((await read(await login())).status, 200, "the new user's own token");
      assert.equal((await read(userToken(app, 'zed'))).status, 200, 'a 007 user token of the name');
    });
  });
}

function consoleHardeningTests(target: Target): void {
  describe('GET /console/apps', () => {
    // Many apps: the old route verified a token against each of them.
    const apps = Array.from({ length: 300 }, () => makeApp());
    const [first, named] = [at(apps, 0), at(apps, 150)];
    let server: ServerHandle;
    const opened = async (token: string | undefined) => {
      const res = await call(server.url, 'GET', '/console/apps', { token });
      assert.equal(res.status, 200, res.text);
      return (res.body.apps as Array<{ appId: string }>).map((a) => a.appId);
    };

    before(async () => {
      server = await startTarget(target, apps);
    });
    after(async () => {
      await server.close();
      await dropAppKeys(
        target,
        apps.map((a) => a.appId),
      );
    });

    it('verifies a token against the one app it names: with 300 apps it costs about what a tenant route does (median < 5x)', async (t) => {
      assert.deepEqual(await opened(appToken(named)), [named.appId], '007 app token');
      const issued = await call(server.url, 'POST', `/${first.org}/${first.app}/token`, {
        body: { grant_type: 'client_credentials', client_id: first.clientId, client_secret: first.clientSecret },
      });
      assert.deepEqual(await opened(issued.body.access_token), [first.appId], 'issued app token');
      assert.deepEqual(await opened(userToken(named, 'alice')), [], 'user token');
      assert.deepEqual(await opened('garbage'), [], 'garbage');
      assert.deepEqual(await opened(undefined), [], 'no token');
      // Distinct forged tokens (right App ID, wrong certificate), so no answer comes from the cache.
      const n = 60;
      const forged = () =>
        Array.from({ length: n }, () => mint({ appId: named.appId, appCertificate: randomBytes(16).toString('hex') }, chatApp()));
      const [viaConsole, viaTenant] = [[0, 1, 2].map(forged), [0, 1, 2].map(forged)];
      // The old route, verifying against all 300 apps, took 12 to 17 times the tenant route.
      await cheaperInSomeRound(
        t,
        ['console', 'tenant route'],
        5,
        n,
        async (round, i) => assert.deepEqual(await opened(viaConsole[round]![i]), []),
        async (round, i) =>
          expectError(
            await call(server.url, 'GET', `/${named.org}/${named.app}/users/alice`, { token: viaTenant[round]![i] }),
            401,
            OAUTH,
            'tenant',
          ),
      );
    });
  });
}
