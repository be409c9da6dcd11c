import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { appToken, makeApp, tempDir, userToken, type TestApp } from '../../support/apps.js';
import { call, client, type Client, type Reply } from '../../support/client.js';
import { startTarget, type ServerHandle, type Target } from '../../support/server.js';

// The package's AccessToken2 builds tokens with any issueTs and any mix of services, so expired
// and multi-service tokens are made without sleeping. It is CommonJS without types.
const require = createRequire(import.meta.url);
interface Service007 {
  add_privilege(privilege: number, expire: number): void;
}
const AT2 = require('agora-token/src/AccessToken2.js') as {
  AccessToken2: new (
    appId: string,
    appCertificate: string,
    issueTs: number,
    expire: number,
  ) => {
    add_service(s: Service007): void;
    build(): string;
  };
  ServiceChat: new (userId?: string) => Service007;
  ServiceRtc: new (channel: string, uid: number) => Service007;
};

const PRIV_USER = 1;
const PRIV_APP = 2;
const CHAT = 5;
const DEFAULT_TTL = 60 * 24 * 3600;
const PASSWORD = 'pw-123456';

const EXPIRED = ['unauthorized', 'Unable to authenticate due to expired access token'] as const;
const CORRUPT = ['auth_bad_access_token', 'Unable to authenticate due to corrupt access token'] as const;
const OAUTH = ['unauthorized', 'Unable to authenticate (OAuth)'] as const;
const OTHERS = ['forbidden_op', 'others are not allowed to be set'] as const;
const APP_TOKEN_REQUIRED = ['forbidden_op', 'app token required'] as const;
const NOT_IN_ROOM = ['unauthorized', 'user is not in chatroom'] as const;

const nowSec = () => Math.floor(Date.now() / 1000);

function expectError(res: Reply, status: number, [error, description]: readonly [string, string], what = ''): void {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.deepEqual([res.body.error, res.body.error_description], [error, description], what);
}

function expectOk(res: Reply, what = ''): void {
  assert.equal(res.status, 200, `${what}: ${res.text}`);
}

// ---- 007 tokens built with the official package

function mint(app: TestApp, issueTs: number, expire: number, ...services: Service007[]): string {
  const t = new AT2.AccessToken2(app.appId, app.appCertificate, issueTs, expire);
  for (const s of services) t.add_service(s);
  const token = t.build();
  assert.ok(token.startsWith('007'), 'agora-token refused to build the token');
  return token;
}

function chatApp(privilegeExpire: number): Service007 {
  const s = new AT2.ServiceChat();
  s.add_privilege(PRIV_APP, privilegeExpire);
  return s;
}

function chatUser(userId: string, privilegeExpire: number): Service007 {
  const s = new AT2.ServiceChat(userId);
  s.add_privilege(PRIV_USER, privilegeExpire);
  return s;
}

function rtc(privilegeExpire: number): Service007 {
  const s = new AT2.ServiceRtc('channel-1', 42);
  s.add_privilege(1, privilegeExpire);
  return s;
}

// ---- 007 tokens crafted byte by byte, with the layout and signature of spec section 2

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s: string | Buffer) => {
  const b = Buffer.from(s);
  return Buffer.concat([u16(b.length), b]);
};

function serviceBytes(type: number, privileges: Array<[number, number]>, userId: string): Buffer {
  return Buffer.concat([u16(type), u16(privileges.length), ...privileges.flatMap(([p, e]) => [u16(p), u32(e)]), str(userId)]);
}

function craft(app: TestApp, issueTs: number, expire: number, services: Buffer[]): string {
  const salt = 1 + randomBytes(3).readUIntLE(0, 3);
  const signingInfo = Buffer.concat([str(app.appId), u32(issueTs), u32(expire), u32(salt), u16(services.length), ...services]);
  const h1 = createHmac('sha256', u32(issueTs)).update(app.appCertificate).digest();
  const key = createHmac('sha256', u32(salt)).update(h1).digest();
  const sig = createHmac('sha256', key).update(signingInfo).digest();
  return `007${deflateSync(Buffer.concat([str(sig), signingInfo])).toString('base64')}`;
}

/** Inflates a 007 token, lets `mutate` change its content bytes, deflates it again. */
function rewrite(token: string, mutate: (content: Buffer) => void): string {
  const content = inflateSync(Buffer.from(token.slice(3), 'base64'));
  mutate(content);
  return `007${deflateSync(content).toString('base64')}`;
}

// content = str(signature: 32 bytes) + str(appId: 32 bytes) + u32 issueTs + u32 expire + ...
const SIG_AT = 2;
const APP_ID_AT = 2 + 32 + 2;
const EXPIRE_AT = APP_ID_AT + 32 + 4;

/** Changes one base64 character (never to itself) at `index`. */
function flipChar(s: string, index: number): string {
  const c = s[index];
  return s.slice(0, index) + (c === 'A' ? 'B' : 'A') + s.slice(index + 1);
}

/** Every auth rule of spec section 2, against a real server holding two apps. */
export function authSuite(target: Target): void {
  describe(`authentication [${target.name}]`, () => {
    // The rate limit is not under test here: keep it out of the way of the many calls below.
    const limits = { rateLimitPerSecond: 100_000 };
    const app = makeApp({ limits });
    const other = makeApp({ limits });
    let server: ServerHandle;
    let admin: Client;
    let otherAdmin: Client;
    let anon: Client;
    let room: string;
    const uuids: Record<string, string> = {};
    const entities: Record<string, Record<string, unknown>> = {};

    const prefix = `/${app.org}/${app.app}`;
    const roomPath = () => `/metadata/chatroom/${room}`;
    /** A client acting with `token` (a 007 or issued one) under the org/app prefix. */
    const as = (token: string) => admin.as(token);
    const getAttrs = async () => {
      const res = await admin.call('POST', roomPath(), { body: {} });
      expectOk(res, 'read back');
      return res.body.data as Record<string, string>;
    };
    const grant = (body: Record<string, unknown>, token?: string, c: Client = anon) => c.call('POST', '/token', { body, token });
    /** Refused tokens are checked on an attribute call, an admin call and the token exchange. */
    const probes = (token: string | undefined, headers: Record<string, string> = {}) =>
      [
        ['attribute get', call(server.url, 'POST', `${prefix}${roomPath()}`, { token, headers, body: {} })],
        [
          'attribute set',
          call(server.url, 'PUT', `${prefix}${roomPath()}/user/alice`, { token, headers, body: { metaData: { probe: 'x' } } }),
        ],
        ['get user', call(server.url, 'GET', `${prefix}/users/alice`, { token, headers })],
        ['chatroom details', call(server.url, 'GET', `${prefix}/chatrooms/${room}`, { token, headers })],
        [
          'inherit grant',
          call(server.url, 'POST', `${prefix}/token`, { token, headers, body: { grant_type: 'inherit', username: 'alice' } }),
        ],
      ] as const;
    const expectRefused = async (
      token: string | undefined,
      expected: readonly [string, string],
      headers: Record<string, string> = {},
      what = '',
    ) => {
      for (const [route, pending] of probes(token, headers)) expectError(await pending, 401, expected, `${what} ${route}`);
    };

    before(async () => {
      server = await startTarget(target, [app, other]);
      admin = client(server.url, prefix, appToken(app));
      otherAdmin = client(server.url, `/${other.org}/${other.app}`, appToken(other));
      anon = admin.as(undefined);
      const reg = await admin.call('POST', '/users', {
        body: ['alice', 'bob', 'carol', 'dave'].map((username) => ({ username, password: PASSWORD })),
      });
      expectOk(reg, 'register');
      for (const e of reg.body.entities) {
        uuids[e.username] = e.uuid;
        entities[e.username] = e;
      }
      const created = await admin.call('POST', '/chatrooms', {
        body: { name: 'r', description: 'd', owner: 'alice', members: ['bob', 'dave'] },
      });
      expectOk(created, 'create room');
      room = created.body.data.id;
      expectOk(await otherAdmin.call('POST', '/users', { body: { username: 'alice', password: PASSWORD } }), 'register in other app');
    });
    after(() => server.close());

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
        expectOk(await otherAdmin.as(token).call('GET', '/users/alice'), 'at its own app');
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
          const res = await call(server.url, 'PUT', `${prefix}${roomPath()}/user/alice/forced`, {
            token,
            body: { metaData: { refused: 'x' } },
          });
          assert.equal(res.status, 401, String(token));
          assert.equal(
            (await call(server.url, 'POST', `${prefix}/users`, { token, body: { username: 'refused', password: PASSWORD } })).status,
            401,
          );
        }
        assert.equal((await getAttrs()).refused, undefined);
        expectError(await admin.call('GET', '/users/refused'), 404, ['service_resource_not_found', 'Service resource not found'], 'user');
      });
    });

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
        expectOk(await admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { bobkey: 'bob' } } }), 'seed');
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
        expectOk(await admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { readable: 'yes' } } }), 'seed');
        const member = await as(userToken(app, 'bob')).call('POST', roomPath(), { body: { keys: ['readable'] } });
        expectOk(member, 'member');
        assert.deepEqual(member.body.data, { readable: 'yes' });
        const outsider = await as(userToken(app, 'carol')).call('POST', roomPath(), { body: { keys: ['readable'] } });
        expectError(outsider, 401, NOT_IN_ROOM, 'not a member');
        // A member that left loses read access.
        expectOk(await admin.call('DELETE', `/chatrooms/${room}/users/dave`), 'remove dave');
        expectError(await as(userToken(app, 'dave')).call('POST', roomPath(), { body: {} }), 401, NOT_IN_ROOM, 'after leaving');
        expectOk(await admin.call('POST', `/chatrooms/${room}/users/dave`), 're-add dave');
      });

      it('the forced routes require membership for a user token', async () => {
        expectOk(await admin.call('PUT', `${roomPath()}/user/bob`, { body: { metaData: { forcedkey: 'bob' } } }), 'seed');
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
          ['GET', `/chatrooms/${room}`, undefined],
          ['DELETE', `/chatrooms/${room}`, undefined],
          ['GET', `/chatrooms/${room}/users`, undefined],
          ['POST', `/chatrooms/${room}/users/carol`, undefined],
          ['POST', `/chatrooms/${room}/users`, { usernames: ['carol'] }],
          ['DELETE', `/chatrooms/${room}/users/bob`, undefined],
          ['POST', '/token', { grant_type: 'inherit', username: 'alice' }],
          ['POST', '/token', { grant_type: 'agora' }],
        ];
        for (const [method, path, body] of calls)
          expectError(await alice.call(method, path, { body }), 403, APP_TOKEN_REQUIRED, `${method} ${path}`);
        // Nothing happened.
        expectError(await admin.call('GET', '/users/byuser'), 404, ['service_resource_not_found', 'Service resource not found'], 'byuser');
        expectOk(await admin.call('GET', '/users/bob'), 'bob still there');
        const details = await admin.call('GET', `/chatrooms/${room}`);
        expectOk(details, 'room still there');
        assert.equal(details.body.data[0].affiliations_count, 3);
      });
    });

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
          await admin.call('GET', '/users/ev3'),
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
        expectOk(await otherAdmin.call('POST', '/users', { body: { username: 'onlyother', password: PASSWORD } }), 'other app user');
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
        expectError(await admin.call('GET', '/users/ghost'), 404, ['service_resource_not_found', 'Service resource not found'], 'ghost');
      });

      it('inherit with autoCreateUser creates the user', async () => {
        const res = await grant({ grant_type: 'inherit', username: 'Newbie', autoCreateUser: true }, appToken(app));
        expectOk(res, 'inherit + create');
        assert.equal(res.body.user.username, 'newbie');
        assert.equal(res.body.user.type, 'user');
        assert.equal(res.body.user.activated, true);
        const got = await admin.call('GET', '/users/newbie');
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
          otherAdmin.as(undefined),
        );
        expectOk(foreign, 'other app grant');
        expectOk(await otherAdmin.as(foreign.body.access_token).call('GET', '/users/alice'), 'at its own app');
        await expectRefused(foreign.body.access_token, OAUTH, {}, 'other app app token');
        const foreignUser = await grant(
          { grant_type: 'password', username: 'alice', password: PASSWORD },
          undefined,
          otherAdmin.as(undefined),
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
      const byId = client(server.url, `/app-id/${app.appId}`, undefined);
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
