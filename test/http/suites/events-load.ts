import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream } from '../../support/sse.js';
import {
  assertEvent,
  assertSnapshot,
  eventsFixture,
  eventsUrl,
  NO_LIMIT,
  ok,
  SEED,
  seededRoom,
  stallOneSubscriber,
  WAIT_MS,
} from './events-support.js';

/** Change events under load (see eventsFixture): subscribers that stall or do not read, and 20 concurrent writers. */
export function eventsLoadSuite(target: Target): void {
  describe(`change events over SSE [${target.name}]`, () => {
    const h = eventsFixture(target);
    const { sse, path, writers } = h;

    it('default buffer: a stalled subscriber is dropped while one that reads keeps every event', async () => {
      const owners = ['alice', 'bob', 'carol', 'dave'];
      const room = await seededRoom(h.fx, 'alice', owners.slice(1));
      const { s: reader } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      // 200 events of ~40 KB: past the kernel's buffers plus the 1 MiB default
      const last = await stallOneSubscriber(h.fx, room, 1, owners, 50);
      await reader.next((m) => m.seq === String(last), WAIT_MS);
      assert.deepEqual(
        reader.messages.map((m) => Number(m.seq)),
        Array.from({ length: last }, (_, i) => i + 1),
      );
      assert.equal(reader.endReason, undefined, 'the reading subscriber is still connected');
      reader.close();
    });

    it('20 concurrent writers into one room: the subscriber sees every seq once, in order', async () => {
      const room = await seededRoom(h.fx, at(writers, 0), writers.slice(1));
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, snapshot, room, 1, SEED);
      const ROUNDS = 5;
      await Promise.all(
        writers.map(async (w) => {
          const c = h.fx.user(w);
          for (let j = 0; j < ROUNDS; j++) ok(await c.call('PUT', path(room, w), { body: { metaData: { [w]: String(j) } } }), [w]);
        }),
      );
      const total = writers.length * ROUNDS;
      const got: any[] = [];
      for (let i = 0; i < total; i++) got.push(json(await s.next(undefined, WAIT_MS)));
      assert.deepEqual(
        got.map((b) => b.seq),
        Array.from({ length: total }, (_, i) => i + 2),
        'seqs 2..N+1, once each, in order',
      );
      assert.deepEqual(
        s.messages.slice(1).map((m) => m.seq),
        got.map((b) => String(b.seq)),
      );
      // each writer's own calls appear in the order it made them
      for (const w of writers) {
        const mine = got.filter((b) => b.from === w);
        assert.deepEqual(
          mine.map((b) => b.attributes),
          Array.from({ length: ROUNDS }, (_, j) => ({ [w]: String(j) })),
          w,
        );
        for (const b of mine) assert.equal(b.id, `${room}:${b.seq}`);
      }
      const later = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, later.snapshot, room, total + 1, {
        ...SEED,
        ...Object.fromEntries(writers.map((w) => [w, String(ROUNDS - 1)])),
      });
      later.s.close();
      s.close();
    });
  });

  describe(`change events, a subscriber that does not read [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_SSE_MAX_BUFFER: '1024' } });
      await fx.createUsers('alice', 'bob', 'carol', 'dave');
    });
    after(() => fx.close());

    it('is disconnected once ROOMKV_SSE_MAX_BUFFER behind, while every write still answers 200 at once', async () => {
      const owners = ['alice', 'bob', 'carol', 'dave'];
      const room = await seededRoom(fx, 'alice', owners.slice(1));
      const last = await stallOneSubscriber(fx, room, 1, owners, 40);
      // the service logged every write: a resume from the last seq gets the next one
      const stored = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.equal(Object.keys(stored.body.data).length, 1 + owners.length * 10);
      const resumed = await openStream(eventsUrl(fx, room), { token: appToken(fx.app), headers: { 'Last-Event-ID': String(last) } });
      try {
        assert.equal(resumed.status, 200);
        ok(await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { small: 's' } } }), ['small']);
        assertEvent(fx, await resumed.next(undefined, WAIT_MS), {
          seq: last + 1,
          room,
          reason: 'set',
          from: 'bob',
          attributes: { small: 's' },
        });
      } finally {
        resumed.close();
        await resumed.closed;
      }
    });
  });
}
