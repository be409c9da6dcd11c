import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type SseMessage, type SseStream } from '../../support/sse.js';
import { waitFor } from '../../support/wait.js';
import { assertEvent, eventsUrl, WAIT_MS } from './events-support.js';

/** How late after its time a key may go: the spec's 1 s, and room for a busy machine (the sweep runs every 250 ms). */
const LATE_MS = 1500;

/**
 * Spec section 10's ttl through the REST API, with the real sweeper: the expiry a get with detail
 * shows, the `expired` event from the key's owner with what the key was, the reads and the history
 * after it, a key written again without ttl, the room and bytes it frees, and the bad shapes.
 * The moment between a key's time and its sweep is tested with a clock the test moves, on the
 * store (test/store/expiry.test.ts).
 */
export function expirySuite(target: Target): void {
  describe(`expiry with ttl [${target.name}]`, () => {
    let fx: Fixture;
    const put = (room: string, user: string, body: unknown, forced = false, f = fx) =>
      f.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body });
    const get = async (room: string, body: unknown = {}, f = fx) => {
      const res = await f.admin.call('POST', `/metadata/chatroom/${room}`, { body });
      assert.equal(res.status, 200, res.text);
      return res.body.data;
    };
    const streams: SseStream[] = [];
    const watch = async (room: string, f = fx) => {
      const s = await openStream(eventsUrl(f, room), { token: appToken(f.app) });
      streams.push(s);
      await s.next((m) => m.event === 'snapshot');
      return s;
    };
    const expired = (s: SseStream, from: string): Promise<SseMessage> =>
      s.next((m) => m.event === undefined && json(m).reason === 'expired' && json(m).from === from, WAIT_MS);
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob');
    });
    after(async () => {
      for (const s of streams) s.close();
      await fx.close();
    });

    it('a key with a ttl goes at its time: an expired event from its owner with what it was; reads and history agree', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const stream = await watch(room);
      const start = Date.now();
      const res = await put(room, 'alice', { metaData: { seat: 'alice', keep: 'k' }, ttl: { seat: 1 } });
      const end = Date.now();
      assert.deepEqual(res.body.data, { successKeys: ['seat', 'keep'], errorKeys: {} });
      const d = await get(room, { detail: true });
      assert.ok(
        d.seat.expiresAt >= start + 1000 && d.seat.expiresAt <= end + 1000,
        `expiresAt ${d.seat.expiresAt - start} ms after the call`,
      );
      assert.equal(d.keep.expiresAt, null);
      const set = await stream.next((m) => m.event === undefined && json(m).reason === 'set');
      const m = await expired(stream, 'alice');
      assertEvent(fx, m, {
        seq: Number(set.seq) + 1,
        room,
        reason: 'expired',
        from: 'alice',
        attributes: ['seat'],
        previous: { seat: { value: 'alice', owner: 'alice' } },
      });
      const at = json(m).timestamp;
      assert.ok(at >= d.seat.expiresAt && at <= d.seat.expiresAt + LATE_MS, `removed ${at - d.seat.expiresAt} ms after its time`);
      assert.deepEqual(await get(room), { keep: 'k' });
      assert.deepEqual(Object.keys(await get(room, { keys: ['seat', 'keep'], detail: true })), ['keep']);
      const history = await fx.admin.call('GET', `/metadata/chatroom/${room}/history?key=seat`);
      assert.equal(history.status, 200, history.text);
      assert.deepEqual(history.body.data.events.at(-1), json(m), 'the log has it as it was streamed');
      // a subscriber that starts now gets a snapshot without it
      const late = await openStream(eventsUrl(fx, room), { token: appToken(fx.app) });
      streams.push(late);
      assert.deepEqual(json(await late.next((x) => x.event === 'snapshot')).attributes, { keep: 'k' });
    });

    it('keys of several owners: one event per owner; a key written again without ttl keeps no expiry', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const stream = await watch(room);
      await put(room, 'alice', { metaData: { a1: '1', a2: '2' }, ttl: { a1: 1, a2: 1 } });
      await put(room, 'bob', { metaData: { b1: '1', b2: '2' }, ttl: { b1: 1, b2: 1 } });
      const rewrite = await put(room, 'bob', { metaData: { b2: 'kept' } });
      assert.deepEqual(rewrite.body.data, { successKeys: ['b2'], errorKeys: {} });
      assert.equal((await get(room, { keys: ['b2'], detail: true })).b2.expiresAt, null);
      const fromAlice = json(await expired(stream, 'alice'));
      assert.deepEqual(fromAlice.attributes, ['a1', 'a2'], 'one call, one time: one event');
      const fromBob = json(await expired(stream, 'bob'));
      assert.deepEqual([fromBob.attributes, fromBob.previous], [['b1'], { b1: { value: '1', owner: 'bob' } }]);
      assert.deepEqual(await get(room), { b2: 'kept' });
    });

    it('an expired seat may be taken by another member; its room and bytes count as free again', async () => {
      const small = await startFixture(target, { maxAttributesPerRoom: 2, maxAppBytes: 20 });
      try {
        await small.createUsers('alice', 'bob');
        const room = await small.createRoom('alice', ['bob']);
        const stream = await watch(room, small);
        // seat: 4 + 9 bytes, full: 4 + 1; 18 of the app's 20
        await put(room, 'alice', { metaData: { seat: 'alice-now', full: 'x' }, ttl: { seat: 1 } }, false, small);
        const refused = await put(room, 'bob', { metaData: { seat: 'bob', other: 'o', z: 'zzz' } }, false, small);
        assert.deepEqual(refused.body.data.successKeys, []);
        assert.deepEqual(Object.keys(refused.body.data.errorKeys), ['seat', 'other', 'z']);
        await expired(stream, 'alice');
        // seat: 4 + 8 bytes, with full's 5: 17 of 20, room only with the expired key's 13 freed, and
        // the room's second key, room only with the expired one gone. On a cluster the app's usage is
        // lowered just after the sweep's script, so it is tried until then.
        const taken = await waitFor('the expired key freed', async () => {
          const res = await put(room, 'bob', { metaData: { seat: 'fourteen' } }, false, small);
          return res.body.data.successKeys.length === 1 ? res.body.data : undefined;
        });
        assert.deepEqual(taken, { successKeys: ['seat'], errorKeys: {} });
        const set = json(await stream.next((m) => m.event === undefined && json(m).reason === 'set' && json(m).from === 'bob'));
        assert.deepEqual(set.previous, { seat: null }, 'the expired key did not exist for the write');
      } finally {
        await small.close();
      }
    });

    it('bad ttl shapes are 400 illegal_argument naming ttl, and write nothing', async () => {
      const room = await fx.createRoom('alice');
      await put(room, 'alice', { metaData: { a: 'before' } });
      for (const ttl of [{ a: 0 }, { a: -1 }, { a: 2_592_001 }, { a: 1.5 }, { a: '3' }, { a: null }, { other: 5 }, [1], 'x', 7]) {
        const res = await put(room, 'alice', { metaData: { a: 'after' }, ttl });
        assert.equal(res.status, 400, JSON.stringify(ttl));
        assert.equal(res.body.error, 'illegal_argument', JSON.stringify(ttl));
        assert.match(res.body.error_description, /ttl/, JSON.stringify(ttl));
      }
      assert.deepEqual(await get(room, { detail: true }), {
        a: { value: 'before', owner: 'alice', autoDelete: 'DELETE', revision: 1, expiresAt: null },
      });
      const ok = await put(room, 'alice', { metaData: { a: 'longest' }, ttl: { a: 2_592_000 } });
      assert.deepEqual(ok.body.data, { successKeys: ['a'], errorKeys: {} });
      const d = await get(room, { detail: true });
      assert.ok(Math.abs(d.a.expiresAt - (Date.now() + 2_592_000_000)) < 60_000);
    });
  });
}
