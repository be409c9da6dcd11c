import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import type { Store } from '../../src/store/types.js';
import { keyOutcomesBody } from '../../src/http/key-reasons.js';
import { clockedRedisPair, clockedSqlite } from './clocked-stores.js';
import { redisEnv } from '../support/server.js';
import { NO_WEBHOOKS } from '../support/routing.js';

/**
 * The ExpiryStore contract (store/types.ts) on every store, driven directly with a clock the test
 * moves: a key is never read after its time, swept or not; a sweep removes it with one `expired`
 * event per owner and frees its bytes; a write over a due key sweeps it first (another member may
 * take it, the room's count has room again); a write without ttl clears the expiry; and of two
 * instances sweeping at once exactly one removes each key (Redis). The HTTP suites
 * (test/http/suites/expiry.ts) drive the same through the real API and the real sweeper.
 */

interface Made {
  store: Store;
  /** A second instance on the same data, for stores that several instances share. */
  twin?: Store;
  /** How many entries the app's expiry index holds (Redis), to see that sweeps drop theirs. */
  indexSize?: (appId: string) => Promise<number>;
  close(): Promise<void>;
}

interface Ev {
  seq: number;
  reason: string;
  from: string;
  attributes: Record<string, string> | string[];
  previous: Record<string, { value: string; owner: string } | null>;
}

/** `shared`: several instances use the store at once (Redis): the test of two instances runs too. */
function runExpirySuite(name: string, shared: boolean, make: (clock: () => number) => Promise<Made>): void {
  describe(`expiry store [${name}]`, () => {
    let now = 1_900_000_000_000;
    let m: Made;
    before(async () => {
      m = await make(() => now);
    });
    after(() => m.close());

    /** A set in any app's room, its outcome as the HTTP answer has it. */
    const setIn = (
      appId: string,
      roomId: string,
      user: string,
      pairs: Record<string, string>,
      o: { ttl?: Record<string, number> | undefined; forced?: boolean; limits?: Partial<Limits> } = {},
    ) =>
      m.store
        .setAttributes({
          appId,
          roomId,
          user,
          forced: o.forced ?? false,
          autoDelete: 'DELETE',
          pairs: Object.entries(pairs),
          limits: { ...DEFAULT_LIMITS, ...o.limits },
          routing: NO_WEBHOOKS,
          ...(o.ttl ? { ttl: o.ttl } : {}),
        })
        .then((out) => ({ ...keyOutcomesBody(out), errorKeys: { ...keyOutcomesBody(out).errorKeys } }));

    /** A new app holding alice and bob, restored, and `dump`'s room restored into it; its id. */
    async function restoredCopy(dump: NonNullable<Awaited<ReturnType<Store['dumpRoom']>>>): Promise<string> {
      const appId = randomBytes(16).toString('hex');
      const users = ['alice', 'bob'].map((username) => ({
        username,
        uuid: randomBytes(8).toString('hex'),
        passwordHash: 'h',
        created: now,
        modified: now,
      }));
      await m.store.restoreUsers(appId, users);
      await m.store.restoreRoom(appId, dump);
      return appId;
    }

    async function world(limits: Partial<Limits> = {}) {
      const appId = randomBytes(16).toString('hex');
      await m.store.createUsers(appId, [
        { username: 'alice', passwordHash: 'h' },
        { username: 'bob', passwordHash: 'h' },
      ]);
      const room = (await m.store.createRoom(appId, { name: 'r', description: 'd', owner: 'alice', maxusers: 10, members: ['bob'] })).id;
      const set = (user: string, pairs: Record<string, string>, ttl?: Record<string, number>, forced = false) =>
        setIn(appId, room, user, pairs, { ttl, forced, limits });
      const events = async (after = 0): Promise<Ev[]> =>
        (await m.store.readEvents(appId, room, after, 1000)).events.map((e) => JSON.parse(e.body) as Ev);
      const lastSeq = async () => (await m.store.readEvents(appId, room, 0, 1)).lastSeq;
      return { appId, room, set, events, lastSeq };
    }

    it('a key is read until its time and never after, even before any sweep', async () => {
      const w = await world();
      await w.set('alice', { seat: 'alice', keep: 'k' }, { seat: 2 });
      const expiresAt = now + 2000;
      const detail = await m.store.getAttributeDetails(w.appId, w.room, undefined);
      assert.equal(detail.seat?.expiresAt, expiresAt);
      assert.equal(detail.keep?.expiresAt, null);
      now = expiresAt - 1;
      assert.deepEqual({ ...(await m.store.getAttributes(w.appId, w.room, undefined)) }, { seat: 'alice', keep: 'k' });
      now = expiresAt;
      assert.deepEqual({ ...(await m.store.getAttributes(w.appId, w.room, undefined)) }, { keep: 'k' });
      assert.deepEqual({ ...(await m.store.getAttributes(w.appId, w.room, ['seat', 'keep'])) }, { keep: 'k' });
      assert.equal(await m.store.getAttributesJson(w.appId, w.room, ['seat'], 'bob'), '{}');
      assert.deepEqual(Object.keys(await m.store.getAttributeDetails(w.appId, w.room, ['seat', 'keep'])), ['keep']);
      assert.deepEqual({ ...(await m.store.snapshot(w.appId, w.room))?.attributes }, { keep: 'k' });
      assert.deepEqual(
        (await m.store.listAttributes(w.appId, w.room)).map((a) => a.key),
        ['keep'],
      );
      assert.equal((await w.events()).length, 1, 'no event until the sweep');
    });

    it('a sweep removes what is due, one expired event per owner with what it was, and frees its bytes', async () => {
      const w = await world();
      await w.set('alice', { a1: 'x', a2: 'yy', stay: 'z' }, { a1: 1, a2: 1, stay: 60 });
      await w.set('bob', { b1: 'bob' }, { b1: 1 });
      const seq = await w.lastSeq();
      assert.equal(await m.store.expireDue(w.appId, NO_WEBHOOKS), 0, 'nothing due yet');
      now += 1000;
      assert.equal(await m.store.expireDue(w.appId, NO_WEBHOOKS), 3);
      const evs = await w.events(seq);
      assert.deepEqual(
        evs.map((e) => [e.reason, e.from, e.attributes, e.previous]),
        [
          ['expired', 'alice', ['a1', 'a2'], { a1: { value: 'x', owner: 'alice' }, a2: { value: 'yy', owner: 'alice' } }],
          ['expired', 'bob', ['b1'], { b1: { value: 'bob', owner: 'bob' } }],
        ],
      );
      assert.equal(await m.store.expireDue(w.appId, NO_WEBHOOKS), 0, 'removed once');
      assert.deepEqual({ ...(await m.store.getAttributes(w.appId, w.room, undefined)) }, { stay: 'z' });
      assert.deepEqual(await m.store.integrityCheck({ appId: w.appId }), [], "the app's bytes are the stored keys' bytes");
      if (m.indexSize) assert.equal(await m.indexSize(w.appId), 1, 'only the entry of the key still to expire is left');
    });

    it('a write over a due key sweeps it first: another member takes it, and the room has room again', async () => {
      const w = await world({ maxAttributesPerRoom: 2 });
      await w.set('alice', { seat: 'alice', full: 'f' }, { seat: 1 });
      assert.match((await w.set('bob', { other: 'o' })).errorKeys.other ?? '', /exceeds the user defined limit 2/);
      assert.deepEqual((await w.set('bob', { seat: 'bob' })).errorKeys, { seat: "key 'seat' is not part of you" });
      const seq = await w.lastSeq();
      now += 1000;
      // The due key was new to bob's plan: the room's count, without it, has room for it.
      assert.deepEqual(await w.set('bob', { seat: 'bob' }), { successKeys: ['seat'], errorKeys: {} });
      const evs = await w.events(seq);
      assert.deepEqual(
        evs.map((e) => [e.reason, e.from, e.previous]),
        [
          ['expired', 'alice', { seat: { value: 'alice', owner: 'alice' } }],
          ['set', 'bob', { seat: null }],
        ],
      );
      assert.deepEqual((await m.store.getAttributeDetails(w.appId, w.room, ['seat'])).seat?.expiresAt, null);
      assert.equal(await m.store.expireDue(w.appId, NO_WEBHOOKS), 0);
      assert.deepEqual(await m.store.integrityCheck({ appId: w.appId }), []);
    });

    it('a delete of a due key finds it gone; a key written again without ttl keeps no expiry', async () => {
      const w = await world();
      await w.set('alice', { gone: 'g', again: '1' }, { gone: 1, again: 1 });
      await w.set('alice', { again: '2' });
      now += 1000;
      const res = await m.store.deleteAttributes({
        appId: w.appId,
        roomId: w.room,
        user: 'alice',
        forced: false,
        checkMembership: true,
        keys: ['gone'],
        routing: NO_WEBHOOKS,
      });
      assert.deepEqual({ ...keyOutcomesBody(res).errorKeys }, { gone: "key 'gone' does not exist" });
      assert.equal(await m.store.expireDue(w.appId, NO_WEBHOOKS), 0);
      assert.deepEqual({ ...(await m.store.getAttributes(w.appId, w.room, undefined)) }, { again: '2' });
      if (m.indexSize) assert.equal(await m.indexSize(w.appId), 0, 'the sweep dropped the entries of keys no longer due');
    });

    it('a write over a due key of a restored room sweeps it first, as in the room it came from', async () => {
      const w = await world();
      await w.set('alice', { seat: 'alice' }, { seat: 1 });
      const dump = await m.store.dumpRoom(w.appId, w.room);
      assert.ok(dump);
      const appId = await restoredCopy(dump);
      now += 1000;
      assert.deepEqual(await setIn(appId, w.room, 'bob', { seat: 'bob' }), { successKeys: ['seat'], errorKeys: {} });
      const evs = (await m.store.readEvents(appId, w.room, 0, 100)).events.map((e) => JSON.parse(e.body) as Ev);
      assert.deepEqual(
        evs.map((e) => [e.reason, e.from]),
        [
          ['expired', 'alice'],
          ['set', 'bob'],
        ],
      );
    });

    it("a dump carries each key's expiry and revision; a restore keeps them, and the sweep finds the restored keys", async () => {
      const w = await world();
      await w.set('alice', { seat: 'alice', keep: 'k' }, { seat: 5 });
      await w.set('bob', { b: 'bob' }, { b: 10 });
      const details = await m.store.getAttributeDetails(w.appId, w.room, undefined);
      const dump = await m.store.dumpRoom(w.appId, w.room);
      assert.ok(dump);
      assert.deepEqual(
        dump.attributes.map((a) => [a.key, a.revision, a.expiresAt]),
        ['b', 'keep', 'seat'].map((k) => [k, details[k]?.revision, details[k]?.expiresAt]),
      );
      assert.equal(details.seat?.expiresAt, now + 5000);

      const appId = await restoredCopy(dump);
      assert.deepEqual(await m.store.getAttributeDetails(appId, w.room, undefined), details);
      assert.deepEqual(await m.store.dumpRoom(appId, w.room), dump);
      assert.deepEqual(await m.store.integrityCheck({ appId }), []);
      // A write after the restore gets a revision above every restored one (a held ifRevision never matches again).
      const top = Math.max(...Object.values(details).map((d) => d.revision));
      await m.store.setAttributes({
        appId,
        roomId: w.room,
        user: 'alice',
        forced: false,
        autoDelete: 'DELETE',
        pairs: [['keep', 'k2']],
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });
      assert.ok((await m.store.getAttributeDetails(appId, w.room, ['keep'])).keep!.revision > top);

      now += 5000;
      const due = await m.store.dumpRoom(w.appId, w.room);
      assert.deepEqual(
        due?.attributes.map((a) => a.key),
        ['b', 'keep'],
        'a dump leaves out a key whose time has come, as every read does',
      );
      const seq = (await m.store.readEvents(appId, w.room, 0, 1)).lastSeq;
      assert.equal(await m.store.expireDue(appId, NO_WEBHOOKS), 1, 'the sweep finds the restored key');
      const evs = (await m.store.readEvents(appId, w.room, seq, 10)).events.map((e) => JSON.parse(e.body) as Ev);
      assert.deepEqual(
        evs.map((e) => [e.reason, e.from, e.attributes]),
        [['expired', 'alice', ['seat']]],
      );
      assert.deepEqual({ ...(await m.store.getAttributes(appId, w.room, undefined)) }, { keep: 'k2', b: 'bob' });
      assert.deepEqual(await m.store.integrityCheck({ appId }), []);
    });

    // One SQLite file has one instance: this holds for the shared stores only (not a skip, a test that is not there).
    (shared ? it : () => undefined)('two instances sweeping at once remove each key once, with one event', async () => {
      const w = await world();
      await w.set('alice', { a: '1' }, { a: 1 });
      await w.set('bob', { b: '2' }, { b: 1 });
      const seq = await w.lastSeq();
      now += 1000;
      const twin = m.twin!;
      const counts = await Promise.all([
        m.store.expireDue(w.appId, NO_WEBHOOKS),
        twin.expireDue(w.appId, NO_WEBHOOKS),
        m.store.expireDue(w.appId, NO_WEBHOOKS),
        twin.expireDue(w.appId, NO_WEBHOOKS),
      ]);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        2,
      );
      assert.deepEqual(
        (await w.events(seq)).map((e) => [e.reason, e.from]),
        [
          ['expired', 'alice'],
          ['expired', 'bob'],
        ],
      );
      assert.deepEqual(await m.store.integrityCheck({ appId: w.appId }), []);
    });
  });
}

runExpirySuite('sqlite', false, async (clock) => clockedSqlite(clock, 'e.sqlite'));

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`expiry store [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }
  runExpirySuite(kind, true, async (clock) => {
    const { store, twin } = await clockedRedisPair(found.env, clock);
    return {
      store,
      twin,
      indexSize: (appId) => (store as unknown as { r: Redis }).r.zcard(`${found.env.ROOMKV_REDIS_PREFIX}{${appId}}:exp`),
      close: async () => {
        await store.close();
        await twin.close();
      },
    };
  });
}
