import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, type OpenStreamOptions } from '../../support/sse.js';
import {
  assertEvent,
  assertSnapshot,
  eventsFixture,
  eventsUrl,
  NO_LIMIT,
  ok,
  SEED,
  seededRoom,
  streams,
  WAIT_MS,
} from './events-support.js';

/** Resuming a stream (see eventsFixture): exactly the missed events then live, past the buffer, and past what the log holds. */
export function eventsResumeSuite(target: Target): void {
  describe(`change events over SSE [${target.name}]`, () => {
    const h = eventsFixture(target);
    const { sse, path } = h;

    /** Disconnect after seq 2, make 3 changes, resume after 2: exactly 3..5, then live. */
    async function resumeAfterThree(resume: (lastSeen: string) => OpenStreamOptions) {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, snapshot, room, 1, SEED);
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { r: '1' } } }), ['r']);
      const seen = await s.next();
      assert.equal(seen.seq, '2');
      s.close();
      await s.closed;
      assert.equal(s.endReason, 'aborted');

      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { r: '2' } } }), ['r']);
      ok(await h.fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { b: '3' } } }), ['b']);
      ok(await h.fx.admin.call('DELETE', path(room, 'alice'), { body: { keys: ['r'] } }), ['r']);

      const again = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app), ...resume(seen.id!) });
      assert.equal(again.status, 200, again.text);
      assertEvent(h.fx, await again.next(), { seq: 3, room, reason: 'set', from: 'alice', attributes: { r: '2' } });
      assertEvent(h.fx, await again.next(), { seq: 4, room, reason: 'set', from: 'bob', attributes: { b: '3' } });
      assertEvent(h.fx, await again.next(), { seq: 5, room, reason: 'delete', from: 'alice', attributes: ['r'] });
      assert.equal(again.messages.length, 3, 'no snapshot on resume, nothing beyond the missed events');
      ok(await h.fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { live: 'y' } } }), ['live']);
      assertEvent(h.fx, await again.next(), { seq: 6, room, reason: 'set', from: 'bob', attributes: { live: 'y' } });
      assert.deepEqual(
        again.messages.map((m) => m.seq),
        ['3', '4', '5', '6'],
      );
      again.close();
    }

    it('resume with Last-Event-ID: exactly the missed events, then live', async () => {
      await resumeAfterThree((last) => ({ headers: { 'Last-Event-ID': last } }));
    });

    it('resume with ?since=: exactly the missed events, then live', async () => {
      await resumeAfterThree((last) => ({ query: { since: last } }));
    });

    it('a resume whose missed events exceed the 1 MiB buffer still gets every one, then live', async () => {
      const room = await seededRoom(h.fx, 'alice');
      // 30 events of 10 values of 4086 characters: ~1.2 MB of missed events
      for (let i = 0; i < 30; i++) {
        const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`big${k}`, `${i}`.padEnd(4086, 'v')]));
        ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData } }), Object.keys(metaData));
      }
      const s = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app), headers: { 'Last-Event-ID': '1' } });
      assert.equal(s.status, 200, s.text);
      await s.next((m) => m.seq === '31', WAIT_MS);
      assert.deepEqual(
        s.messages.map((m) => Number(m.seq)),
        Array.from({ length: 30 }, (_, i) => i + 2),
      );
      assert.equal(json(at(s.messages, 29)).attributes.big0, '29'.padEnd(4086, 'v'));
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { live: '1' } } }), ['live']);
      assertEvent(h.fx, await s.next(), { seq: 32, room, reason: 'set', from: 'alice', attributes: { live: '1' } });
      s.close();
    });
  });

  describe(`change events, a short event log [${target.name}]`, () => {
    let fx: Fixture;
    const sse = streams();
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_EVENT_LOG_SIZE: '1', ROOMKV_EVENT_LOG_MS: '0' } });
      await fx.createUsers('alice');
    });
    after(async () => {
      await sse.closeAll();
      await fx.close();
    });

    it('a resume from further back than the log holds gets a snapshot, then live', async () => {
      const room = await fx.createRoom('alice');
      const TOTAL = 70;
      const expected: Record<string, string> = {};
      for (let i = 1; i <= TOTAL; i++) {
        ok(await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { [`k${i % 50}`]: `v${i}` } } }), [
          `k${i % 50}`,
        ]);
        expected[`k${i % 50}`] = `v${i}`;
      }
      // seq 64 pruned everything up to 63 (older than 0 ms, beyond the newest 1)
      for (const opts of [{ headers: { 'Last-Event-ID': '1' } }, { query: { since: '1' } }]) {
        const s = await sse.open(`${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`, {
          token: appToken(fx.app),
          ...opts,
        });
        assert.equal(s.status, 200, s.text);
        assertSnapshot(fx, await s.next(), room, TOTAL, expected);
        s.close();
      }

      // what is still in the log is replayed, not replaced by a snapshot
      const kept = await sse.open(`${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`, {
        token: appToken(fx.app),
        headers: { 'Last-Event-ID': '63' },
      });
      assert.equal(kept.status, 200, kept.text);
      for (let seq = 64; seq <= TOTAL; seq++) {
        assertEvent(fx, await kept.next(), { seq, room, reason: 'set', from: 'alice', attributes: { [`k${seq % 50}`]: `v${seq}` } });
      }
      ok(await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { live: '1' } } }), ['live']);
      assertEvent(fx, await kept.next(), { seq: TOTAL + 1, room, reason: 'set', from: 'alice', attributes: { live: '1' } });
      assert.equal(kept.messages.length, TOTAL + 1 - 63);

      const resumed = await sse.open(`${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`, {
        token: appToken(fx.app),
        headers: { 'Last-Event-ID': '1' },
      });
      assertSnapshot(fx, await resumed.next(), room, TOTAL + 1, { ...expected, live: '1' });
      ok(await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { live: '2' } } }), ['live']);
      assertEvent(fx, await resumed.next(), { seq: TOTAL + 2, room, reason: 'set', from: 'alice', attributes: { live: '2' } });
      assert.equal(resumed.messages.length, 2);
      resumed.close();
      kept.close();
    });
  });
}
