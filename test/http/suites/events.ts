import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import type { Client, Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type OpenStreamOptions, type SseMessage, type SseStream } from '../../support/sse.js';

type Reason = 'set' | 'forced_set' | 'delete' | 'forced_delete' | 'member_left' | 'user_deleted' | 'room_destroyed';

interface Expected {
  seq: number;
  room: string;
  reason: Reason;
  from: string;
  /** A map for updates; a key list (compared in any order) for removals. */
  attributes: Record<string, string> | string[];
  /** Date.now() before and after the call that caused it. */
  window?: [number, number];
}

const NO_LIMIT = { rateLimitPerSecond: 100_000 };
const WAIT_MS = 15_000;

function appKey(fx: Fixture): string {
  return `${fx.app.org}#${fx.app.app}`;
}

function eventsUrl(fx: Fixture, room: string, byAppId = false): string {
  const prefix = byAppId ? `/app-id/${fx.app.appId}` : `/${fx.app.org}/${fx.app.app}`;
  return `${fx.server.url}${prefix}/metadata/chatroom/${room}/events`;
}

/** A change event exactly as the issue describes it: every field, nothing more. */
function assertEvent(fx: Fixture, m: SseMessage, want: Expected): void {
  const label = `event ${m.id}: ${m.data.slice(0, 400)}`;
  assert.equal(m.seq, String(want.seq), label);
  assert.equal(m.event, undefined, `a change is an unnamed event: ${label}`);
  const b = json(m);
  assert.equal(typeof b.timestamp, 'number', label);
  if (want.window) {
    assert.ok(
      b.timestamp >= want.window[0] - 5 && b.timestamp <= want.window[1] + 5,
      `timestamp ${b.timestamp} outside the call [${want.window[0]}, ${want.window[1]}]: ${label}`,
    );
  }
  const attributes = Array.isArray(b.attributes) ? [...b.attributes].sort() : b.attributes;
  const update = want.reason === 'set' || want.reason === 'forced_set';
  assert.deepEqual(
    { ...b, attributes },
    {
      id: `${want.room}:${want.seq}`,
      seq: want.seq,
      chatroomId: want.room,
      app: appKey(fx),
      timestamp: b.timestamp,
      operation: update ? 'updateChatRoomAttributes' : 'removeChatRoomAttributes',
      from: want.from,
      reason: want.reason,
      attributes: Array.isArray(want.attributes) ? [...want.attributes].sort() : want.attributes,
    },
    label,
  );
}

function assertSnapshot(fx: Fixture, m: SseMessage, room: string, seq: number, attributes: Record<string, string>): void {
  assert.equal(m.event, 'snapshot', m.data);
  assert.equal(m.seq, String(seq), m.data);
  assert.match(m.epoch ?? '', /^[0-9a-z]{1,16}$/, m.data);
  assert.deepEqual(json(m), { seq, epoch: m.epoch, chatroomId: room, app: appKey(fx), attributes });
}

/** The Agora error envelope as JSON, not a stream. */
function assertErrorStream(s: SseStream, status: number, error: string, description: string): void {
  const label = `${s.status} ${s.text?.slice(0, 300)}`;
  assert.equal(s.status, status, label);
  assert.match(s.headers.get('content-type') ?? '', /^application\/json/, label);
  assert.equal(s.body?.error, error, label);
  assert.equal(s.body?.error_description, description, label);
  assert.equal(typeof s.body?.exception, 'string', label);
  assert.equal(typeof s.body?.timestamp, 'number', label);
  assert.equal(typeof s.body?.duration, 'number', label);
}

function ok(res: Reply, successKeys: string[]): void {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual([...res.body.data.successKeys].sort(), [...successKeys].sort(), res.text);
}

/** Runs a call and reports the time window it ran in, to check the event's timestamp. */
async function timed(fn: () => Promise<Reply>): Promise<{ res: Reply; window: [number, number] }> {
  const start = Date.now();
  const res = await fn();
  return { res, window: [start, Date.now()] };
}

/**
 * A room whose owner already set `seed` (NO_DELETE), so its seq is 1 when the test starts. Tests
 * about something else than a room's very first event start here.
 */
async function seededRoom(fx: Fixture, owner: string, members: string[] = []): Promise<string> {
  const room = await fx.createRoom(owner, members);
  ok(
    await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}`, { body: { metaData: { seed: 's' }, autoDelete: 'NO_DELETE' } }),
    ['seed'],
  );
  return room;
}
const SEED = { seed: 's' };

/** A token whose base64 holds a '+', which a query string must carry as %2B. */
function withPlus(mint: (ttl: number) => string): string {
  for (let ttl = 3600; ttl < 3800; ttl++) {
    const token = mint(ttl);
    if (token.includes('+')) return token;
  }
  throw new Error('no token with a + in 200 tries');
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Opens streams and closes them all after the suite, whatever the tests did. */
function streams() {
  const open: SseStream[] = [];
  return {
    async open(url: string, opts: OpenStreamOptions = {}): Promise<SseStream> {
      const s = await openStream(url, opts);
      open.push(s);
      return s;
    },
    /** A stream that must be a 200 event stream; waits for and returns its snapshot. */
    async fresh(url: string, opts: OpenStreamOptions): Promise<{ s: SseStream; snapshot: SseMessage }> {
      const s = await this.open(url, opts);
      assert.equal(s.status, 200, s.text);
      const snapshot = await s.next(undefined, WAIT_MS);
      assert.equal(snapshot.event, 'snapshot', snapshot.data);
      return { s, snapshot };
    },
    async closeAll(): Promise<void> {
      for (const s of open) s.close();
      await Promise.all(open.map((s) => s.closed));
    },
  };
}

/**
 * Opens a subscriber that never reads (node:http, no 'data' listener: Node, then the kernel, then
 * the server buffer for it), has `owners` each make `calls` sets of 10 values of 4000 characters
 * (~40 KB events, so 160 calls are ~6.5 MB: more than the socket buffers of both ends hold on Linux
 * loopback, ~4 MB), and checks every write answered 200 promptly. Then it reads: what the buffers
 * held arrives and the stream ends before the last event, because the server dropped it. The room
 * is at `seq` before; returns the last seq written.
 */
async function stallOneSubscriber(fx: Fixture, room: string, seq: number, owners: string[], calls: number): Promise<number> {
  const req = get(eventsUrl(fx, room), { headers: { Authorization: `Bearer ${appToken(fx.app)}`, Accept: 'text/event-stream' } });
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  assert.equal(res.statusCode, 200);
  const ended = new Promise<string>((resolve) => {
    res.once('end', () => resolve('end'));
    res.once('close', () => resolve('close'));
    res.once('error', (e) => resolve(`error ${e.message}`));
  });
  req.on('error', () => {
    /* seen through res */
  });
  try {
    const durations: number[] = [];
    await Promise.all(
      owners.map(async (u) => {
        for (let i = 0; i < calls; i++) {
          const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`${u}${k}`, `${i}`.padEnd(4000, 'abcdefghij'[k])]));
          const started = Date.now();
          const r = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData } });
          durations.push(Date.now() - started);
          assert.equal(r.status, 200, `${u} call ${i}: ${r.text.slice(0, 200)}`);
          assert.equal(r.body.data.successKeys.length, 10);
        }
      }),
    );
    const slowest = Math.max(...durations);
    assert.ok(slowest < 3000, `a write took ${slowest} ms: the stalled subscriber held the writers`);

    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
    });
    const how = await within(ended, 20_000, 'the server to disconnect the stalled subscriber');
    const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
    const ids = [...complete.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1, 'what arrived has no gaps');
    const last = seq + owners.length * calls;
    const lastSeen = ids.length > 0 ? ids[ids.length - 1]! : 0;
    assert.ok(lastSeen < last, `the stalled stream ended (${how}) early: last id ${lastSeen} of ${last}`);
    return last;
  } finally {
    req.destroy();
  }
}

/**
 * Change events over SSE (the change-events issue): snapshots, exact event bodies for every
 * reason, resume, auth, heartbeats, slow subscribers and concurrent writers.
 */
export function eventsSuite(target: Target): void {
  describe(`change events over SSE [${target.name}]`, () => {
    let fx: Fixture;
    const sse = streams();
    const path = (room: string, user: string, forced = false) => `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`;
    const writers = Array.from({ length: 20 }, (_, i) => `w${i}`);

    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_SSE_HEARTBEAT_MS: '200' } });
      await fx.createUsers('alice', 'bob', 'carol', 'dave', 'frank', 'gina', 'erin', 'outsider', ...writers);
    });
    after(async () => {
      await sse.closeAll();
      await fx.close();
    });

    it('a fresh subscriber to a room with no events yet: retry, then an empty snapshot with seq 0, then live', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const s = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app) });
      assert.equal(s.status, 200);
      assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.match(s.headers.get('cache-control') ?? '', /no-cache/);
      const first = await s.next();
      assert.ok(s.raw().startsWith('retry: 1000\n'), `the stream starts with the reconnect hint: ${JSON.stringify(s.raw().slice(0, 60))}`);
      assert.equal(s.retry, 1000);
      assertSnapshot(fx, first, room, 0, {});
      const set = await timed(() => fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { a: '1' } } }));
      ok(set.res, ['a']);
      assertEvent(fx, await s.next(), { seq: 1, room, reason: 'set', from: 'alice', attributes: { a: '1' }, window: set.window });
      s.close();
    });

    it('a fresh subscriber gets a snapshot of the current map and seq, then each change', async () => {
      const room = await seededRoom(fx, 'alice', ['bob']);
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { a: '1', b: '2' } } }), ['a', 'b']);
      ok(await fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { c: '3' } } }), ['c']);
      const s = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app) });
      assert.equal(s.status, 200);
      const snap = await s.next();
      assertSnapshot(fx, snap, room, 3, { ...SEED, a: '1', b: '2', c: '3' });
      assert.ok(
        s.raw().startsWith(`retry: 1000\n\nid: 3-${snap.epoch}\nevent: snapshot\ndata: ${snap.data}\n\n`),
        JSON.stringify(s.raw().slice(0, 200)),
      );
      assert.equal(s.messages.length, 1, 'nothing but the snapshot until the next change');
      const b = await timed(() => fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { c: '4' } } }));
      ok(b.res, ['c']);
      assertEvent(fx, await s.next(), { seq: 4, room, reason: 'set', from: 'bob', attributes: { c: '4' }, window: b.window });
      s.close();
    });

    /**
     * set, forced_set, delete, forced_delete, each with its exact fields. `as(user)` is the client
     * that acts for `user`; `forcedDeleter` the user the forced delete is sent as.
     */
    async function fourChanges(room: string, subscriber: OpenStreamOptions, as: (u: string) => Client, forcedDeleter: string) {
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), subscriber);
      const base = json(snapshot).seq as number;

      const set = await timed(() =>
        as('alice').call('PUT', path(room, 'alice'), {
          body: { metaData: { k1: 'v1', k2: 'v2', 'bad key': 'x' }, autoDelete: 'NO_DELETE' },
        }),
      );
      ok(set.res, ['k1', 'k2']);
      const e1 = await s.next();
      assertEvent(fx, e1, { seq: base + 1, room, reason: 'set', from: 'alice', attributes: { k1: 'v1', k2: 'v2' }, window: set.window });
      assert.ok(
        s.raw().includes(`\n\nid: ${base + 1}-${snapshot.epoch}\ndata: ${e1.data}\n\n`),
        'a change is `id: <seq>-<epoch>` then one data line',
      );

      const forced = await timed(() => as('bob').call('PUT', path(room, 'bob', true), { body: { metaData: { k1: 'bob' } } }));
      ok(forced.res, ['k1']);
      assertEvent(fx, await s.next(), {
        seq: base + 2,
        room,
        reason: 'forced_set',
        from: 'bob',
        attributes: { k1: 'bob' },
        window: forced.window,
      });

      // k1 is bob's now: only k2 goes, and only k2 is in the event
      const del = await timed(() => as('alice').call('DELETE', path(room, 'alice'), { body: { keys: ['k2', 'k1', 'ghost'] } }));
      ok(del.res, ['k2']);
      assertEvent(fx, await s.next(), { seq: base + 3, room, reason: 'delete', from: 'alice', attributes: ['k2'], window: del.window });

      const fdel = await timed(() => as(forcedDeleter).call('DELETE', path(room, forcedDeleter, true), { body: { keys: ['k1'] } }));
      ok(fdel.res, ['k1']);
      assertEvent(fx, await s.next(), {
        seq: base + 4,
        room,
        reason: 'forced_delete',
        from: forcedDeleter,
        attributes: ['k1'],
        window: fdel.window,
      });

      const left = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(left.body.data, SEED);
      assert.equal(s.messages.length, 5, 'one event per call, nothing else');
      s.close();
    }

    it('set, forced_set, delete and forced_delete events with exact fields, app token', async () => {
      const room = await seededRoom(fx, 'alice', ['bob']);
      await fourChanges(room, { token: appToken(fx.app) }, () => fx.admin, 'admin');
    });

    it("the same events for calls made with members' 007 user tokens, to a member's stream", async () => {
      const room = await seededRoom(fx, 'alice', ['bob']);
      await fourChanges(room, { token: userToken(fx.app, 'bob') }, (u) => fx.user(u), 'bob');
    });

    it("a call with only errorKeys emits nothing (the next event's seq is consecutive)", async () => {
      const room = await fx.createRoom('alice', ['bob']);
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { mine: 'a' } } }), ['mine']);
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertSnapshot(fx, snapshot, room, 1, { mine: 'a' });

      const failures: Array<[string, string, unknown]> = [
        ['PUT', path(room, 'alice'), { metaData: { 'bad key': 'x', n: 1 } }],
        ['PUT', path(room, 'bob'), { metaData: { mine: 'b' } }],
        ['DELETE', path(room, 'bob'), { keys: ['mine', 'ghost'] }],
        ['DELETE', path(room, 'admin', true), { keys: ['ghost'] }],
        ['PUT', path(room, 'bob', true), { metaData: { 'x y': 'z' } }],
      ];
      for (const [method, p, body] of failures) {
        const res = await fx.admin.call(method, p, { body });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.data.successKeys, [], `${method} ${p}`);
      }
      const set = await timed(() => fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { next: 'n' } } }));
      ok(set.res, ['next']);
      assertEvent(fx, await s.next(), { seq: 2, room, reason: 'set', from: 'bob', attributes: { next: 'n' }, window: set.window });
      assert.equal(s.messages.length, 2);
      s.close();
    });

    it('member_left on member removal: only its DELETE keys, none for a member without them', async () => {
      const room = await fx.createRoom('alice', ['carol', 'dave', 'frank', 'gina']);
      ok(await fx.user('carol').call('PUT', path(room, 'carol'), { body: { metaData: { c1: '1', c2: '2' }, autoDelete: 'DELETE' } }), [
        'c1',
        'c2',
      ]);
      ok(await fx.user('carol').call('PUT', path(room, 'carol'), { body: { metaData: { ckeep: 'k' }, autoDelete: 'NO_DELETE' } }), [
        'ckeep',
      ]);
      ok(await fx.user('dave').call('PUT', path(room, 'dave'), { body: { metaData: { dkeep: 'k' }, autoDelete: 'no_delete' } }), ['dkeep']);
      ok(await fx.admin.call('PUT', path(room, 'frank'), { body: { metaData: { f1: '1' } } }), ['f1']);
      ok(await fx.admin.call('PUT', path(room, 'gina'), { body: { metaData: { g1: '1', g2: '2' } } }), ['g1', 'g2']);
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertSnapshot(fx, snapshot, room, 5, { c1: '1', c2: '2', ckeep: 'k', dkeep: 'k', f1: '1', g1: '1', g2: '2' });

      const rm = await timed(() => fx.admin.call('DELETE', `/chatrooms/${room}/users/carol`));
      assert.equal(rm.res.status, 200, rm.res.text);
      assertEvent(fx, await s.next(), { seq: 6, room, reason: 'member_left', from: 'carol', attributes: ['c1', 'c2'], window: rm.window });

      // dave holds only a NO_DELETE key: no event, so the next change is seq 7
      const rmDave = await fx.admin.call('DELETE', `/chatrooms/${room}/users/dave`);
      assert.equal(rmDave.status, 200, rmDave.text);
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { after: 'x' } } }), ['after']);
      assertEvent(fx, await s.next(), { seq: 7, room, reason: 'set', from: 'alice', attributes: { after: 'x' } });

      // removing two at once: one event per member that had DELETE keys
      const bulk = await fx.admin.call('DELETE', `/chatrooms/${room}/users/frank,gina`);
      assert.equal(bulk.status, 200, bulk.text);
      const two = [await s.next(), await s.next()];
      assert.deepEqual(
        two.map((m) => m.seq),
        ['8', '9'],
      );
      const byFrom = two.map(json).sort((x, y) => x.from.localeCompare(y.from));
      assert.deepEqual(
        byFrom.map((b) => [b.from, b.reason, b.operation, [...b.attributes].sort()]),
        [
          ['frank', 'member_left', 'removeChatRoomAttributes', ['f1']],
          ['gina', 'member_left', 'removeChatRoomAttributes', ['g1', 'g2']],
        ],
      );
      assert.equal(s.messages.length, 5);

      const stored = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(stored.body.data, { ckeep: 'k', dkeep: 'k', after: 'x' });
      s.close();
    });

    it("user_deleted when a member's user is deleted", async () => {
      const room = await fx.createRoom('alice', ['erin']);
      ok(await fx.user('erin').call('PUT', path(room, 'erin'), { body: { metaData: { e1: '1', e2: '2' } } }), ['e1', 'e2']);
      ok(await fx.user('erin').call('PUT', path(room, 'erin'), { body: { metaData: { ekeep: 'k' }, autoDelete: 'NO_DELETE' } }), ['ekeep']);
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: userToken(fx.app, 'alice') });
      assertSnapshot(fx, snapshot, room, 2, { e1: '1', e2: '2', ekeep: 'k' });
      const del = await timed(() => fx.admin.call('DELETE', '/users/erin'));
      assert.equal(del.res.status, 200, del.res.text);
      assertEvent(fx, await s.next(), { seq: 3, room, reason: 'user_deleted', from: 'erin', attributes: ['e1', 'e2'], window: del.window });
      const stored = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(stored.body.data, { ekeep: 'k' });
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { z: 'z' } } }), ['z']);
      assertEvent(fx, await s.next(), { seq: 4, room, reason: 'set', from: 'alice', attributes: { z: 'z' } });
      s.close();
    });

    it('room_destroyed is the final event, then the stream ends; later resumes get 204, a fresh subscribe 404', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { x: '1', y: '2' } } }), ['x', 'y']);
      ok(await fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { z: '3' }, autoDelete: 'NO_DELETE' } }), ['z']);
      const { s } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      const destroy = await timed(() => fx.admin.call('DELETE', `/chatrooms/${room}`));
      assert.equal(destroy.res.status, 200, destroy.res.text);
      assertEvent(fx, await s.next(), {
        seq: 3,
        room,
        reason: 'room_destroyed',
        from: 'admin',
        attributes: ['x', 'y', 'z'],
        window: destroy.window,
      });
      await within(s.closed, WAIT_MS, 'the stream to end after room_destroyed');
      assert.equal(s.endReason, 'end', 'the server ended the stream');
      assert.equal(s.messages.length, 3, 'snapshot, the final event and the end, nothing else');
      assert.equal(at(s.messages, 2).event, 'end');
      assert.deepEqual(json(at(s.messages, 2)), { reason: 'room_destroyed' });

      for (const opts of [{ headers: { 'Last-Event-ID': '3' } }, { query: { since: '3' } }]) {
        const done = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app), ...opts });
        assert.equal(done.status, 204, `${JSON.stringify(opts)}: ${done.text}`);
      }
      const fresh = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertErrorStream(fresh, 404, 'resource_not_found', `grpID ${room} does not exist!`);

      // a subscriber that missed the final event still gets it, then the end
      const late = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app), headers: { 'Last-Event-ID': '2' } });
      assert.equal(late.status, 200, late.text);
      assertEvent(fx, await late.next(), { seq: 3, room, reason: 'room_destroyed', from: 'admin', attributes: ['x', 'y', 'z'] });
      await within(late.closed, WAIT_MS, 'the late stream to end');
      assert.equal(late.endReason, 'end');
      assert.deepEqual(
        late.messages.map((m) => m.event),
        [undefined, 'end'],
      );
    });

    /** Disconnect after seq 2, make 3 changes, resume after 2: exactly 3..5, then live. */
    async function resumeAfterThree(resume: (lastSeen: string) => OpenStreamOptions) {
      const room = await seededRoom(fx, 'alice', ['bob']);
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertSnapshot(fx, snapshot, room, 1, SEED);
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { r: '1' } } }), ['r']);
      const seen = await s.next();
      assert.equal(seen.seq, '2');
      s.close();
      await s.closed;
      assert.equal(s.endReason, 'aborted');

      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { r: '2' } } }), ['r']);
      ok(await fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { b: '3' } } }), ['b']);
      ok(await fx.admin.call('DELETE', path(room, 'alice'), { body: { keys: ['r'] } }), ['r']);

      const again = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app), ...resume(seen.id!) });
      assert.equal(again.status, 200, again.text);
      assertEvent(fx, await again.next(), { seq: 3, room, reason: 'set', from: 'alice', attributes: { r: '2' } });
      assertEvent(fx, await again.next(), { seq: 4, room, reason: 'set', from: 'bob', attributes: { b: '3' } });
      assertEvent(fx, await again.next(), { seq: 5, room, reason: 'delete', from: 'alice', attributes: ['r'] });
      assert.equal(again.messages.length, 3, 'no snapshot on resume, nothing beyond the missed events');
      ok(await fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { live: 'y' } } }), ['live']);
      assertEvent(fx, await again.next(), { seq: 6, room, reason: 'set', from: 'bob', attributes: { live: 'y' } });
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

    it('the token as ?access_token= (URL-encoded); a bad one gets 401 as JSON, not a stream', async () => {
      const room = await seededRoom(fx, 'alice', ['bob']);
      for (const token of [withPlus((ttl) => appToken(fx.app, ttl)), withPlus((ttl) => userToken(fx.app, 'bob', ttl))]) {
        const { snapshot } = await sse.fresh(eventsUrl(fx, room), { query: { access_token: token } });
        assertSnapshot(fx, snapshot, room, 1, SEED);
      }
      const bad = await sse.open(eventsUrl(fx, room), { query: { access_token: 'not-a-token' } });
      assertErrorStream(bad, 401, 'auth_bad_access_token', 'Unable to authenticate due to corrupt access token');
      const other = await sse.open(eventsUrl(fx, room), { query: { access_token: appToken(makeApp()) } });
      assertErrorStream(other, 401, 'unauthorized', 'Unable to authenticate (OAuth)');
      const none = await sse.open(eventsUrl(fx, room));
      assertErrorStream(none, 401, 'unauthorized', 'Unable to authenticate due to expired access token');
    });

    it("a non-member's user token gets 401 user is not in chatroom; a member's works", async () => {
      const room = await seededRoom(fx, 'alice', ['bob']);
      const outsider = await sse.open(eventsUrl(fx, room), { token: userToken(fx.app, 'outsider') });
      assertErrorStream(outsider, 401, 'unauthorized', 'user is not in chatroom');
      const viaQuery = await sse.open(eventsUrl(fx, room), { query: { access_token: userToken(fx.app, 'outsider') } });
      assertErrorStream(viaQuery, 401, 'unauthorized', 'user is not in chatroom');
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: userToken(fx.app, 'bob') });
      assertSnapshot(fx, snapshot, room, 1, SEED);
      ok(await fx.user('alice').call('PUT', path(room, 'alice'), { body: { metaData: { m: '1' } } }), ['m']);
      assertEvent(fx, await s.next(), { seq: 2, room, reason: 'set', from: 'alice', attributes: { m: '1' } });
      s.close();
    });

    it('an unknown room answers 404 resource_not_found', async () => {
      const res = await sse.open(eventsUrl(fx, '999'), { token: appToken(fx.app) });
      assertErrorStream(res, 404, 'resource_not_found', 'grpID 999 does not exist!');
      const byUser = await sse.open(eventsUrl(fx, '999'), { token: userToken(fx.app, 'alice') });
      assertErrorStream(byUser, 404, 'resource_not_found', 'grpID 999 does not exist!');
    });

    it('heartbeat comments arrive every ROOMKV_SSE_HEARTBEAT_MS', async () => {
      const room = await seededRoom(fx, 'alice');
      const { s } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      const started = Date.now();
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      assert.equal(await s.nextComment(undefined, 5000), 'heartbeat');
      // three at 200 ms intervals: well under the 15 s default
      assert.ok(Date.now() - started < 5000, `three heartbeats took ${Date.now() - started} ms`);
      assert.ok(s.raw().includes('\n\n: heartbeat\n\n'), JSON.stringify(s.raw().slice(-80)));
      assert.equal(s.messages.length, 1, 'heartbeats dispatch no message');
      s.close();
    });

    it('works under the /app-id/ prefix', async () => {
      const room = await seededRoom(fx, 'alice');
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room, true), { token: appToken(fx.app) });
      assertSnapshot(fx, snapshot, room, 1, SEED);
      ok(await fx.adminById.call('PUT', path(room, 'alice'), { body: { metaData: { id: 'x' } } }), ['id']);
      assertEvent(fx, await s.next(), { seq: 2, room, reason: 'set', from: 'alice', attributes: { id: 'x' } });
      const unknown = await sse.open(`${fx.server.url}/app-id/${makeApp().appId}/metadata/chatroom/${room}/events`, {
        token: appToken(fx.app),
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body?.error, 'organization_application_not_found');
      s.close();
    });

    it('default buffer: a stalled subscriber is dropped while one that reads keeps every event', async () => {
      const owners = ['alice', 'bob', 'carol', 'dave'];
      const room = await seededRoom(fx, 'alice', owners.slice(1));
      const { s: reader } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      // 200 events of ~40 KB: past the kernel's buffers plus the 1 MiB default
      const last = await stallOneSubscriber(fx, room, 1, owners, 50);
      await reader.next((m) => m.seq === String(last), WAIT_MS);
      assert.deepEqual(
        reader.messages.map((m) => Number(m.seq)),
        Array.from({ length: last }, (_, i) => i + 1),
      );
      assert.equal(reader.endReason, undefined, 'the reading subscriber is still connected');
      reader.close();
    });

    it('a resume whose missed events exceed the 1 MiB buffer still gets every one, then live', async () => {
      const room = await seededRoom(fx, 'alice');
      // 30 events of 10 values of 4086 characters: ~1.2 MB of missed events
      for (let i = 0; i < 30; i++) {
        const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`big${k}`, `${i}`.padEnd(4086, 'v')]));
        ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData } }), Object.keys(metaData));
      }
      const s = await sse.open(eventsUrl(fx, room), { token: appToken(fx.app), headers: { 'Last-Event-ID': '1' } });
      assert.equal(s.status, 200, s.text);
      await s.next((m) => m.seq === '31', WAIT_MS);
      assert.deepEqual(
        s.messages.map((m) => Number(m.seq)),
        Array.from({ length: 30 }, (_, i) => i + 2),
      );
      assert.equal(json(at(s.messages, 29)).attributes.big0, '29'.padEnd(4086, 'v'));
      ok(await fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { live: '1' } } }), ['live']);
      assertEvent(fx, await s.next(), { seq: 32, room, reason: 'set', from: 'alice', attributes: { live: '1' } });
      s.close();
    });

    it('20 concurrent writers into one room: the subscriber sees every seq once, in order', async () => {
      const room = await seededRoom(fx, at(writers, 0), writers.slice(1));
      const { s, snapshot } = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertSnapshot(fx, snapshot, room, 1, SEED);
      const ROUNDS = 5;
      await Promise.all(
        writers.map(async (w) => {
          const c = fx.user(w);
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
      const later = await sse.fresh(eventsUrl(fx, room), { token: appToken(fx.app) });
      assertSnapshot(fx, later.snapshot, room, total + 1, { ...SEED, ...Object.fromEntries(writers.map((w) => [w, String(ROUNDS - 1)])) });
      later.s.close();
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
