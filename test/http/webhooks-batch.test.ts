// Webhooks end to end, batching: an endpoint declared with `batch` gets signed POSTs of JSON arrays
// of events, at most maxEvents each, each room's events in seq order across the batches, each event
// acknowledged once, and a failed batch sent again (webhooks-support.ts: every store).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError } from '../../src/config/config.js';
import { parseAppsFile } from '../../src/config/apps.js';
import { at } from '../support/at.js';
import { makeApp, type TestApp } from '../support/apps.js';
import type { ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver.js';
import { waitFor } from '../support/wait.js';
import {
  adminOf,
  createRoom,
  createUsers,
  drained,
  FAST,
  forEachStore,
  is2xx,
  SECRET,
  setAttr,
  WAIT_MS,
  webhooksOf,
} from './webhooks-support.js';

interface Event {
  chatroomId: string;
  seq: number;
  attributes: Record<string, string>;
}

/** An app with one batching endpoint on `receiver`'s /batch. */
function batchingApp(receiver: WebhookReceiver, batch: { maxEvents: number; maxDelayMs: number }): TestApp {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  return Object.assign(app, { webhooks: [{ url: receiver.url('/batch'), secret: SECRET, batch }] });
}

/** Each request's events, checked for shape: a signed POST of an array, its size in X-Roomkv-Batch. */
function eventsOf(r: ReceivedRequest, maxEvents: number): Event[] {
  assert.equal(r.method, 'POST');
  assert.equal(r.verified, true, `signature of request ${r.n}`);
  const events = JSON.parse(r.body) as Event[];
  assert.ok(Array.isArray(events), `request ${r.n} carries an array: ${r.body.slice(0, 200)}`);
  assert.ok(events.length >= 1 && events.length <= maxEvents, `request ${r.n}: ${events.length} events, at most ${maxEvents}`);
  assert.equal(r.headers['x-roomkv-batch'], String(events.length));
  assert.equal(r.headers['x-roomkv-event-id'], undefined, 'a batch names its events in its body');
  return events;
}

/** The distinct events acknowledged by a 2xx on /batch, as `room:seq`. */
function acknowledged(receiver: WebhookReceiver, maxEvents: number): Set<string> {
  const ids = new Set<string>();
  for (const r of receiver.received('/batch').filter(is2xx)) for (const e of eventsOf(r, maxEvents)) ids.add(`${e.chatroomId}:${e.seq}`);
  return ids;
}

/**
 * Across the requests in arrival order, per room: each request carries a run of consecutive seqs
 * that starts right after the room's last acknowledged event (a failed request's run comes again
 * from there), so that every event is acknowledged exactly once and in seq order.
 */
function checkOrder(receiver: WebhookReceiver, maxEvents: number): void {
  const acked = new Map<string, number>();
  for (const r of receiver.received('/batch')) {
    const inThis = new Map<string, number>();
    for (const e of eventsOf(r, maxEvents)) {
      const want = (inThis.get(e.chatroomId) ?? acked.get(e.chatroomId) ?? 0) + 1;
      assert.equal(e.seq, want, `room ${e.chatroomId} in request ${r.n} (${r.status}): seq ${e.seq} where ${want} was next`);
      inThis.set(e.chatroomId, e.seq);
    }
    if (is2xx(r)) for (const [room, seq] of inThis) acked.set(room, seq);
  }
}

forEachStore(({ serve, receiverUp }) => {
  it(
    'POSTs arrays of at most maxEvents events, each room in seq order, each event once, the last ones after maxDelayMs',
    { timeout: 30_000 },
    async () => {
      const receiver = await receiverUp();
      const batch = { maxEvents: 5, maxDelayMs: 300 };
      const app = batchingApp(receiver, batch);
      const server = await serve(app, FAST);
      const admin = adminOf(server.url, app);
      await createUsers(admin, 'alice');
      const rooms = [await createRoom(admin, 'alice'), await createRoom(admin, 'alice'), await createRoom(admin, 'alice')];
      const expected = new Map<string, Record<string, string>>();
      for (let i = 1; i <= 4; i++) {
        for (const room of rooms) {
          await setAttr(admin, room, 'alice', { seat: `s${i}` });
          expected.set(`${room}:${i}`, { seat: `s${i}` });
        }
      }
      await waitFor('all 12 events acknowledged', async () => acknowledged(receiver, batch.maxEvents).size >= 12, WAIT_MS);
      await drained(admin, 1);
      checkOrder(receiver, batch.maxEvents);
      assert.deepEqual([...acknowledged(receiver, batch.maxEvents)].sort(), [...expected.keys()].sort());
      for (const r of receiver.received('/batch')) {
        for (const e of eventsOf(r, batch.maxEvents)) assert.deepEqual(e.attributes, expected.get(`${e.chatroomId}:${e.seq}`));
      }
      assert.deepEqual((await webhooksOf(admin)).endpoints[0]?.batch, batch, 'GET /webhooks shows the batching');
      // Fewer requests than events: events shared POSTs.
      assert.ok(receiver.received('/batch').length < 12, `${receiver.received('/batch').length} requests for 12 events`);
    },
  );

  it('a failed batch is sent again whole, with its attempt counted; nothing is lost or doubled', { timeout: 30_000 }, async () => {
    const receiver = await receiverUp();
    const batch = { maxEvents: 10, maxDelayMs: 100 };
    const app = batchingApp(receiver, batch);
    const server = await serve(app, FAST);
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice', 'bob');
    const room = await createRoom(admin, 'alice', ['bob']);
    receiver.failFirst(2);
    await setAttr(admin, room, 'alice', { a: '1' });
    await setAttr(admin, room, 'bob', { b: '1' });
    await setAttr(admin, room, 'alice', { a: '2' });
    await waitFor('all 3 events acknowledged', async () => acknowledged(receiver, batch.maxEvents).size >= 3, WAIT_MS);
    const state = await drained(admin, 1);
    checkOrder(receiver, batch.maxEvents);
    assert.deepEqual([...acknowledged(receiver, batch.maxEvents)].sort(), [`${room}:1`, `${room}:2`, `${room}:3`]);
    const reqs = receiver.received('/batch');
    assert.ok(reqs.length >= 3, `two failed requests and at least one answered: ${reqs.length}`);
    assert.deepEqual(
      reqs.slice(0, 3).map((r) => r.attempt),
      [1, 2, 3],
      'the failed batch goes again with the next attempt number',
    );
    // Each failed try is recorded for its run, then the delivery.
    const outcomes = state.attempts.map((a) => a.outcome);
    assert.ok(outcomes.filter((o) => o === 'retry').length >= 2, outcomes.join(','));
    assert.ok(outcomes.includes('delivered'));
  });
});

it('the apps file takes batch {maxEvents 1-1000, maxDelayMs 0-10000} on a roomkv-format endpoint only', () => {
  const file = (hook: Record<string, unknown>) =>
    JSON.stringify({ apps: [{ ...makeApp(), webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: SECRET, ...hook }] }] });
  const parsed = (hook: Record<string, unknown>) => at(at(parseAppsFile(file(hook), 'apps.json'), 0).webhooks, 0);
  assert.equal(parsed({}).batch, null);
  assert.deepEqual(parsed({ batch: { maxEvents: 100, maxDelayMs: 250 } }).batch, { maxEvents: 100, maxDelayMs: 250 });
  for (const batch of [
    { maxEvents: 0, maxDelayMs: 10 },
    { maxEvents: 1001, maxDelayMs: 10 },
    { maxEvents: 10, maxDelayMs: 10_001 },
    { maxEvents: 10 },
  ]) {
    assert.throws(() => parsed({ batch }), ConfigError, JSON.stringify(batch));
  }
  assert.throws(
    () => parsed({ format: 'agora', batch: { maxEvents: 10, maxDelayMs: 10 } }),
    (err: unknown) => err instanceof ConfigError && /batch needs the roomkv format/.test(err.message),
  );
});
