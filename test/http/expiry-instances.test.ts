import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appToken, makeApp, removeTempDir, tempDir } from '../support/apps.js';
import { redisTarget, sqliteTarget, startTarget, type Target } from '../support/server.js';
import { json, openStream } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { eventsOf, eventsUrl, NO_LIMIT, sse, through, until, WAIT_MS } from './suites/presence-support.js';

/**
 * Expiry (spec section 10) where one server is not the whole story: a key whose time comes while
 * the one SQLite instance is down goes at the next start, with its event; on Redis and Redis
 * Cluster, two instances sweep side by side and each key goes once, with one event.
 */

/** A put through `fx` that must succeed whole. */
async function put(fx: ReturnType<typeof through>, room: string, user: string, body: unknown): Promise<void> {
  const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body });
  assert.deepEqual(res.body.data?.errorKeys, {}, res.text);
}

describe('expiry across a restart [sqlite]', () => {
  it('a key whose time came while the server was down goes at the next start, with its event', async () => {
    const app = makeApp({ limits: NO_LIMIT });
    const dataDir = tempDir();
    try {
      let server = await startTarget(sqliteTarget, [app], { dataDir });
      let fx = through(server.url, app);
      await fx.createUsers('alice');
      const room = await fx.createRoom('alice');
      await put(fx, room, 'alice', { metaData: { seat: 'alice', keep: 'k' }, ttl: { seat: 1 } });
      const { seat } = (await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { detail: true } })).body.data;
      await server.close();
      await until(seat.expiresAt + 200);

      server = await startTarget(sqliteTarget, [app], { dataDir });
      fx = through(server.url, app);
      // Read at once, swept or not: the key is gone.
      assert.deepEqual((await fx.admin.call('POST', `/metadata/chatroom/${room}`, {})).body.data, { keep: 'k' });
      const observer = await openStream(eventsUrl(fx, room), { token: appToken(app), query: { since: '1' } });
      const m = await observer.next((x) => x.event === undefined && json(x).reason === 'expired', WAIT_MS);
      assert.deepEqual(
        [json(m).from, json(m).attributes, json(m).previous],
        ['alice', ['seat'], { seat: { value: 'alice', owner: 'alice' } }],
      );
      observer.close();
      await server.close();
    } finally {
      removeTempDir(dataDir);
    }
  });
});

for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) {
    describe(`expiry on two instances [${kind}]`, { skip: target.missing }, () => {});
    continue;
  }
  describe(`expiry on two instances [${kind}]`, () => {
    it('both sweep; each key goes once, with one event, whichever instance removes it', async () => {
      const app = makeApp({ limits: NO_LIMIT });
      const t: Target = target;
      const [one, two] = await Promise.all([startTarget(t, [app]), startTarget(t, [app])]);
      try {
        const a = through(one.url, app);
        const b = through(two.url, app);
        await a.createUsers('alice', 'bob');
        const rooms = await Promise.all([1, 2, 3, 4].map(() => a.createRoom('alice', ['bob'])));
        const watchers = await Promise.all(rooms.flatMap((room) => [sse(a, room), sse(b, room)]));
        for (const [i, room] of rooms.entries()) {
          await put(i % 2 === 0 ? a : b, room, 'alice', { metaData: { s1: 'a', s2: 'b' }, ttl: { s1: 1, s2: 2 } });
          await put(i % 2 === 0 ? b : a, room, 'bob', { metaData: { t1: 'c' }, ttl: { t1: 1 } });
        }
        // every watcher, on either instance, sees each room's keys go
        for (const w of watchers) {
          await waitFor(
            'every key expired',
            () =>
              eventsOf(w)
                .filter((e) => e.reason === 'expired')
                .flatMap((e) => e.attributes).length === 3 || undefined,
            WAIT_MS,
          );
        }
        for (const room of rooms) {
          const history = await b.admin.call('GET', `/metadata/chatroom/${room}/history`);
          const expired = history.body.data.events.filter((e: { reason: string }) => e.reason === 'expired');
          const removed = expired.flatMap((e: { attributes: string[] }) => e.attributes).sort();
          assert.deepEqual(removed, ['s1', 's2', 't1'], `room ${room}: each key once`);
          assert.ok(
            expired.every((e: { from: string; attributes: string[] }) =>
              e.attributes.every((k) => k.startsWith(e.from === 'alice' ? 's' : 't')),
            ),
          );
          assert.deepEqual((await a.admin.call('POST', `/metadata/chatroom/${room}`, {})).body.data, {});
        }
        for (const w of watchers) {
          // no duplicate arrived after the last expected one
          const got = eventsOf(w).filter((e) => e.reason === 'expired');
          assert.equal(new Set(got.map((e) => e.seq)).size, got.length);
          w.close();
        }
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    });
  });
}
