import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile } from '../support/apps.js';
import { redisTarget, spawnServer, startTarget, type ChildServer, type ServerHandle } from '../support/server.js';
import { json, openStream, type SseStream } from '../support/sse.js';
import {
  eventsUrl,
  GRACE_MS,
  hangUp,
  members,
  nextPresence,
  NO_LIMIT,
  offlineLeave,
  onlineList,
  put,
  sse,
  through,
  WAIT_MS,
  witnessLeaves,
} from './suites/presence-support.js';

/**
 * Presence across roomkv instances on one Redis (spec section 9): an instance holds its members
 * online by a lease it renews. Killed (kill -9), it renews no more: once its lease lapses another
 * instance sweeps what it held, and its members leave after the grace, handled exactly once
 * whichever instances notice. Stopped gracefully, what it held goes offline at once, and a member
 * that reconnects to another instance within the grace stays.
 */
for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) {
    describe(`presence across instances [${kind}]`, { skip: target.missing }, () => {});
    continue;
  }
  describe(`presence across instances [${kind}]`, () => {
    const app = makeApp({ limits: NO_LIMIT, presence: { leaveAfterOfflineMs: GRACE_MS } });
    let killed: ChildServer;
    let b: ServerHandle;
    let c: ServerHandle;
    let cOpen = true;
    const streams: SseStream[] = [];
    before(async () => {
      const env = target.env();
      killed = await spawnServer({ ...env, ROOMKV_APPS_FILE: writeAppsFile([app]), ROOMKV_DATA_DIR: tempDir() });
      b = await startTarget(target, [app], { env });
      c = await startTarget(target, [app], { env });
    });
    after(async () => {
      for (const s of streams.splice(0)) await hangUp(s);
      if (killed.child.exitCode === null && killed.child.signalCode === null) await killed.stop();
      await b.close();
      if (cOpen) await c.close();
    });

    it('kill -9 of the instance holding a member: it leaves after the lease lapses and the grace, exactly once', async () => {
      const [onA, onB, onC] = [through(killed.url, app), through(b.url, app), through(c.url, app)];
      await onB.createUsers('alice', 'bob', 'carol', 'dave');
      const room = await onB.createRoom('alice', ['bob', 'carol', 'dave']);
      await put(onB, room, 'bob', { seat: 'bob' });
      const observer = await sse(onB, room);
      streams.push(observer);
      const bob = await openStream(eventsUrl(onA, room), { token: userToken(app, 'bob') });
      assert.equal(bob.status, 200);
      await nextPresence(observer, 'bob', 'online');
      streams.push(await sse(onC, room, userToken(app, 'carol')));
      await nextPresence(observer, 'carol', 'online');

      const killedAt = Date.now();
      await killed.kill9();
      const wentOff = await nextPresence(observer, 'bob', 'offline');
      assert.ok(wentOff.timestamp >= killedAt);
      const left = await offlineLeave(observer, 'bob');
      assert.deepEqual(left.attributes, ['seat']);
      assert.ok(left.timestamp >= wentOff.timestamp + GRACE_MS);
      assert.ok(left.timestamp - killedAt < 10_000 + GRACE_MS + 2000, `left ${left.timestamp - killedAt} ms after the kill`);
      assert.deepEqual(await onlineList(onC, room), ['carol'], 'carol, held by a living instance, is still online');

      // Both living instances sweep and apply leaves: by the time a later witness has left, any
      // second application of bob's leave would have happened. The log holds one.
      await witnessLeaves(onC, room, 'dave', observer);
      const replay = await openStream(eventsUrl(onC, room), { token: appToken(app), query: { since: '0' } });
      streams.push(replay);
      await replay.next((m) => m.event === undefined && json(m).from === 'dave' && json(m).reason === 'member_offline', WAIT_MS);
      const leaves = replay.messages.filter((m) => m.event === undefined && json(m).reason === 'member_offline' && json(m).from === 'bob');
      assert.equal(leaves.length, 1);
      assert.deepEqual(await members(onB, room), ['alice', 'carol']);
    });

    it('a graceful stop counts as offline: a member that reconnects to another instance within the grace stays', async () => {
      const [onB, onC] = [through(b.url, app), through(c.url, app)];
      await onB.createUsers('erin', 'fred', 'gina');
      const room = await onB.createRoom('erin', ['fred', 'gina']);
      await put(onB, room, 'fred', { seat: 'fred' });
      await put(onB, room, 'gina', { mic: 'gina' });
      const observer = await sse(onB, room);
      streams.push(observer);
      await sse(onC, room, userToken(app, 'fred'));
      await sse(onC, room, userToken(app, 'gina'));
      await nextPresence(observer, 'gina', 'online');

      cOpen = false;
      await c.close();
      await nextPresence(observer, 'fred', 'offline');
      streams.push(await sse(onB, room, userToken(app, 'fred')));
      await nextPresence(observer, 'fred', 'online');
      await offlineLeave(observer, 'gina');
      assert.deepEqual(await members(onB, room), ['erin', 'fred']);
      assert.deepEqual(await onlineList(onB, room), ['fred']);
    });
  });
}
