import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../../support/apps.js';
import { call, type Client, type Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { Clients, closedWithin, connectThenAuth, connectWithToken, connectWs, wsUrl, type WsClient } from './ws-client.js';

/**
 * The WebSocket's ops against the REST calls (spec section 9): authentication and its refusals
 * (4401), each attribute op answering exactly what its REST call answers for the same state, and
 * frames that are not ops refused without harm.
 */

const NO_LIMIT = { rateLimitPerSecond: 100_000 };
const EXPIRED = 'Unable to authenticate due to expired access token';

type Who = 'alice' | 'bob' | 'dave' | 'app';

/** One attribute call, run over REST on one room and over the WebSocket on its twin. */
interface Step {
  as: Who;
  op: 'set' | 'delete' | 'get';
  user?: string;
  forced?: boolean;
  /** The REST body (none: no body) and the rest of the op's message. */
  body?: Record<string, unknown>;
  /** Run on a room that does not exist (the same id both ways). */
  missingRoom?: boolean;
}

const big = 'v'.repeat(5000);
const STEPS: Step[] = [
  { as: 'alice', op: 'set', user: 'alice', body: { metaData: { seat1: 'alice', seat2: 'a' }, autoDelete: 'NO_DELETE' } },
  { as: 'alice', op: 'set', user: 'alice', body: { metaData: { seat1: 'alice', 'bad key!': 'x', long: big, num: 5 } } },
  { as: 'bob', op: 'set', user: 'bob', body: { metaData: { seat1: 'bob', seat3: 'b' } } },
  { as: 'bob', op: 'set', user: 'bob', forced: true, body: { metaData: { seat2: 'bob' }, autoDelete: 'delete' } },
  { as: 'alice', op: 'delete', user: 'alice', body: { keys: ['seat2', 'seat1', 'nothing', 'seat1'] } },
  { as: 'app', op: 'delete', user: 'admin', forced: true, body: { keys: ['seat3', 'gone'] } },
  { as: 'bob', op: 'get', body: { keys: ['seat1', 'seat2', 'nothing'] } },
  { as: 'bob', op: 'get' },
  { as: 'app', op: 'get', body: { keys: null } },
  { as: 'app', op: 'get', body: { keys: [] } },
  { as: 'app', op: 'set', user: 'bob', body: { metaData: { seat4: 'by app' } } },
  // refusals: who may do what, membership, the room, the body
  { as: 'alice', op: 'set', user: 'bob', body: { metaData: { x: '1' } } },
  { as: 'dave', op: 'set', user: 'dave', body: { metaData: { x: '1' } } },
  { as: 'dave', op: 'get' },
  { as: 'alice', op: 'delete', user: 'alice', forced: true, body: { keys: ['seat4'] } },
  { as: 'alice', op: 'set', user: 'alice', missingRoom: true, body: { metaData: { x: '1' } } },
  { as: 'app', op: 'get', missingRoom: true },
  { as: 'alice', op: 'set', user: 'alice', body: { metaData: 5 } },
  { as: 'alice', op: 'set', user: 'alice', body: {} },
  { as: 'alice', op: 'set', user: 'alice', body: { metaData: { x: '1' }, autoDelete: 'SOMETIMES' } },
  { as: 'alice', op: 'set', user: 'alice', body: { metaData: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) } },
  { as: 'alice', op: 'delete', user: 'alice', body: {} },
  { as: 'alice', op: 'delete', user: 'alice', body: { keys: [] } },
  { as: 'alice', op: 'delete', user: 'alice', body: { keys: [1, 2] } },
  { as: 'app', op: 'get', body: { keys: Array.from({ length: 101 }, (_, i) => `k${i}`) } },
  { as: 'app', op: 'get', body: { keys: 'seat1' } },
];

function restCall(c: Client, room: string, s: Step): Promise<Reply> {
  const base = `/metadata/chatroom/${room}`;
  if (s.op === 'get') return c.call('POST', base, s.body === undefined ? {} : { body: s.body });
  const path = `${base}/user/${s.user}${s.forced ? '/forced' : ''}`;
  return c.call(s.op === 'set' ? 'PUT' : 'DELETE', path, { body: s.body ?? {} });
}

function wsMessage(room: string, s: Step): Record<string, unknown> {
  return { ...(s.body ?? {}), op: s.op, room, ...(s.user === undefined ? {} : { user: s.user }), ...(s.forced ? { forced: true } : {}) };
}

/** The reply says what the REST answer said: its `data`, or its status, `error` and `error_description`, and nothing else. */
export function assertSameAnswer(reply: any, rest: Reply, label: string): void {
  const { id: _id, ...fields } = reply;
  if (rest.status === 200) assert.deepEqual(fields, { type: 'reply', status: 200, data: rest.body.data }, label);
  else {
    const { error, error_description } = rest.body;
    assert.deepEqual(fields, { type: 'reply', status: rest.status, error, error_description }, label);
  }
}

export function wsOpsSuite(target: Target): void {
  describe(`WebSocket: authentication [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, NO_LIMIT);
      await fx.createUsers('alice', 'bob');
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('takes the token as ?access_token= under both prefixes, or as a first auth message (answered with its id)', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const byName = clients.add(await connectWithToken(fx, userToken(fx.app, 'bob')));
      const byId = clients.add(await connectWs(wsUrl(fx, { byId: true, token: appToken(fx.app) })));
      for (const c of [byName, byId]) assert.equal((await c.request({ op: 'get', room })).status, 200);
      const first = clients.add(await connectWs(wsUrl(fx)));
      first.send({ op: 'auth', id: 'hello', token: userToken(fx.app, 'alice') });
      const authed = await first.next((m) => m.id === 'hello');
      assert.equal(authed.status, 200, JSON.stringify(authed));
      assert.equal(authed.data.user, 'alice');
      assert.ok(authed.data.expiresAt > Date.now(), JSON.stringify(authed));
      assert.equal((await first.request({ op: 'get', room })).status, 200);
      const app = clients.add(await connectThenAuth(fx, appToken(fx.app)));
      assert.equal((await app.request({ op: 'ping' })).status, 200);
    });

    it('ops sent right behind the auth message wait for it, and run in order', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const c = clients.add(await connectWs(wsUrl(fx)));
      c.send({ op: 'auth', token: userToken(fx.app, 'alice') });
      c.send({ op: 'set', id: 1, room, user: 'alice', metaData: { k: 'v1' } });
      c.send({ op: 'get', id: 2, room });
      const got = await c.next((m) => m.id === 2);
      assert.deepEqual(got.data, { k: 'v1' });
      assert.deepEqual(
        c.messages.filter((m) => m.type === 'reply').map((m) => m.id),
        [null, 1, 2],
      );
    });

    it('closes with 4401: a bad, expired or foreign token (query or auth message), anything but auth first, no auth in time', async () => {
      const refused: Array<[string, Promise<WsClient>, string]> = [
        ['garbage in the query', connectWithToken(fx, 'garbage'), 'Unable to authenticate due to corrupt access token'],
        ['expired in the query', connectWithToken(fx, userToken(fx.app, 'alice', 0)), EXPIRED],
        ["another app's token", connectWithToken(fx, appToken(makeApp())), 'Unable to authenticate (OAuth)'],
      ];
      for (const [what, connecting, reason] of refused) {
        const c = clients.add(await connecting);
        assert.deepEqual(await closedWithin(c), { code: 4401, reason }, what);
      }
      const firsts: Array<[string, unknown]> = [
        ['a get first', { op: 'get', id: 1, room: '1' }],
        ['not JSON first', '{"op":"auth",'],
        ['an auth without a token', { op: 'auth', id: 1 }],
        ['a bad token in auth', { op: 'auth', token: 'garbage' }],
        ['an expired token in auth', { op: 'auth', token: userToken(fx.app, 'alice', 0) }],
      ];
      for (const [what, msg] of firsts) {
        const c = clients.add(await connectWs(wsUrl(fx)));
        c.send(msg);
        const closed = await closedWithin(c);
        assert.equal(closed.code, 4401, `${what}: ${JSON.stringify(closed)}`);
        assert.deepEqual(
          c.messages.filter((m) => m.status === 200),
          [],
          what,
        );
      }
    });

    it('refuses before any upgrade an unknown app (404), and answers a plain GET 426 and a POST 405 in the Agora envelope', async () => {
      await assert.rejects(connectWs(`${fx.server.url.replace(/^http/, 'ws')}/nosuch/app/ws`), /upgrade refused: 404/);
      const plain = await call(fx.server.url, 'GET', `/${fx.app.org}/${fx.app.app}/ws`);
      assert.equal(plain.status, 426, plain.text);
      assert.equal(plain.body.error, 'upgrade_required');
      const post = await call(fx.server.url, 'POST', `/app-id/${fx.app.appId}/ws`, { body: {} });
      assert.equal(post.status, 405, post.text);
      assert.equal(post.body.error, 'unsupported_service_operation');
    });

    it('serves any other Upgrade request (an h2c GET, a WebSocket to another route) as plain HTTP, on a connection then closed', async () => {
      await assert.rejects(connectWs(`${fx.server.url.replace(/^http/, 'ws')}/healthz`), /upgrade refused: 200/);
      const { port } = new URL(fx.server.url);
      const socket = connect(Number(port), '127.0.0.1');
      socket.write(
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
      );
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
      });
      await once(socket, 'end');
      socket.destroy();
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.match(text, /\r\nconnection: close\r\n/i);
    });
  });

  describe(`WebSocket: ops answer as their REST calls [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, NO_LIMIT);
      await fx.createUsers('alice', 'bob', 'dave');
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('set, forced set, delete, forced delete and get, step by step on twin rooms: the same data or the same error', async () => {
      const restRoom = await fx.createRoom('alice', ['bob']);
      const wsRoom = await fx.createRoom('alice', ['bob']);
      const missing = '299999999999';
      const tokens: Record<Who, string> = {
        alice: userToken(fx.app, 'alice'),
        bob: userToken(fx.app, 'bob'),
        dave: userToken(fx.app, 'dave'),
        app: appToken(fx.app),
      };
      const sockets = {} as Record<Who, WsClient>;
      for (const who of Object.keys(tokens) as Who[]) sockets[who] = clients.add(await connectWithToken(fx, tokens[who]));
      for (const [i, s] of STEPS.entries()) {
        const label = `step ${i}: ${JSON.stringify(s).slice(0, 160)}`;
        const rest = await restCall(fx.admin.as(tokens[s.as]), s.missingRoom ? missing : restRoom, s);
        const reply = await sockets[s.as].request(wsMessage(s.missingRoom ? missing : wsRoom, s));
        assertSameAnswer(reply, rest, label);
      }
      const [a, b] = await Promise.all([restRoom, wsRoom].map((r) => fx.admin.call('POST', `/metadata/chatroom/${r}`)));
      assert.deepEqual(b!.body.data, a!.body.data, 'both rooms hold the same attributes');
    });

    it('an issued token whose user was deleted and made again: the op is refused as over REST, then the socket closes 4401', async () => {
      await fx.createUsers('erin');
      const room = await fx.createRoom('alice', ['erin']);
      const login = await fx.admin.call('POST', '/token', { body: { grant_type: 'password', username: 'erin', password: 'pw-123456' } });
      assert.equal(login.status, 200, login.text);
      const c = clients.add(await connectWithToken(fx, login.body.access_token));
      assert.equal((await c.request({ op: 'get', room })).status, 200);
      assert.equal((await fx.admin.call('DELETE', '/users/erin')).status, 200);
      await fx.createUsers('erin');
      const step: Step = { as: 'alice', op: 'set', user: 'erin', body: { metaData: { k: 'v' } } };
      const rest = await restCall(fx.admin.as(login.body.access_token), room, step);
      assert.equal(rest.status, 401, rest.text);
      assertSameAnswer(await c.request(wsMessage(room, step)), rest, 'set after the user was made again');
      assert.deepEqual(await closedWithin(c), { code: 4401, reason: 'Unable to authenticate (OAuth)' });
    });

    it('refuses frames that are not ops, in the reply envelope, and carries on; a binary frame closes 1003, an oversized one 1009', async () => {
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      const room = await fx.createRoom('alice');
      const json = { 'Content-Type': 'application/json' };
      const restBad = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: '{"keys":', headers: json });
      const deep = `${'['.repeat(100)}${']'.repeat(100)}`;
      const restDeep = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: deep, headers: json });
      assert.deepEqual([restBad.status, restDeep.status], [400, 400]);
      const cases: Array<[string, string, number, string, string]> = [
        ['not JSON', '{"keys":', 400, 'json_parse', restBad.body.error_description],
        ['deep JSON', deep, 400, 'json_parse', restDeep.body.error_description],
        ['an array', '[]', 400, 'illegal_argument', 'a message must be a JSON object'],
        ['null', 'null', 400, 'illegal_argument', 'a message must be a JSON object'],
        ['no id', '{"op":"ping"}', 400, 'illegal_argument', 'message.id must be an integer or a string of at most 64 characters'],
        [
          'an object id',
          '{"op":"ping","id":{}}',
          400,
          'illegal_argument',
          'message.id must be an integer or a string of at most 64 characters',
        ],
      ];
      for (const [what, text, status, error, description] of cases) {
        c.send(text);
        const reply = await c.next((m) => m.type === 'reply');
        assert.deepEqual(reply, { type: 'reply', id: null, status, error, error_description: description }, what);
      }
      const unknown = await c.request({ op: 'explode', room });
      assert.equal(unknown.error_description, 'message.op must be one of subscribe, unsubscribe, set, delete, get, ping');
      assert.equal(
        (await c.request({ op: 'auth', token: appToken(fx.app) })).error_description,
        'this connection is already authenticated',
      );
      assert.equal((await c.request({ op: 'get' })).error_description, 'message.room is required');
      assert.equal(
        (await c.request({ op: 'set', room, user: 'alice', forced: 'yes', metaData: {} })).error_description,
        'message.forced must be boolean',
      );
      assert.equal((await c.request({ op: 'subscribe', room, since: 'x' })).status, 400);
      assert.equal((await c.request({ op: 'ping' })).status, 200, 'the connection carries on');

      const binary = clients.add(await connectWithToken(fx, appToken(fx.app)));
      binary.ws.send(Buffer.from('{"op":"ping","id":1}'));
      assert.equal((await closedWithin(binary)).code, 1003);
      const huge = clients.add(await connectWithToken(fx, appToken(fx.app)));
      huge.send(JSON.stringify({ op: 'get', id: 1, room, pad: 'x'.repeat(1_100_000) }));
      assert.equal((await closedWithin(huge)).code, 1009);
      assert.equal((await c.request({ op: 'ping' })).status, 200, 'other connections carry on');
    });
  });

  describe(`WebSocket: the rate limit [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, { rateLimitPerSecond: 5 });
      await fx.createUsers('alice');
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it("each set, delete and get spends its REST call's budget; past it, 429 reach_limit with the op's id; pings are free", async () => {
      const room = await fx.createRoom('alice');
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'alice')));
      const ops = Array.from({ length: 20 }, (_, i) => {
        const kinds = [
          { op: 'get', room },
          { op: 'set', room, user: 'alice', metaData: { [`k${i}`]: 'v' } },
          { op: 'delete', room, user: 'alice', keys: [`k${i}`] },
          { op: 'get', room, keys: ['a'] },
        ];
        return kinds[i % kinds.length]!;
      });
      const replies = await Promise.all(ops.map((op) => c.request(op)));
      const ok = replies.filter((r) => r.status === 200).length;
      for (const r of replies.filter((x) => x.status !== 200))
        assert.deepEqual(r, {
          type: 'reply',
          id: r.id,
          status: 429,
          error: 'reach_limit',
          error_description: 'This request has reached api limit',
        });
      assert.ok(ok >= 5 && ok <= 10, `${ok} of 20 succeeded with a limit of 5/s`);
      const pings = await Promise.all(Array.from({ length: 10 }, () => c.request({ op: 'ping' })));
      for (const p of pings) assert.equal(p.status, 200);
    });
  });
}
