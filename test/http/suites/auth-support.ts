import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { appToken, makeApp, type TestApp } from '../../support/apps.js';
import { call, client, type Client, type Reply } from '../../support/client.js';
import { startTarget, type ServerHandle, type Target } from '../../support/server.js';
import { AT2, type Service007 } from './hardening-helpers.js';

/**
 * What the authentication suites (auth-*.ts) share: the error rows of spec section 2, 007 tokens
 * built with the official package or crafted byte by byte, and a real server holding two apps.
 */

export const PRIV_USER = 1;
export const PRIV_APP = 2;
export const CHAT = 5;
export const DEFAULT_TTL = 60 * 24 * 3600;
export const PASSWORD = 'pw-123456';

export const EXPIRED = ['unauthorized', 'Unable to authenticate due to expired access token'] as const;
export const CORRUPT = ['auth_bad_access_token', 'Unable to authenticate due to corrupt access token'] as const;
export const OAUTH = ['unauthorized', 'Unable to authenticate (OAuth)'] as const;
export const OTHERS = ['forbidden_op', 'others are not allowed to be set'] as const;
export const APP_TOKEN_REQUIRED = ['forbidden_op', 'app token required'] as const;
export const NOT_IN_ROOM = ['unauthorized', 'user is not in chatroom'] as const;

export const nowSec = () => Math.floor(Date.now() / 1000);

export function expectError(res: Reply, status: number, [error, description]: readonly [string, string], what = ''): void {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.deepEqual([res.body.error, res.body.error_description], [error, description], what);
}

export function expectOk(res: Reply, what = ''): void {
  assert.equal(res.status, 200, `${what}: ${res.text}`);
}

// ---- 007 tokens built with the official package: its AccessToken2 (loaded in hardening-helpers.ts)
// builds tokens with any issueTs and any mix of services, so expired and multi-service tokens are
// made without sleeping.

export function mint(app: TestApp, issueTs: number, expire: number, ...services: Service007[]): string {
  const t = new AT2.AccessToken2(app.appId, app.appCertificate, issueTs, expire);
  for (const s of services) t.add_service(s);
  const token = t.build();
  assert.ok(token.startsWith('007'), 'agora-token refused to build the token');
  return token;
}

export function chatApp(privilegeExpire: number): Service007 {
  const s = new AT2.ServiceChat();
  s.add_privilege(PRIV_APP, privilegeExpire);
  return s;
}

export function chatUser(userId: string, privilegeExpire: number): Service007 {
  const s = new AT2.ServiceChat(userId);
  s.add_privilege(PRIV_USER, privilegeExpire);
  return s;
}

export function rtc(privilegeExpire: number): Service007 {
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

export function serviceBytes(type: number, privileges: Array<[number, number]>, userId: string): Buffer {
  return Buffer.concat([u16(type), u16(privileges.length), ...privileges.flatMap(([p, e]) => [u16(p), u32(e)]), str(userId)]);
}

export function craft(app: TestApp, issueTs: number, expire: number, services: Buffer[]): string {
  const salt = 1 + randomBytes(3).readUIntLE(0, 3);
  const signingInfo = Buffer.concat([str(app.appId), u32(issueTs), u32(expire), u32(salt), u16(services.length), ...services]);
  const h1 = createHmac('sha256', u32(issueTs)).update(app.appCertificate).digest();
  const key = createHmac('sha256', u32(salt)).update(h1).digest();
  const sig = createHmac('sha256', key).update(signingInfo).digest();
  return `007${deflateSync(Buffer.concat([str(sig), signingInfo])).toString('base64')}`;
}

/** Inflates a 007 token, lets `mutate` change its content bytes, deflates it again. */
export function rewrite(token: string, mutate: (content: Buffer) => void): string {
  const content = inflateSync(Buffer.from(token.slice(3), 'base64'));
  mutate(content);
  return `007${deflateSync(content).toString('base64')}`;
}

// content = str(signature: 32 bytes) + str(appId: 32 bytes) + u32 issueTs + u32 expire + ...
export const SIG_AT = 2;
export const APP_ID_AT = 2 + 32 + 2;
export const EXPIRE_AT = APP_ID_AT + 32 + 4;

/** Changes one base64 character (never to itself) at `index`. */
export function flipChar(s: string, index: number): string {
  const c = s[index];
  return s.slice(0, index) + (c === 'A' ? 'B' : 'A') + s.slice(index + 1);
}

/**
 * A real server holding two apps, `app` with users alice, bob, carol and dave and a room of alice
 * with bob and dave, and `other` with its own alice. Called inside a describe: it registers the
 * hooks that start the server and close it.
 */
export function authFixture(target: Target) {
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
  /** What the before hook set up, for the tests to read. */
  const setUp = {} as { server: ServerHandle; admin: Client; otherAdmin: Client; room: string };

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
    Object.assign(setUp, { server, admin, otherAdmin, room });
  });
  after(() => server.close());

  return Object.assign(setUp, {
    app,
    other,
    uuids,
    entities,
    prefix,
    roomPath,
    as,
    getAttrs,
    grant,
    expectRefused,
  });
}
