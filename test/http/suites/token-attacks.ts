import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { appToken, makeApp, tempDir, userToken, type TestApp } from '../../support/apps.js';
import { call, client, type Client, type Reply } from '../../support/client.js';
import { startTarget, type ServerHandle, type Target } from '../../support/server.js';

import { AT2, type Service007 } from './hardening-helpers.js';
const PRIV_USER = 1;
const PRIV_APP = 2;

const EXPIRED = ['unauthorized', 'Unable to authenticate due to expired access token'] as const;
const OAUTH = ['unauthorized', 'Unable to authenticate (OAuth)'] as const;
const OTHERS = ['forbidden_op', 'others are not allowed to be set'] as const;
const APP_TOKEN_REQUIRED = ['forbidden_op', 'app token required'] as const;
const REFUSALS = new Set(['unauthorized', 'auth_bad_access_token']);
const PASSWORD = 'pw-123456';
/** Calls in flight at once while probing thousands of tampered tokens. */
const PARALLEL = 16;

const nowSec = () => Math.floor(Date.now() / 1000);

function mint(app: TestApp, issueTs: number, expire: number, service: Service007): string {
  const t = new AT2.AccessToken2(app.appId, app.appCertificate, issueTs, expire);
  t.add_service(service);
  return t.build();
}

function chat(privilege: number, expire: number, userId?: string): Service007 {
  const s = new AT2.ServiceChat(userId);
  s.add_privilege(privilege, expire);
  return s;
}

function expectError(res: Reply, status: number, [error, description]: readonly [string, string], what: string): void {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.deepEqual([res.body?.error, res.body?.error_description], [error, description], what);
}

/** A header can carry tab, space to '~' and 0x80-0xFF; anything else cannot be sent at all. */
const sendable = (s: string) => !/[^\t\x20-\x7e\x80-\xff]/.test(s);

/** `n` distinct positions below `total`, the same on every run (mulberry32 from `seed`). */
function samplePositions(total: number, n: number, seed: number): number[] {
  if (n >= total) return Array.from({ length: total }, (_, i) => i);
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(next() * total));
  return [...picked].sort((x, y) => x - y);
}

/** Single-bit changes of `bytes` (every bit, or `sample` of them), as new buffers. */
function* bitFlips(bytes: Buffer, sample = Infinity, seed = 1): Generator<[number, Buffer]> {
  for (const bit of samplePositions(bytes.length * 8, sample, seed)) {
    const copy = Buffer.from(bytes);
    copy[bit >> 3]! ^= 1 << (bit & 7);
    yield [bit, copy];
  }
}

/** Single-bit changes of the characters of `token` (Latin-1, as a header carries it). */
function* charFlips(token: string, sample = Infinity, seed = 1): Generator<[number, string]> {
  for (const [bit, bytes] of bitFlips(Buffer.from(token, 'latin1'), sample, seed)) yield [bit, bytes.toString('latin1')];
}

const decode007 = (t: string): Buffer | null => {
  try {
    return t.startsWith('007') ? inflateSync(Buffer.from(t.slice(3), 'base64')) : null;
  } catch {
    return null;
  }
};

/** What an issued token decodes to: its payload text and signature bytes. */
const decodeIssued = (t: string): string | null => {
  const dot = t.indexOf('.');
  if (!t.startsWith('YWMt') || dot < 0) return null;
  return `${t.slice(4, dot)}.${Buffer.from(t.slice(dot + 1), 'base64url').toString('hex')}`;
};

/**
 * Tampered, foreign, expired and misused tokens (issue "Reliability and security"): none is ever
 * accepted, none answers a 5xx, and none changes anything.
 */
export function tokenAttacksSuite(target: Target): void {
  describe(`token attacks [${target.name}]`, () => {
    const limits = { rateLimitPerSecond: 1_000_000 };
    const app = makeApp({ limits });
    const other = makeApp({ limits });
    const prefix = `/${app.org}/${app.app}`;
    let server: ServerHandle;
    let admin: Client;
    let room: string;
    let setPath: string;

    const attrs = async (): Promise<Record<string, string>> => {
      const res = await admin.call('POST', `/metadata/chatroom/${room}`, { body: {} });
      assert.equal(res.status, 200, res.text);
      return res.body.data;
    };
    /** A forced set that would leave a mark if the token were accepted. */
    const probe = (token: string) => call(server.url, 'PUT', `${prefix}${setPath}`, { token, body: { metaData: { tampered: 'yes' } } });
    /** A read, for variants that are the original token in another spelling. */
    const readProbe = (token: string) =>
      call(server.url, 'POST', `${prefix}/metadata/chatroom/${room}`, { token, body: { keys: ['seed'] } });

    /**
     * Sends every variant, PARALLEL at a time. A variant that decodes to exactly the original token
     * (another spelling of the same signed bytes) may be accepted; every other one must be a 401
     * with a token error. Returns how many were sent and how many were such spellings.
     */
    async function assertAllRefused(
      original: string,
      variants: Iterable<[number, string]>,
      sameToken: (t: string) => boolean,
      what: string,
    ) {
      let sent = 0;
      let spellings = 0;
      let pending: Array<Promise<void>> = [];
      const one = async (bit: number, t: string) => {
        const spelling = sameToken(t);
        const res = await (spelling ? readProbe(t) : probe(t));
        const tag = `${what}, bit ${bit}: ${JSON.stringify(t)} -> ${res.status} ${res.text.slice(0, 200)}`;
        assert.ok(res.status < 500, tag);
        if (spelling) {
          spellings++;
          assert.ok(res.status === 200 || (res.status === 401 && REFUSALS.has(res.body?.error)), tag);
          return;
        }
        assert.equal(res.status, 401, tag);
        assert.ok(REFUSALS.has(res.body?.error), tag);
      };
      for (const [bit, t] of variants) {
        if (t === original || !sendable(t)) continue;
        sent++;
        pending.push(one(bit, t));
        if (pending.length >= PARALLEL) {
          await Promise.all(pending);
          pending = [];
        }
      }
      await Promise.all(pending);
      assert.deepEqual(await attrs(), { seed: 'v' }, `${what}: a tampered token wrote`);
      return { sent, spellings };
    }

    before(async () => {
      server = await startTarget(target, [app, other]);
      admin = client(server.url, prefix, appToken(app));
      const reg = await admin.call('POST', '/users', {
        body: ['alice', 'bob', 'carol'].map((username) => ({ username, password: PASSWORD })),
      });
      assert.equal(reg.status, 200, reg.text);
      const created = await admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'alice', members: ['bob'] } });
      assert.equal(created.status, 200, created.text);
      room = created.body.data.id;
      setPath = `/metadata/chatroom/${room}/user/alice/forced`;
      const seed = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { seed: 'v' } } });
      assert.deepEqual(seed.body.data, { successKeys: ['seed'], errorKeys: {} });
    });
    after(() => server.close());

    it('a 007 app token with one bit flipped, at every bit of its content and 512 sampled bits of its text and compressed bytes, is 401', async (t) => {
      const token = appToken(app);
      assert.equal((await readProbe(token)).status, 200, 'the untouched token works');
      const content = decode007(token)!;
      const same = (t: string) => decode007(t)?.equals(content) === true;
      const compressed = Buffer.from(token.slice(3), 'base64');
      const text = await assertAllRefused(token, charFlips(token, 256, 7), same, '007 text');
      const bytes = await assertAllRefused(
        token,
        (function* () {
          for (const [bit, b] of bitFlips(compressed, 256, 11)) yield [bit, `007${b.toString('base64')}`] as [number, string];
        })(),
        same,
        '007 compressed bytes',
      );
      const fields = await assertAllRefused(
        token,
        (function* () {
          for (const [bit, b] of bitFlips(content)) yield [bit, `007${deflateSync(b).toString('base64')}`] as [number, string];
        })(),
        same,
        '007 content',
      );
      assert.ok(text.sent + bytes.sent + fields.sent >= 500, `only ${text.sent + bytes.sent + fields.sent} variants sent`);
      t.diagnostic(
        `sent: text ${text.sent}, compressed ${bytes.sent}, content ${fields.sent}; same token in another spelling: ${text.spellings + bytes.spellings}`,
      );
      // Different bytes always; at most a handful of padding-bit spellings of the same bytes.
      assert.equal(fields.spellings, 0);
      assert.ok(text.spellings + bytes.spellings <= 16, `${text.spellings + bytes.spellings} variants decode to the original token`);
    });

    it('an issued (YWMt) token with one bit flipped, at every bit of its payload and 512 sampled bits of its text, is 401', async (t) => {
      const grant = await admin.as(undefined).call('POST', '/token', {
        body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
      });
      assert.equal(grant.status, 200, grant.text);
      const token: string = grant.body.access_token;
      assert.ok(token.startsWith('YWMt'), token);
      assert.equal((await readProbe(token)).status, 200, 'the untouched token works');
      const original = decodeIssued(token);
      const same = (t: string) => decodeIssued(t) === original;
      const dot = token.indexOf('.');
      const payload = Buffer.from(token.slice(4, dot), 'base64url');
      const text = await assertAllRefused(token, charFlips(token, 512, 13), same, 'issued text');
      const fields = await assertAllRefused(
        token,
        (function* () {
          for (const [bit, b] of bitFlips(payload)) yield [bit, `YWMt${b.toString('base64url')}${token.slice(dot)}`] as [number, string];
        })(),
        same,
        'issued payload',
      );
      assert.ok(text.sent + fields.sent >= 500, `only ${text.sent + fields.sent} variants sent`);
      t.diagnostic(`sent: text ${text.sent}, payload ${fields.sent}; same token in another spelling: ${text.spellings}`);
      assert.equal(fields.spellings, 0);
      assert.ok(text.spellings <= 8, `${text.spellings} variants decode to the original token`);
    });

    it("another app's token, and a token signed with another app's certificate, are 401 OAuth", async () => {
      expectError(await probe(appToken(other)), 401, OAUTH, 'another app on the same server');
      expectError(await probe(appToken(makeApp())), 401, OAUTH, 'an app the server does not know');
      expectError(
        await probe(appToken({ ...app, appCertificate: other.appCertificate })),
        401,
        OAUTH,
        "signed with the other app's certificate",
      );
      expectError(
        await probe(userToken({ ...app, appCertificate: other.appCertificate }, 'alice')),
        401,
        OAUTH,
        'user token, other certificate',
      );
      const otherIssued = await call(server.url, 'POST', `/${other.org}/${other.app}/token`, {
        body: { grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret },
      });
      assert.equal(otherIssued.status, 200, otherIssued.text);
      expectError(await probe(otherIssued.body.access_token), 401, OAUTH, "the other app's issued token");
      assert.equal((await attrs()).tampered, undefined);
    });

    it('an expired token, and an expired Chat privilege inside a valid token, are 401 expired', async () => {
      expectError(await probe(mint(app, nowSec() - 7200, 3600, chat(PRIV_APP, 3600))), 401, EXPIRED, 'expired app token');
      expectError(await probe(mint(app, nowSec() - 7200, 3600, chat(PRIV_USER, 3600, 'alice'))), 401, EXPIRED, 'expired user token');
      expectError(await probe(mint(app, nowSec() - 600, 3600, chat(PRIV_APP, 300))), 401, EXPIRED, 'app privilege expired');
      expectError(await probe(mint(app, nowSec() - 600, 3600, chat(PRIV_USER, 300, 'alice'))), 401, EXPIRED, 'user privilege expired');
      expectError(await probe(mint(app, nowSec(), 3600, chat(PRIV_APP, 0))), 401, EXPIRED, 'privilege expiry 0');
      assert.equal((await attrs()).tampered, undefined);
    });

    it('a user token acting as another user is 403 forbidden_op on the four writes', async () => {
      const bob = admin.as(userToken(app, 'bob'));
      const base = `/metadata/chatroom/${room}`;
      const calls: Array<[string, string, unknown]> = [
        ['PUT', `${base}/user/alice`, { metaData: { seed: 'bob' } }],
        ['PUT', `${base}/user/alice/forced`, { metaData: { seed: 'bob' } }],
        ['DELETE', `${base}/user/alice`, { keys: ['seed'] }],
        ['DELETE', `${base}/user/alice/forced`, { keys: ['seed'] }],
        ['DELETE', `${base}/user/admin/forced`, { keys: ['seed'] }],
      ];
      for (const [method, path, body] of calls) expectError(await bob.call(method, path, { body }), 403, OTHERS, `${method} ${path}`);
      assert.deepEqual(await attrs(), { seed: 'v' });
    });

    it('a user token on the admin routes is 403 app token required', async () => {
      const alice = admin.as(userToken(app, 'alice'));
      const calls: Array<[string, string, unknown]> = [
        ['POST', '/users', { username: 'byuser', password: PASSWORD }],
        ['DELETE', '/users/bob', undefined],
        ['POST', '/chatrooms', { name: 'n', description: 'd', owner: 'alice' }],
        ['DELETE', `/chatrooms/${room}`, undefined],
        ['POST', `/chatrooms/${room}/users/carol`, undefined],
        ['DELETE', `/chatrooms/${room}/users/bob`, undefined],
        ['POST', '/token', { grant_type: 'inherit', username: 'bob' }],
      ];
      for (const [method, path, body] of calls)
        expectError(await alice.call(method, path, { body }), 403, APP_TOKEN_REQUIRED, `${method} ${path}`);
      assert.equal((await admin.call('GET', '/users/byuser')).status, 404);
      const members = await admin.call('GET', `/chatrooms/${room}/users`);
      assert.deepEqual(members.body.data, [{ owner: 'alice' }, { member: 'bob' }]);
    });

    it('an issued token is 401 expired once its ttl has passed', async () => {
      const grant = await admin.as(undefined).call('POST', '/token', {
        body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, ttl: 1 },
      });
      const issuedBy = Date.now();
      assert.equal(grant.status, 200, grant.text);
      assert.equal(grant.body.expires_in, 1);
      const token: string = grant.body.access_token;
      const alive = await call(server.url, 'GET', `${prefix}/users/alice`, { token });
      assert.equal(alive.status, 200, `before its expiry: ${alive.text}`);
      // The one wait of these suites: a ttl is whole seconds, so the token lives about one second.
      await new Promise((r) => setTimeout(r, Math.max(0, issuedBy + 1200 - Date.now())));
      expectError(await call(server.url, 'GET', `${prefix}/users/alice`, { token }), 401, EXPIRED, 'after its ttl (cached)');
      expectError(await probe(token), 401, EXPIRED, 'after its ttl (attribute call)');
      assert.equal((await attrs()).tampered, undefined);
    });

    it('the token of an app removed from the apps file: its routes are 404, its tokens 401 on the others', async () => {
      const a = makeApp({ limits });
      const b = makeApp({ limits });
      const dataDir = tempDir();
      const aPrefix = `/${a.org}/${a.app}`;
      const bPrefix = `/${b.org}/${b.app}`;
      const issue = (s: ServerHandle, x: TestApp) =>
        call(s.url, 'POST', `/${x.org}/${x.app}/token`, {
          body: { grant_type: 'client_credentials', client_id: x.clientId, client_secret: x.clientSecret },
        });
      const first = await startTarget(target, [a, b], { dataDir });
      let bIssued: string;
      try {
        for (const x of [a, b]) {
          const reg = await call(first.url, 'POST', `/${x.org}/${x.app}/users`, {
            token: appToken(x),
            body: { username: 'ann', password: PASSWORD },
          });
          assert.equal(reg.status, 200, reg.text);
        }
        const grant = await issue(first, b);
        assert.equal(grant.status, 200, grant.text);
        bIssued = grant.body.access_token;
        assert.equal((await call(first.url, 'GET', `${bPrefix}/users/ann`, { token: bIssued })).status, 200);
      } finally {
        await first.close();
      }
      const second = await startTarget(target, [a], { dataDir });
      try {
        for (const [method, path] of [
          ['GET', '/users/ann'],
          ['POST', '/chatrooms'],
          ['POST', '/token'],
        ] as const) {
          for (const token of [appToken(b), bIssued, appToken(a)]) {
            const res = await call(second.url, method, `${bPrefix}${path}`, { token, body: method === 'POST' ? {} : undefined });
            expectError(
              res,
              404,
              [
                'organization_application_not_found',
                `Could not find application for ${b.org}/${b.app} from URI: ${bPrefix.slice(1)}${path}`,
              ],
              `${method} ${path}`,
            );
          }
          const byId = await call(second.url, method, `/app-id/${b.appId}${path}`, {
            token: appToken(b),
            body: method === 'POST' ? {} : undefined,
          });
          expectError(
            byId,
            404,
            ['organization_application_not_found', `Could not find application for app-id/${b.appId} from URI: app-id/${b.appId}${path}`],
            `app-id ${path}`,
          );
        }
        for (const token of [appToken(b), bIssued, userToken(b, 'ann')]) {
          expectError(await call(second.url, 'GET', `${aPrefix}/users/ann`, { token }), 401, OAUTH, "B's token on A's routes");
          expectError(
            await call(second.url, 'POST', `${aPrefix}/users`, { token, body: { username: 'intruder', password: PASSWORD } }),
            401,
            OAUTH,
            "B's token registering on A",
          );
        }
        // A kept its data and still answers its own tokens.
        const kept = await call(second.url, 'GET', `${aPrefix}/users/ann`, { token: appToken(a) });
        assert.equal(kept.status, 200, kept.text);
        assert.equal((await call(second.url, 'GET', `${aPrefix}/users/intruder`, { token: appToken(a) })).status, 404);
        const aIssued = await issue(second, a);
        assert.equal((await call(second.url, 'GET', `${aPrefix}/users/ann`, { token: aIssued.body.access_token })).status, 200);
      } finally {
        await second.close();
      }
    });

    it('after all of it, the room holds only what the app token wrote', async () => {
      assert.deepEqual(await attrs(), { seed: 'v' });
    });
  });
}
