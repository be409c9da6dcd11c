import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appToken, userToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import type { Client } from '../../support/client.js';
import type { Target } from '../../support/server.js';
import { json, type OpenStreamOptions } from '../../support/sse.js';
import {
  assertErrorStream,
  assertEvent,
  assertSnapshot,
  eventsFixture,
  eventsUrl,
  ok,
  SEED,
  seededRoom,
  timed,
  WAIT_MS,
  within,
} from './events-support.js';

/** Change events over SSE (see eventsFixture): the snapshot, then the exact event of every reason a room changes for. */
export function eventsChangesSuite(target: Target): void {
  describe(`change events over SSE [${target.name}]`, () => {
    const h = eventsFixture(target);
    const { sse, path } = h;

    it('a fresh subscriber to a room with no events yet: retry, then an empty snapshot with seq 0, then live', async () => {
      const room = await h.fx.createRoom('alice', ['bob']);
      const s = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assert.equal(s.status, 200);
      assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.match(s.headers.get('cache-control') ?? '', /no-cache/);
      const first = await s.next();
      assert.ok(s.raw().startsWith('retry: 1000\n'), `the stream starts with the reconnect hint: ${JSON.stringify(s.raw().slice(0, 60))}`);
      assert.equal(s.retry, 1000);
      assertSnapshot(h.fx, first, room, 0, {});
      const set = await timed(() => h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { a: '1' } } }));
      ok(set.res, ['a']);
      assertEvent(h.fx, await s.next(), { seq: 1, room, reason: 'set', from: 'alice', attributes: { a: '1' }, window: set.window });
      s.close();
    });

    it('a fresh subscriber gets a snapshot of the current map and seq, then each change', async () => {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { a: '1', b: '2' } } }), ['a', 'b']);
      ok(await h.fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { c: '3' } } }), ['c']);
      const s = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assert.equal(s.status, 200);
      const snap = await s.next();
      assertSnapshot(h.fx, snap, room, 3, { ...SEED, a: '1', b: '2', c: '3' });
      assert.ok(
        s.raw().startsWith(`retry: 1000\n\nid: 3-${snap.epoch}\nevent: snapshot\ndata: ${snap.data}\n\n`),
        JSON.stringify(s.raw().slice(0, 200)),
      );
      assert.equal(s.messages.length, 1, 'nothing but the snapshot until the next change');
      const b = await timed(() => h.fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { c: '4' } } }));
      ok(b.res, ['c']);
      assertEvent(h.fx, await s.next(), { seq: 4, room, reason: 'set', from: 'bob', attributes: { c: '4' }, window: b.window });
      s.close();
    });

    /**
     * set, forced_set, delete, forced_delete, each with its exact fields. `as(user)` is the client
     * that acts for `user`; `forcedDeleter` the user the forced delete is sent as.
     */
    async function fourChanges(room: string, subscriber: OpenStreamOptions, as: (u: string) => Client, forcedDeleter: string) {
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), subscriber);
      const base = json(snapshot).seq as number;

      const set = await timed(() =>
        as('alice').call('PUT', path(room, 'alice'), {
          body: { metaData: { k1: 'v1', k2: 'v2', 'bad key': 'x' }, autoDelete: 'NO_DELETE' },
        }),
      );
      ok(set.res, ['k1', 'k2']);
      const e1 = await s.next();
      assertEvent(h.fx, e1, { seq: base + 1, room, reason: 'set', from: 'alice', attributes: { k1: 'v1', k2: 'v2' }, window: set.window });
      assert.ok(
        s.raw().includes(`\n\nid: ${base + 1}-${snapshot.epoch}\ndata: ${e1.data}\n\n`),
        'a change is `id: <seq>-<epoch>` then one data line',
      );

      const forced = await timed(() => as('bob').call('PUT', path(room, 'bob', true), { body: { metaData: { k1: 'bob' } } }));
      ok(forced.res, ['k1']);
      assertEvent(h.fx, await s.next(), {
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
      assertEvent(h.fx, await s.next(), { seq: base + 3, room, reason: 'delete', from: 'alice', attributes: ['k2'], window: del.window });

      const fdel = await timed(() => as(forcedDeleter).call('DELETE', path(room, forcedDeleter, true), { body: { keys: ['k1'] } }));
      ok(fdel.res, ['k1']);
      assertEvent(h.fx, await s.next(), {
        seq: base + 4,
        room,
        reason: 'forced_delete',
        from: forcedDeleter,
        attributes: ['k1'],
        window: fdel.window,
      });

      const left = await h.fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(left.body.data, SEED);
      assert.equal(s.messages.length, 5, 'one event per call, nothing else');
      s.close();
    }

    it('set, forced_set, delete and forced_delete events with exact fields, app token', async () => {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      await fourChanges(room, { token: appToken(h.fx.app) }, () => h.fx.admin, 'admin');
    });

    it("the same events for calls made with members' 007 user tokens, to a member's stream", async () => {
      const room = await seededRoom(h.fx, 'alice', ['bob']);
      await fourChanges(room, { token: userToken(h.fx.app, 'bob') }, (u) => h.fx.user(u), 'bob');
    });

    it("a call with only errorKeys emits nothing (the next event's seq is consecutive)", async () => {
      const room = await h.fx.createRoom('alice', ['bob']);
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { mine: 'a' } } }), ['mine']);
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, snapshot, room, 1, { mine: 'a' });

      const failures: Array<[string, string, unknown]> = [
        ['PUT', path(room, 'alice'), { metaData: { 'bad key': 'x', n: 1 } }],
        ['PUT', path(room, 'bob'), { metaData: { mine: 'b' } }],
        ['DELETE', path(room, 'bob'), { keys: ['mine', 'ghost'] }],
        ['DELETE', path(room, 'admin', true), { keys: ['ghost'] }],
        ['PUT', path(room, 'bob', true), { metaData: { 'x y': 'z' } }],
      ];
      for (const [method, p, body] of failures) {
        const res = await h.fx.admin.call(method, p, { body });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.data.successKeys, [], `${method} ${p}`);
      }
      const set = await timed(() => h.fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { next: 'n' } } }));
      ok(set.res, ['next']);
      assertEvent(h.fx, await s.next(), { seq: 2, room, reason: 'set', from: 'bob', attributes: { next: 'n' }, window: set.window });
      assert.equal(s.messages.length, 2);
      s.close();
    });

    it('member_left on member removal: only its DELETE keys, none for a member without them', async () => {
      const room = await h.fx.createRoom('alice', ['carol', 'dave', 'frank', 'gina']);
      ok(await h.fx.user('carol').call('PUT', path(room, 'carol'), { body: { metaData: { c1: '1', c2: '2' }, autoDelete: 'DELETE' } }), [
        'c1',
        'c2',
      ]);
      ok(await h.fx.user('carol').call('PUT', path(room, 'carol'), { body: { metaData: { ckeep: 'k' }, autoDelete: 'NO_DELETE' } }), [
        'ckeep',
      ]);
      ok(await h.fx.user('dave').call('PUT', path(room, 'dave'), { body: { metaData: { dkeep: 'k' }, autoDelete: 'no_delete' } }), [
        'dkeep',
      ]);
      ok(await h.fx.admin.call('PUT', path(room, 'frank'), { body: { metaData: { f1: '1' } } }), ['f1']);
      ok(await h.fx.admin.call('PUT', path(room, 'gina'), { body: { metaData: { g1: '1', g2: '2' } } }), ['g1', 'g2']);
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertSnapshot(h.fx, snapshot, room, 5, { c1: '1', c2: '2', ckeep: 'k', dkeep: 'k', f1: '1', g1: '1', g2: '2' });

      const rm = await timed(() => h.fx.admin.call('DELETE', `/chatrooms/${room}/users/carol`));
      assert.equal(rm.res.status, 200, rm.res.text);
      assertEvent(h.fx, await s.next(), {
        seq: 6,
        room,
        reason: 'member_left',
        from: 'carol',
        attributes: ['c1', 'c2'],
        window: rm.window,
      });

      // dave holds only a NO_DELETE key: no event, so the next change is seq 7
      const rmDave = await h.fx.admin.call('DELETE', `/chatrooms/${room}/users/dave`);
      assert.equal(rmDave.status, 200, rmDave.text);
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { after: 'x' } } }), ['after']);
      assertEvent(h.fx, await s.next(), { seq: 7, room, reason: 'set', from: 'alice', attributes: { after: 'x' } });

      // removing two at once: one event per member that had DELETE keys
      const bulk = await h.fx.admin.call('DELETE', `/chatrooms/${room}/users/frank,gina`);
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

      const stored = await h.fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(stored.body.data, { ckeep: 'k', dkeep: 'k', after: 'x' });
      s.close();
    });

    it("user_deleted when a member's user is deleted", async () => {
      const room = await h.fx.createRoom('alice', ['erin']);
      ok(await h.fx.user('erin').call('PUT', path(room, 'erin'), { body: { metaData: { e1: '1', e2: '2' } } }), ['e1', 'e2']);
      ok(await h.fx.user('erin').call('PUT', path(room, 'erin'), { body: { metaData: { ekeep: 'k' }, autoDelete: 'NO_DELETE' } }), [
        'ekeep',
      ]);
      const { s, snapshot } = await sse.fresh(eventsUrl(h.fx, room), { token: userToken(h.fx.app, 'alice') });
      assertSnapshot(h.fx, snapshot, room, 2, { e1: '1', e2: '2', ekeep: 'k' });
      const del = await timed(() => h.fx.admin.call('DELETE', '/users/erin'));
      assert.equal(del.res.status, 200, del.res.text);
      assertEvent(h.fx, await s.next(), {
        seq: 3,
        room,
        reason: 'user_deleted',
        from: 'erin',
        attributes: ['e1', 'e2'],
        window: del.window,
      });
      const stored = await h.fx.admin.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(stored.body.data, { ekeep: 'k' });
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { z: 'z' } } }), ['z']);
      assertEvent(h.fx, await s.next(), { seq: 4, room, reason: 'set', from: 'alice', attributes: { z: 'z' } });
      s.close();
    });

    it('room_destroyed is the final event, then the stream ends; later resumes get 204, a fresh subscribe 404', async () => {
      const room = await h.fx.createRoom('alice', ['bob']);
      ok(await h.fx.admin.call('PUT', path(room, 'alice'), { body: { metaData: { x: '1', y: '2' } } }), ['x', 'y']);
      ok(await h.fx.admin.call('PUT', path(room, 'bob'), { body: { metaData: { z: '3' }, autoDelete: 'NO_DELETE' } }), ['z']);
      const { s } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      const destroy = await timed(() => h.fx.admin.call('DELETE', `/chatrooms/${room}`));
      assert.equal(destroy.res.status, 200, destroy.res.text);
      assertEvent(h.fx, await s.next(), {
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
        const done = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app), ...opts });
        assert.equal(done.status, 204, `${JSON.stringify(opts)}: ${done.text}`);
      }
      const fresh = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      assertErrorStream(fresh, 404, 'resource_not_found', `grpID ${room} does not exist!`);

      // a subscriber that missed the final event still gets it, then the end
      const late = await sse.open(eventsUrl(h.fx, room), { token: appToken(h.fx.app), headers: { 'Last-Event-ID': '2' } });
      assert.equal(late.status, 200, late.text);
      assertEvent(h.fx, await late.next(), { seq: 3, room, reason: 'room_destroyed', from: 'admin', attributes: ['x', 'y', 'z'] });
      await within(late.closed, WAIT_MS, 'the late stream to end');
      assert.equal(late.endReason, 'end');
      assert.deepEqual(
        late.messages.map((m) => m.event),
        [undefined, 'end'],
      );
    });

    it('a key or value that spells room_destroyed is only a change: the stream goes on', async () => {
      const room = await h.fx.createRoom('alice', ['bob']);
      const { s } = await sse.fresh(eventsUrl(h.fx, room), { token: appToken(h.fx.app) });
      const value = '{"reason":"room_destroyed"}';
      ok(await h.fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { room_destroyed: value } } }), ['room_destroyed']);
      assertEvent(h.fx, await s.next(), { seq: 1, room, reason: 'set', from: 'bob', attributes: { room_destroyed: value } });
      ok(await h.fx.user('bob').call('DELETE', path(room, 'bob'), { body: { keys: ['room_destroyed'] } }), ['room_destroyed']);
      assertEvent(h.fx, await s.next(), { seq: 2, room, reason: 'delete', from: 'bob', attributes: ['room_destroyed'] });
      ok(await h.fx.user('bob').call('PUT', path(room, 'bob'), { body: { metaData: { after: 'x' } } }), ['after']);
      assertEvent(h.fx, await s.next(), { seq: 3, room, reason: 'set', from: 'bob', attributes: { after: 'x' } });
      assert.equal(s.endReason, undefined, 'the stream is still open');
      s.close();
    });
  });
}
