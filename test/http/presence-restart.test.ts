import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeApp, removeTempDir, tempDir, userToken } from '../support/apps.js';
import { sqliteTarget, startTarget } from '../support/server.js';
import { GRACE_MS, NO_LIMIT, members, offlineLeave, put, sse, through, until } from './suites/presence-support.js';

/**
 * Presence across a restart of the one SQLite instance (spec section 9): the members online when
 * it stopped get the grace to come back, counted from the next start, however long it was down.
 */
describe('presence across a restart [sqlite]', () => {
  it('a restart gives every member that was online the grace to come back, from the start', async () => {
    const app = makeApp({ limits: NO_LIMIT, presence: { leaveAfterOfflineMs: GRACE_MS } });
    const dataDir = tempDir();
    try {
      let server = await startTarget(sqliteTarget, [app], { dataDir });
      let fx = through(server.url, app);
      await fx.createUsers('alice', 'bob', 'carol');
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      await put(fx, room, 'bob', { seat: 'bob' });
      await put(fx, room, 'carol', { mic: 'carol' });
      await sse(fx, room, userToken(app, 'bob'));
      await sse(fx, room, userToken(app, 'carol'));
      // The stop ends both streams; the server is down for longer than the grace.
      await server.close();
      const stoppedAt = Date.now();
      await until(stoppedAt + 2 * GRACE_MS);

      const startingAt = Date.now();
      server = await startTarget(sqliteTarget, [app], { dataDir });
      fx = through(server.url, app);
      assert.deepEqual(await members(fx, room), ['alice', 'bob', 'carol'], 'no one left at the start');
      const observer = await sse(fx, room);
      const carol = await sse(fx, room, userToken(app, 'carol'));
      const left = await offlineLeave(observer, 'bob');
      assert.deepEqual(left.attributes, ['seat']);
      assert.ok(left.timestamp >= startingAt + GRACE_MS, `bob left ${left.timestamp - startingAt} ms after the start`);
      assert.deepEqual(await members(fx, room), ['alice', 'carol'], 'carol came back in time');
      for (const s of [observer, carol]) s.close();
      await server.close();
    } finally {
      removeTempDir(dataDir);
    }
  });
});
