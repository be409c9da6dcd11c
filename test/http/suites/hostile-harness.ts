import assert from 'node:assert/strict';
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { after, before } from 'node:test';
import { appToken } from '../../support/apps.js';
import { call } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { assertSane, HOSTILE_USER, PASSWORD, type RawReply, type RoomModel, type RouteDef, sortedEntries } from './hostile-support.js';

/**
 * Hostile input over real HTTP (issue "Reliability and security"): malformed, truncated, wrongly
 * typed, huge, deeply nested, prototype-named and unicode bodies and paths, odd and doubled
 * headers. Every answer is a 4xx with Agora's error envelope, or a 200 where the input is
 * legitimately valid; never a 5xx; and the rooms read back afterwards are exactly what the
 * answers said (a refused call changes nothing). Properties use fast-check with fixed seeds.
 *
 * The server, rooms and routes every hostile-*.ts suite runs against, and the oracle that checks
 * each answer against the model of the rooms. Called inside a describe: it registers the hooks
 * that start the server with its users, rooms and attributes, and close it.
 */
export function hostileHarness(target: Target) {
  let fx: Fixture;
  let token: string;
  let prefix: string;
  let base: URL;
  // Keep-alive, closing idle sockets before the server's keep-alive timeout does.
  const agent = new Agent({ keepAlive: true, timeout: 2000 });
  let main: RoomModel;
  let uni: RoomModel;
  let routes: RouteDef[];
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  /** What the before hook set up, for the tests to read. */
  const setUp = {} as { fx: Fixture; token: string; prefix: string; base: URL; main: RoomModel; uni: RoomModel; routes: RouteDef[] };

  /**
   * A keep-alive socket the server closed as idle while the client picked it for a request fails
   * that request with ECONNRESET before the server saw it (Node documents this race, and
   * `reusedSocket` to tell it apart): such a request is sent again once, on a new connection. An
   * error on a new connection, or any answer, is never retried.
   */
  async function send(method: string, path: string, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<RawReply> {
    try {
      return await sendOnce(method, path, headers, body, agent);
    } catch (err) {
      if ((err as { code?: string; reused?: boolean }).code !== 'ECONNRESET' || !(err as { reused?: boolean }).reused) throw err;
      return sendOnce(method, path, headers, body, false);
    }
  }

  function sendOnce(
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    body: string | Buffer | undefined,
    via: Agent | false,
  ): Promise<RawReply> {
    // node:http frames a DELETE body with neither Content-Length nor chunking unless told.
    if (body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
      headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    }
    return new Promise((resolve, reject) => {
      const req = request({ host: base.hostname, port: base.port, method, path, headers, agent: via }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('error', (err) => reject(Object.assign(err, { reused: req.reusedSocket })));
      req.end(body);
    });
  }

  /** An app-token call with a raw JSON body (headers may override or add). */
  function rawCall(method: string, path: string, body: string | Buffer | undefined, headers: OutgoingHttpHeaders = {}): Promise<RawReply> {
    const h: OutgoingHttpHeaders = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) h['content-type'] = 'application/json';
    // Overrides replace the defaults whatever their casing (two spellings would send two headers).
    for (const name of Object.keys(headers)) delete h[name.toLowerCase()];
    return send(method, `${prefix}${path}`, { ...h, ...headers }, body);
  }

  async function membersOf(room: string): Promise<string> {
    const res = await call(fx.server.url, 'GET', `${prefix}/chatrooms/${room}/users`, { token });
    assert.equal(res.status, 200, `members of ${room}: ${res.text}`);
    return JSON.stringify((res.body.data as Array<Record<string, string>>).map((m) => JSON.stringify(m)).sort());
  }

  /** The room read back equals the model: every attribute, and the members list. */
  async function verifyRoom(room: RoomModel, what: string): Promise<void> {
    const res = await call(fx.server.url, 'POST', `${prefix}/metadata/chatroom/${room.id}`, { token, body: {} });
    assert.equal(res.status, 200, `read back after ${what}: ${res.text}`);
    assert.deepEqual(sortedEntries(res.body.data), sortedEntries(room.attrs), `attributes after ${what}`);
    assert.equal(await membersOf(room.id), room.members, `members after ${what}`);
  }

  async function assertNoHostileUser(what: string): Promise<void> {
    const res = await call(fx.server.url, 'GET', `${prefix}/users/${HOSTILE_USER}`, { token });
    assert.equal(res.status, 404, `${HOSTILE_USER} exists after ${what}`);
  }

  /**
   * Sends one call and checks it against the model: a refused call changes nothing; a 200 set
   * or delete reports every key once, and the room then holds exactly what it reported.
   */
  /** While false (in `batch`), rooms are read back once at the end instead of after each call. */
  let verifyEach = true;

  async function batch(fn: () => Promise<void>): Promise<void> {
    verifyEach = false;
    try {
      await fn();
    } finally {
      verifyEach = true;
    }
    await verifyRoom(main, 'the batch');
    await assertNoHostileUser('the batch');
  }

  interface OracleOptions {
    headers?: OutgoingHttpHeaders;
    /** Another path than the route's (same method and kind). */
    path?: string;
    /** Read the room back after this call even inside a batch. */
    verify?: boolean;
  }

  async function oracle(route: RouteDef, body: string | Buffer | undefined, what: string, opts: OracleOptions = {}): Promise<RawReply> {
    const res = await rawCall(route.method, opts.path ?? route.path, body, opts.headers ?? {});
    const tag = `${route.name} ${what}`;
    assertSane(res, tag);
    const room = route.room;
    if (res.status === 200 && room) {
      const text = body === undefined ? '' : Buffer.from(body).toString('utf8');
      const parsed = text.length > 0 ? JSON.parse(text) : undefined;
      if (route.kind === 'set') {
        const sent = Object.keys(parsed.metaData);
        const { successKeys, errorKeys } = res.body.data as { successKeys: string[]; errorKeys: Record<string, string> };
        assert.deepEqual([...successKeys, ...Object.keys(errorKeys)].sort(), [...sent].sort(), `${tag}: every key reported once`);
        for (const k of successKeys) room.attrs.set(k, parsed.metaData[k]);
      } else if (route.kind === 'delete') {
        const sent = [...new Set(parsed.keys as string[])];
        const { successKeys, errorKeys } = res.body.data as { successKeys: string[]; errorKeys: Record<string, string> };
        assert.deepEqual([...successKeys, ...Object.keys(errorKeys)].sort(), [...sent].sort(), `${tag}: every key reported once`);
        for (const k of successKeys) room.attrs.delete(k);
      } else if (route.kind === 'get') {
        const keys = parsed?.keys as string[] | null | undefined;
        const expected =
          Array.isArray(keys) && keys.length > 0 ? sortedEntries(room.attrs).filter(([k]) => keys.includes(k)) : sortedEntries(room.attrs);
        assert.deepEqual(sortedEntries(res.body.data), expected, `${tag}: what get returned`);
      }
    }
    if (!(opts.verify ?? verifyEach)) return res;
    if (room || res.status !== 200) await verifyRoom(room ?? main, tag);
    if (route.name.startsWith('users') && res.status !== 200) await assertNoHostileUser(tag);
    return res;
  }

  async function setup(room: RoomModel, who: string, attrs: Record<string, string>) {
    const res = await call(fx.server.url, 'PUT', `${prefix}/metadata/chatroom/${room.id}/user/${who}`, {
      token,
      body: { metaData: attrs },
    });
    assert.deepEqual(res.body?.data, { successKeys: Object.keys(attrs), errorKeys: {} }, res.text);
    for (const [k, v] of Object.entries(attrs)) room.attrs.set(k, v);
  }

  before(async () => {
    // Durability is not under test here: NORMAL spares the SQLite run an fsync per accepted write.
    fx = await startFixture(
      target,
      { rateLimitPerSecond: 1_000_000, maxAttributesPerRoom: 1_000_000 },
      { env: { ROOMKV_SQLITE_SYNCHRONOUS: 'NORMAL' } },
    );
    token = appToken(fx.app);
    prefix = `/${fx.app.org}/${fx.app.app}`;
    base = new URL(fx.server.url);
    await fx.createUsers('alice', 'bob', 'carol');
    const room = async (owner: string, members: string[]): Promise<RoomModel> => {
      const id = await fx.createRoom(owner, members);
      return { id, attrs: new Map(), members: await membersOf(id) };
    };
    main = await room('alice', ['bob']);
    uni = await room('alice', []);
    await setup(main, 'alice', { k1: 'one', k2: 'two', k3: 'three' });
    await setup(main, 'bob', { bobkey: 'bob' });
    const r = `/metadata/chatroom/${main.id}`;
    routes = [
      {
        name: 'set',
        method: 'PUT',
        path: `${r}/user/alice`,
        kind: 'set',
        room: main,
        valid: { metaData: { k1: 'changed' }, autoDelete: 'NO_DELETE' },
      },
      {
        name: 'forced set',
        method: 'PUT',
        path: `${r}/user/bob/forced`,
        kind: 'set',
        room: main,
        valid: { metaData: { k1: 'forced' }, autoDelete: 'DELETE' },
      },
      { name: 'get', method: 'POST', path: r, kind: 'get', room: main, valid: { keys: ['k1', 'k2'] } },
      { name: 'delete', method: 'DELETE', path: `${r}/user/alice`, kind: 'delete', room: main, valid: { keys: ['k1', 'k2'] } },
      {
        name: 'forced delete',
        method: 'DELETE',
        path: `${r}/user/admin/forced`,
        kind: 'delete',
        room: main,
        valid: { keys: ['bobkey'] },
      },
      {
        name: 'users (one)',
        method: 'POST',
        path: '/users',
        kind: 'other',
        valid: { username: HOSTILE_USER, password: PASSWORD, nickname: 'n' },
      },
      { name: 'users (array)', method: 'POST', path: '/users', kind: 'other', valid: [{ username: HOSTILE_USER, password: PASSWORD }] },
      {
        name: 'chatrooms',
        method: 'POST',
        path: '/chatrooms',
        kind: 'other',
        valid: { name: 'n', description: 'd', maxusers: 10, owner: 'alice', members: ['carol'] },
      },
      { name: 'members', method: 'POST', path: `/chatrooms/${main.id}/users`, kind: 'other', valid: { usernames: ['carol'] } },
      {
        name: 'token (client_credentials)',
        method: 'POST',
        path: '/token',
        kind: 'other',
        valid: { grant_type: 'client_credentials', client_id: fx.app.clientId, client_secret: fx.app.clientSecret, ttl: 60 },
      },
      {
        name: 'token (password)',
        method: 'POST',
        path: '/token',
        kind: 'other',
        valid: { grant_type: 'password', username: 'alice', password: PASSWORD, ttl: 60 },
      },
      {
        name: 'token (inherit)',
        method: 'POST',
        path: '/token',
        kind: 'other',
        valid: { grant_type: 'inherit', username: 'alice', autoCreateUser: false, ttl: 60 },
      },
    ];
    Object.assign(setUp, { fx, token, prefix, base, main, uni, routes });
  });
  after(async () => {
    agent.destroy();
    await fx.close();
  });

  return Object.assign(setUp, {
    protoBefore,
    send,
    rawCall,
    membersOf,
    verifyRoom,
    assertNoHostileUser,
    batch,
    oracle,
  });
}

export type HostileHarness = ReturnType<typeof hostileHarness>;
