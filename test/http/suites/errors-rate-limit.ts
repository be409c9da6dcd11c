import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../../support/apps.js';
import { client, type Client, type Reply } from '../../support/client.js';
import { startFixture } from '../../support/fixture.js';
import { startTarget, type Target } from '../../support/server.js';
import { assertError, NO_TOKEN, range, RATE_LIMITED } from './errors-support.js';

/** Spec section 3: the per-app rate limit, its 429 and what spends its budget. */
export function errorsRateLimitSuite(target: Target): void {
  describe(`rate limit [${target.name}]`, () => {
    // Each test starts its own server: a budget spent by one test would still be spent in the next.
    const limited = async () => {
      const fx = await startFixture(target, { rateLimitPerSecond: 5 });
      await fx.createUsers('alice', 'bob');
      return { fx, room: await fx.createRoom('alice', ['bob']) };
    };

    /** The five attribute calls, round-robin, `n` of them at once. */
    const burst = (c: Client, roomId: string, n: number, user = 'alice') =>
      Promise.all(
        range(n).map((i) => {
          const base = `/metadata/chatroom/${roomId}`;
          switch (i % 5) {
            case 0:
              return c.call('POST', base, { body: { keys: ['a'] } });
            case 1:
              return c.call('PUT', `${base}/user/${user}`, { body: { metaData: { [`k${i}`]: 'v' } } });
            case 2:
              return c.call('PUT', `${base}/user/${user}/forced`, { body: { metaData: { [`k${i}`]: 'v' } } });
            case 3:
              return c.call('DELETE', `${base}/user/${user}`, { body: { keys: [`k${i}`] } });
            default:
              return c.call('DELETE', `${base}/user/admin/forced`, { body: { keys: [`k${i}`] } });
          }
        }),
      );

    const assertLimited = (replies: Reply[], limit: number) => {
      const ok = replies.filter((r) => r.status === 200).length;
      for (const r of replies) if (r.status !== 200) assertError(r, 429, 'reach_limit', RATE_LIMITED, 'over the limit');
      assert.ok(ok >= limit && ok <= 2 * limit, `${ok} of ${replies.length} succeeded with a limit of ${limit}/s`);
    };

    it('lets through at least the limit and at most twice it of 20 concurrent calls; the rest are 429 reach_limit', async () => {
      const { fx, room } = await limited();
      try {
        assertLimited(await burst(fx.admin, room, 20), 5);
      } finally {
        await fx.close();
      }
    });

    it('chatroom and user calls are not limited once the budget is spent', async () => {
      const { fx, room } = await limited();
      try {
        assertLimited(await burst(fx.admin, room, 20), 5);
        const admin = await Promise.all(
          range(20).map((i) => (i % 2 === 0 ? fx.admin.call('GET', `/chatrooms/${room}`) : fx.admin.call('GET', '/users/bob'))),
        );
        for (const r of admin) assert.equal(r.status, 200, r.text);
      } finally {
        await fx.close();
      }
    });

    it('calls refused for their token, and admin calls, spend nothing of a fresh budget', async () => {
      const { fx, room } = await limited();
      try {
        const oauth = 'Unable to authenticate (OAuth)';
        const foreign = appToken(makeApp());
        const forged = userToken({ ...fx.app, appCertificate: makeApp().appCertificate }, 'alice');
        const get = (token: string | undefined) => fx.admin.as(token).call('POST', `/metadata/chatroom/${room}`, { body: {} });
        const [foreignR, noneR, forgedR, adminR] = await Promise.all([
          Promise.all(range(10).map(() => get(foreign))),
          Promise.all(range(10).map(() => get(undefined))),
          Promise.all(range(10).map(() => get(forged))),
          Promise.all(range(10).map(() => fx.admin.call('GET', `/chatrooms/${room}`))),
        ]);
        for (const r of foreignR) assertError(r, 401, 'unauthorized', oauth, 'foreign app token');
        for (const r of noneR) assertError(r, 401, 'unauthorized', NO_TOKEN, 'no token');
        for (const r of forgedR) assertError(r, 401, 'unauthorized', oauth, 'forged user token');
        for (const r of adminR) assert.equal(r.status, 200, r.text);
        // 30 refused and 10 admin calls within the same second: the whole budget is still there
        for (const r of await burst(fx.admin, room, 5)) assert.equal(r.status, 200, r.text);
      } finally {
        await fx.close();
      }
    });

    it('another app, on the same server or another, keeps its own budget', async () => {
      const a = makeApp({ limits: { rateLimitPerSecond: 5 } });
      const b = makeApp({ limits: { rateLimitPerSecond: 5 } });
      const server = await startTarget(target, [a, b]);
      const { fx: other, room: roomO } = await limited();
      try {
        const setup = async (c: Client) => {
          assert.equal((await c.call('POST', '/users', { body: { username: 'alice', password: 'pw-123456' } })).status, 200);
          const r = await c.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'alice' } });
          assert.equal(r.status, 200, r.text);
          return r.body.data.id as string;
        };
        const ca = client(server.url, `/${a.org}/${a.app}`, appToken(a));
        const cb = client(server.url, `/app-id/${b.appId}`, appToken(b));
        const [roomA, roomB] = [await setup(ca), await setup(cb)];
        const [ra, rb, ro] = await Promise.all([burst(ca, roomA, 20), burst(cb, roomB, 5), burst(other.admin, roomO, 5)]);
        assertLimited(ra, 5);
        for (const r of [...rb, ...ro]) assert.equal(r.status, 200, r.text);
      } finally {
        await other.close();
        await server.close();
      }
    });
  });
}
