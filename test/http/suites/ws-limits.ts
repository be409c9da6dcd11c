import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { appToken, userToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { Clients, closedWithin, connectWithToken, connectWs, WAIT_MS, wsUrl, type WsClient } from './ws-client.js';

/**
 * What a WebSocket may cost (the hardening rules): an unauthenticated socket little and briefly,
 * and never many of them; a client that stops reading or answering pings is cut off; an
 * authenticated socket outlives the HTTP request timeout; shutdown closes every socket with 1012.
 */

const NO_LIMIT = { rateLimitPerSecond: 100_000 };
const REQUEST_TIMEOUT_MS = 300;
const HEARTBEAT_MS = 150;

async function put(fx: Fixture, room: string, user: string, metaData: Record<string, string>): Promise<number> {
  const started = Date.now();
  const r = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body: { metaData } });
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.deepEqual(r.body.data.errorKeys, {});
  return Date.now() - started;
}

/** Waits until the client has received `n` pings from the server. */
function pings(c: WsClient, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`${seen} of ${n} pings within ${WAIT_MS} ms`)), WAIT_MS);
    c.ws.on('ping', () => {
      if (++seen === n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function wsLimitsSuite(target: Target): void {
  describe(`WebSocket: timeouts and keepalive [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      const env = { ROOMKV_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), ROOMKV_SSE_HEARTBEAT_MS: String(HEARTBEAT_MS) };
      fx = await startFixture(target, NO_LIMIT, { env });
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('a socket that never authenticates is closed with 4401 after the request timeout', async () => {
      const started = Date.now();
      const c = clients.add(await connectWs(wsUrl(fx)));
      assert.deepEqual(await closedWithin(c), { code: 4401, reason: 'no auth message in time' });
      assert.ok(Date.now() - started >= REQUEST_TIMEOUT_MS - 50);
    });

    it('an authenticated socket outlives the request timeout, pinged by the server all along', async () => {
      const c = clients.add(await connectWithToken(fx, appToken(fx.app)));
      const started = Date.now();
      await pings(c, 4);
      assert.ok(Date.now() - started > REQUEST_TIMEOUT_MS, 'pinged for longer than the request timeout');
      assert.equal((await c.request({ op: 'ping' })).status, 200);
    });

    it('a peer that stops answering pings is cut off; one that answers stays', async () => {
      const deaf = clients.add(await connectWs(wsUrl(fx, { token: appToken(fx.app) }), { autoPong: false }));
      const fine = clients.add(await connectWithToken(fx, appToken(fx.app)));
      assert.equal((await closedWithin(deaf)).code, 1006, 'dropped without a close frame');
      assert.equal((await fine.request({ op: 'ping' })).status, 200);
    });
  });

  describe(`WebSocket: unauthenticated sockets [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      // A quarter of ROOMKV_MAX_CONNECTIONS may wait for their auth message: 2 here.
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_MAX_CONNECTIONS: '8' } });
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('at most a quarter of ROOMKV_MAX_CONNECTIONS wait for auth (then 503 before the upgrade); a token in the request is not held back', async () => {
      const waiting = [clients.add(await connectWs(wsUrl(fx))), clients.add(await connectWs(wsUrl(fx)))];
      await assert.rejects(connectWs(wsUrl(fx)), /upgrade refused: 503/);
      const withToken = clients.add(await connectWithToken(fx, appToken(fx.app)));
      assert.equal((await withToken.request({ op: 'ping' })).status, 200);
      const [first] = waiting;
      assert.equal((await first!.request({ op: 'auth', token: appToken(fx.app) })).status, 200);
      const next = clients.add(await connectWs(wsUrl(fx)));
      assert.equal((await next.request({ op: 'auth', token: appToken(fx.app) })).status, 200);
    });

    it('a first message larger than an auth message closes the socket, unread', async () => {
      const c = clients.add(await connectWs(wsUrl(fx)));
      c.send(JSON.stringify({ op: 'auth', token: appToken(fx.app), pad: 'x'.repeat(20_000) }));
      const closed = await closedWithin(c);
      assert.ok([4401, 1006].includes(closed.code), JSON.stringify(closed));
      assert.deepEqual(c.messages, []);
    });
  });

  describe(`WebSocket: a client that does not read [${target.name}]`, () => {
    let fx: Fixture;
    const clients = new Clients();
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_SSE_MAX_BUFFER: '1024' } });
      await fx.createUsers('alice', 'bob', 'carol', 'dave');
    });
    afterEach(() => clients.closeAll());
    after(() => fx.close());

    it('is cut off once ROOMKV_SSE_MAX_BUFFER behind, while every write answers at once; what it got has no gaps, and it resumes', async () => {
      const owners = ['alice', 'bob', 'carol', 'dave'];
      const room = await fx.createRoom('alice', owners.slice(1));
      const c = clients.add(await connectWithToken(fx, userToken(fx.app, 'alice')));
      assert.equal((await c.request({ op: 'subscribe', room })).status, 200);
      await c.next((m) => m.type === 'snapshot');
      c.ws.pause();
      // 4 x 40 sets of ~40 KB: more than the socket buffers of both ends hold on Linux loopback (~4 MB).
      const calls = 40;
      const durations = await Promise.all(
        owners.map(async (u) => {
          const took: number[] = [];
          for (let i = 0; i < calls; i++) {
            const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`${u}${k}`, `${i}`.padEnd(4000, 'abcdefghij'[k])]));
            took.push(await put(fx, room, u, metaData));
          }
          return took;
        }),
      );
      const slowest = Math.max(...durations.flat());
      assert.ok(slowest < 3000, `a write took ${slowest} ms: the stalled client held the writers`);
      c.ws.resume();
      assert.equal((await closedWithin(c)).code, 1006, 'cut off, not closed politely');
      const seqs = c.messages.filter((m) => m.type === 'event').map((m) => m.seq as number);
      seqs.forEach((s, i) => assert.equal(s, i + 1, 'what arrived has no gaps'));
      const total = owners.length * calls;
      assert.ok(seqs.length < total, `the stalled socket got ${seqs.length} of ${total} events`);
      const again = clients.add(await connectWithToken(fx, userToken(fx.app, 'alice')));
      assert.equal((await again.request({ op: 'subscribe', room, since: seqs.length })).status, 200);
      assert.equal((await again.next((m) => m.type === 'event')).seq, seqs.length + 1);
    });
  });

  describe(`WebSocket: shutdown [${target.name}]`, () => {
    it('closes every socket, subscribed, idle or unauthenticated, with 1012', async () => {
      const fx = await startFixture(target, NO_LIMIT);
      const clients = new Clients();
      try {
        await fx.createUsers('alice');
        const room = await fx.createRoom('alice');
        const subscribed = clients.add(await connectWithToken(fx, appToken(fx.app)));
        assert.equal((await subscribed.request({ op: 'subscribe', room })).status, 200);
        const idle = clients.add(await connectWithToken(fx, appToken(fx.app)));
        assert.equal((await idle.request({ op: 'ping' })).status, 200);
        const pending = clients.add(await connectWs(wsUrl(fx)));
        await fx.close();
        for (const c of [subscribed, idle, pending])
          assert.deepEqual(await closedWithin(c), { code: 1012, reason: 'server shutting down, reconnect' });
      } finally {
        await clients.closeAll();
      }
    });
  });
}
