// Webhooks end to end, when deliveries fail: retried with backoff in seq order per room, given up
// after the retry window, and never lost across a kill -9 (webhooks-support.ts: every store).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { tempDir, writeAppsFile } from '../support/apps.js';
import { at } from '../support/at.js';
import { spawnServer } from '../support/server.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import {
  adminOf,
  checkRoom,
  createRoom,
  createUsers,
  drained,
  FAST,
  forEachStore,
  hookedApp,
  SECRET,
  setAttr,
  waitFor,
  webhooksOf,
} from './webhooks-support.js';

forEachStore(({ store, cleanups, serve, receiverUp }) => {
  it('retries failed deliveries in seq order per room, each event acknowledged exactly once', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    receiver.failFirst(5);
    const app = hookedApp(receiver, [{ path: '/hook' }]);
    const server = await serve(app, FAST);
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice');
    const rooms = [await createRoom(admin, 'alice'), await createRoom(admin, 'alice'), await createRoom(admin, 'alice')];
    const PER_ROOM = 7;
    const expected = Array.from({ length: PER_ROOM }, (_, i) => ({ n: String(i) }));
    await Promise.all(
      rooms.map(async (room) => {
        for (const attrs of expected) await setAttr(admin, room, 'alice', attrs);
      }),
    );

    await receiver.waitForEvents(rooms.length * PER_ROOM);
    for (const room of rooms) checkRoom(receiver, '/hook', room, expected);
    const all = receiver.received('/hook');
    const failed = all.filter((r) => r.status === 500);
    assert.equal(failed.length, 5, 'the first five requests were answered 500');
    assert.deepEqual(
      failed.map((r) => r.n),
      [1, 2, 3, 4, 5],
    );
    assert.ok(
      all.some((r) => r.attempt > 1),
      'a retried delivery says so in x-roomkv-attempt',
    );
    assert.equal(all.length, rooms.length * PER_ROOM + 5, 'no request beyond one per failure and one per event');

    const state = await drained(admin, rooms.length * PER_ROOM);
    assert.equal(state.endpoints.length, 1);
    assert.equal(at(state.endpoints, 0).url, receiver.url('/hook'));
    assert.equal(at(state.endpoints, 0).pending, 0);
    const id = at(state.endpoints, 0).id;
    const retries = state.attempts.filter((a) => a.outcome === 'retry');
    const delivered = state.attempts.filter((a) => a.outcome === 'delivered');
    assert.equal(retries.length, 5);
    assert.equal(delivered.length, rooms.length * PER_ROOM);
    assert.equal(state.attempts.length, rooms.length * PER_ROOM + 5, 'nothing else recorded');
    for (const a of retries) assert.deepEqual([a.status, a.error, a.endpoint], [500, 'HTTP 500', id]);
    for (const a of delivered) assert.deepEqual([a.status, a.error, a.endpoint], [200, null, id]);
    // per event, newest first: the delivered attempt, then its failed ones, numbered down to 1
    for (const room of rooms) {
      for (let seq = 1; seq <= PER_ROOM; seq++) {
        const mine = state.attempts.filter((a) => a.roomId === room && a.seq === seq);
        const sent = all.filter((r) => r.eventId === `${room}:${seq}`);
        assert.deepEqual(
          mine.map((a) => a.attempt),
          sent.map((_, i) => sent.length - i),
          `${room}:${seq}: attempts newest first`,
        );
        assert.deepEqual(
          mine.map((a) => a.outcome),
          sent.map((_, i) => (i === 0 ? 'delivered' : 'retry')),
        );
      }
    }
  });

  it('gives an event up after the retry window, records it, then delivers the next event of the room', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    receiver.failAll();
    const app = hookedApp(receiver, [{ path: '/hook' }]);
    const server = await serve(app, { ...FAST, ROOMKV_WEBHOOK_RETRY_MS: '300' });
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice');
    const room = await createRoom(admin, 'alice');
    await setAttr(admin, room, 'alice', { n: '1' });

    const state = await waitFor('a gave_up attempt for seq 1', async () => {
      const data = await webhooksOf(admin);
      return data.attempts.some((a) => a.roomId === room && a.seq === 1 && a.outcome === 'gave_up') ? data : false;
    });
    const mine = state.attempts.filter((a) => a.roomId === room && a.seq === 1).reverse();
    assert.ok(mine.length >= 2, `retried before giving up: ${mine.length} attempts`);
    assert.deepEqual(
      mine.map((a) => a.attempt),
      mine.map((_, i) => i + 1),
    );
    assert.deepEqual(
      mine.map((a) => a.outcome),
      mine.map((_, i) => (i === mine.length - 1 ? 'gave_up' : 'retry')),
    );
    for (const a of mine) assert.deepEqual([a.status, a.error], [500, 'HTTP 500']);
    const first = at(mine, 0).at;
    for (const a of mine.slice(0, -1)) assert.ok(a.at + a.durationMs - first < 300, `attempt ${a.attempt} was still inside the window`);
    const last = at(mine, mine.length - 1);
    assert.ok(last.at + last.durationMs - first >= 300, 'given up only once the window was over');
    assert.equal(at(state.endpoints, 0).pending, 0, 'a given-up event leaves the outbox');
    const sent = receiver.received('/hook');
    assert.deepEqual(
      sent.map((r) => r.eventId),
      mine.map(() => `${room}:1`),
    );
    assert.deepEqual(
      sent.map((r) => r.attempt),
      mine.map((a) => a.attempt),
    );
    assert.ok(sent.every((r) => r.status === 500 && r.verified));

    receiver.succeedAll();
    await setAttr(admin, room, 'alice', { n: '2' });
    await receiver.waitForEvents(1);
    const next = receiver.received('/hook').slice(mine.length);
    assert.deepEqual(
      next.map((r) => [r.eventId, r.attempt, r.status]),
      [[`${room}:2`, 1, 200]],
      'seq 1 is not sent again; seq 2 once',
    );
    assert.deepEqual(JSON.parse(at(next, 0).body).attributes, { n: '2' });
    const end = await drained(admin, 1);
    const newest = at(end.attempts, 0);
    assert.deepEqual([newest.roomId, newest.seq, newest.attempt, newest.outcome, newest.status], [room, 2, 1, 'delivered', 200]);
  });

  it('loses no delivery when roomkv is killed -9 while the endpoint is down', { timeout: 45_000 }, async () => {
    const receiver = await WebhookReceiver.reserve(SECRET);
    cleanups.push(() => receiver.close());
    const app = hookedApp(receiver, [{ path: '/hook' }]);
    const dataDir = tempDir();
    const base = { ...store.env, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir) };
    // Before the crash, a failed attempt waits at least 1.5 s for its retry: the kill below is
    // timed between two attempts, so no Redis lease (60 s) is left behind by the dead process.
    const first = await spawnServer({ ...base, ROOMKV_WEBHOOK_BACKOFF_MS: '3000', ROOMKV_WEBHOOK_BACKOFF_MAX_MS: '3000' });
    cleanups.push(() => first.kill9());
    const admin1 = adminOf(first.url, app);
    await createUsers(admin1, 'alice');
    const rooms = [await createRoom(admin1, 'alice'), await createRoom(admin1, 'alice')];
    const expected = new Map(rooms.map((room, r) => [room, Array.from({ length: 10 }, (_, i) => ({ n: `${r}-${i}` }))]));
    await Promise.all(
      rooms.map(async (room) => {
        for (const attrs of expected.get(room)!) await setAttr(admin1, room, 'alice', attrs);
      }),
    );

    await waitFor(
      'a moment between two failed attempts of every room, to kill -9 in',
      async () => {
        const { attempts } = await webhooksOf(admin1);
        const latest = rooms.map((room) => attempts.find((a) => a.roomId === room));
        if (latest.some((a) => a === undefined)) return false;
        for (const a of latest) assert.deepEqual([a!.seq, a!.outcome, a!.status], [1, 'retry', null], 'nothing listens: no status');
        const quietUntil = Math.min(...latest.map((a) => a!.at + a!.durationMs + 1500));
        if (Date.now() + 300 >= quietUntil) return false;
        await first.kill9();
        return true;
      },
      20_000,
    );
    assert.equal(receiver.requests.length, 0);

    const second = await spawnServer({ ...base, ...FAST });
    cleanups.push(() => second.stop());
    await receiver.up();
    await receiver.waitForEvents(20);
    for (const room of rooms) checkRoom(receiver, '/hook', room, expected.get(room)!, new Set([1]));
    assert.equal(receiver.acknowledged('/hook').size, 20);

    const state = await drained(adminOf(second.url, app), 20);
    for (const room of rooms) {
      const delivered = state.attempts
        .filter((a) => a.roomId === room && a.outcome === 'delivered')
        .map((a) => a.seq)
        .sort((x, y) => x - y);
      assert.deepEqual(
        delivered,
        expected.get(room)!.map((_, i) => i + 1),
        `${room}: every event delivered once`,
      );
      assert.ok(
        state.attempts.some((a) => a.roomId === room && a.seq === 1 && a.outcome === 'retry' && a.status === null),
        `${room}: the attempts made before the crash are still listed`,
      );
    }
  });
});
