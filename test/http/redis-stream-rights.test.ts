import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../support/apps.js';
import { client, type Client } from '../support/client.js';
import { redisTarget, startTarget, type ServerHandle } from '../support/server.js';
import { json, openStream } from '../support/sse.js';

const WAIT_MS = 15_000;

/**
 * A stream's rights end on every instance: a member removed through one instance, with no key of
 * its own (so no event says so), is told `membership_ended` on the stream it holds on another,
 * and a change written after the removal, through either instance, never reaches it.
 */
for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) {
    describe(`stream rights across instances [${kind}]`, { skip: target.missing }, () => {});
    continue;
  }
  describe(`stream rights across instances [${kind}]`, () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
    const prefix = `/${app.org}/${app.app}`;
    let servers: [ServerHandle, ServerHandle];
    let a: Client;
    let b: Client;
    before(async () => {
      const env = target.env();
      servers = [await startTarget(target, [app], { env }), await startTarget(target, [app], { env })];
      a = client(servers[0].url, prefix, appToken(app));
      b = client(servers[1].url, prefix, appToken(app));
    });
    after(async () => {
      for (const s of servers) await s.close();
    });

    it("a removal through one instance ends the member's stream on the other before anything written after it", async () => {
      assert.equal(
        (await a.call('POST', '/users', { body: ['ann', 'ben', 'cat'].map((username) => ({ username, password: 'pw-123456' })) })).status,
        200,
      );
      const made = await a.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'ann', members: ['ben', 'cat'] } });
      const room = made.body.data.id as string;
      const url = (s: ServerHandle) => `${s.url}${prefix}/metadata/chatroom/${room}/events`;
      const ben = await openStream(url(servers[1]), { token: userToken(app, 'ben') });
      const cat = await openStream(url(servers[1]), { token: userToken(app, 'cat') });
      assert.equal((await ben.next(undefined, WAIT_MS)).event, 'snapshot');
      assert.equal((await cat.next(undefined, WAIT_MS)).event, 'snapshot');
      assert.equal((await a.call('DELETE', `/chatrooms/${room}/users/ben`)).status, 200);
      for (const [i, via] of [a, b].entries()) {
        const set = await via.call('PUT', `/metadata/chatroom/${room}/user/ann`, { body: { metaData: { [`after${i}`]: 'x' } } });
        assert.deepEqual(set.body.data.errorKeys, {}, set.text);
      }
      const end = await ben.next((m) => m.event === 'end', WAIT_MS);
      assert.deepEqual(json(end), { reason: 'membership_ended' });
      assert.deepEqual(
        ben.messages.filter((m) => m.event === undefined),
        [],
        'nothing after the removal reached ben',
      );
      await cat.next((m) => m.event === undefined && 'after1' in json(m).attributes, WAIT_MS);
      assert.equal(
        cat.messages.some((m) => m.event === 'end'),
        false,
        'cat is still a member',
      );
      cat.close();
    });
  });
}
