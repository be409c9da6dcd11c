import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken, userToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type SseMessage, type SseStream } from '../../support/sse.js';
import { waitFor } from '../../support/wait.js';

/**
 * Event streams under attack (the hardening issue): a stream ends when a right it was opened with
 * ends (its token expires, its member leaves or is removed, its user is deleted), with an `end`
 * event saying why, and nothing written after that reaches it; a destroyed room's log is not a
 * user's to read; a member's values cannot end other streams; a resume point from another history
 * gets a snapshot; streams are capped per user and per app, and opening one costs a get's budget.
 */

const WAIT_MS = 15_000;
const NO_LIMIT = { rateLimitPerSecond: 100_000 };

function eventsUrl(fx: Fixture, room: string): string {
  return `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`;
}

function setPath(room: string, user: string): string {
  return `/metadata/chatroom/${room}/user/${user}`;
}

async function put(fx: Fixture, room: string, user: string, metaData: Record<string, string>, autoDelete = 'DELETE'): Promise<void> {
  const res = await fx.admin.call('PUT', setPath(room, user), { body: { metaData, autoDelete } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body.data.errorKeys, {}, res.text);
}

/** Opens a stream and waits for its snapshot. */
async function subscribe(
  fx: Fixture,
  room: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ s: SseStream; snap: SseMessage }> {
  const s = await openStream(eventsUrl(fx, room), { token, headers });
  assert.equal(s.status, 200, s.text);
  const snap = await s.next(undefined, WAIT_MS);
  assert.equal(snap.event, 'snapshot', snap.data);
  return { s, snap };
}

/** Waits for the stream's `end` event and its close; returns the end's reason. */
async function ended(s: SseStream): Promise<string> {
  const end = await s.next((m) => m.event === 'end', WAIT_MS);
  await Promise.race([
    s.closed,
    new Promise((_, reject) => setTimeout(() => reject(new Error('stream not closed after end')), WAIT_MS).unref()),
  ]);
  return json(end).reason as string;
}

const events = (s: SseStream) => s.messages.filter((m) => m.event === undefined).map((m) => json(m));

/**
 * A deleted user's stream ends as `user_deleted`, or as `membership_ended` when its check runs
 * between the two steps of a Redis delete (the user leaves its rooms, then goes).
 */
const userGone = (target: Target) => (target.name === 'sqlite' ? ['user_deleted'] : ['user_deleted', 'membership_ended']);

export function streamRightsSuite(target: Target): void {
  describe(`event streams end with their rights [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture(target, NO_LIMIT);
      await fx.createUsers('alice', 'bob', 'carol', 'dave');
    });
    after(() => fx.close());

    it('a stream opened with a short-lived token ends with token_expired, and gets nothing after', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const { s } = await subscribe(fx, room, userToken(fx.app, 'bob', 2));
      assert.equal(await ended(s), 'token_expired');
      await put(fx, room, 'alice', { after: 'expiry' });
      assert.deepEqual(events(s), [], 'no change reached the expired stream');
    });

    it('a member removed by the admin route (no keys of its own) is told membership_ended; a change made after never reaches it', async () => {
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      const { s } = await subscribe(fx, room, userToken(fx.app, 'bob'));
      const { s: other } = await subscribe(fx, room, userToken(fx.app, 'carol'));
      const { s: admin } = await subscribe(fx, room, appToken(fx.app));
      const removed = await fx.admin.call('DELETE', `/chatrooms/${room}/users/bob`);
      assert.equal(removed.status, 200, removed.text);
      await put(fx, room, 'alice', { seat1: 'alice' });
      assert.equal(await ended(s), 'membership_ended');
      assert.deepEqual(events(s), [], "the set after the removal is not bob's to see");
      // the others carry on
      for (const keep of [other, admin]) {
        const e = json(await keep.next((m) => m.event === undefined, WAIT_MS));
        assert.deepEqual(e.attributes, { seat1: 'alice' });
      }
      other.close();
      admin.close();
    });

    it('a member removed with DELETE keys gets at most its own member_left event, then the end', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      await put(fx, room, 'bob', { seat2: 'bob' });
      const { s } = await subscribe(fx, room, userToken(fx.app, 'bob'));
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}/users/bob`)).status, 200);
      await put(fx, room, 'alice', { later: 'x' });
      assert.equal(await ended(s), 'membership_ended');
      // The removal's own event may race the rights check that ends the stream; what follows it never reaches it.
      assert.ok(
        ['', 'member_left'].includes(
          events(s)
            .map((e) => e.reason)
            .join(),
        ),
        JSON.stringify(events(s)),
      );
    });

    it("a deleted user's stream ends with user_deleted", async () => {
      await fx.createUsers('erin');
      const room = await fx.createRoom('alice', ['erin']);
      const { s } = await subscribe(fx, room, userToken(fx.app, 'erin'));
      assert.equal((await fx.admin.call('DELETE', '/users/erin')).status, 200);
      await put(fx, room, 'alice', { later: 'y' });
      assert.ok(userGone(target).includes(await ended(s)));
      assert.deepEqual(events(s), []);
    });

    it('an issued token of a deleted user does not serve a new user of the same name', async () => {
      await fx.createUsers('fred');
      const room = await fx.createRoom('alice', ['fred']);
      const login = await fx.admin.call('POST', '/token', { body: { grant_type: 'password', username: 'fred', password: 'pw-123456' } });
      assert.equal(login.status, 200, login.text);
      const { s } = await subscribe(fx, room, login.body.access_token);
      // deleted and made again, and back in the room, before the old stream notices
      assert.equal((await fx.admin.call('DELETE', '/users/fred')).status, 200);
      await fx.createUsers('fred');
      assert.equal((await fx.admin.call('POST', `/chatrooms/${room}/users/fred`)).status, 200);
      await put(fx, room, 'alice', { later: 'z' });
      assert.ok(userGone(target).includes(await ended(s)));
      assert.deepEqual(events(s), []);
    });

    it('a member\'s value {"reason":"room_destroyed"} ends no stream', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const { s } = await subscribe(fx, room, userToken(fx.app, 'bob'));
      const sneaky = await fx.user('alice').call('PUT', setPath(room, 'alice'), { body: { metaData: { reason: 'room_destroyed' } } });
      assert.equal(sneaky.status, 200, sneaky.text);
      await put(fx, room, 'alice', { next: 'still here' });
      const got = await s.next((m) => m.event === undefined && json(m).attributes.next === 'still here', WAIT_MS);
      assert.ok(got);
      assert.equal(
        s.messages.some((m) => m.event === 'end'),
        false,
      );
      s.close();
    });

    it("a destroyed room's log is read by app tokens only", async () => {
      const room = await fx.createRoom('alice', ['bob']);
      await put(fx, room, 'alice', { secret: 'value' });
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}`)).status, 200);
      const asUser = await openStream(eventsUrl(fx, room), { token: userToken(fx.app, 'bob'), query: { since: '0' } });
      assert.equal(asUser.status, 404, asUser.text);
      assert.equal(asUser.body.error, 'resource_not_found');
      assert.ok(!asUser.text!.includes('value'));
      const asApp = await openStream(eventsUrl(fx, room), { token: appToken(fx.app), query: { since: '0' } });
      assert.equal(asApp.status, 200, asApp.text);
      const first = json(await asApp.next(undefined, WAIT_MS));
      assert.deepEqual(first.attributes, { secret: 'value' });
      asApp.close();
    });
  });

  describe(`event streams resume only within their history [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture(target, NO_LIMIT);
      await fx.createUsers('alice', 'bob');
    });
    after(() => fx.close());

    it('a resume point ahead of the room (a wiped or restored store) gets a snapshot, then live', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      await put(fx, room, 'alice', { a: '1' });
      await put(fx, room, 'alice', { b: '2' });
      const attributes: Record<string, string> = { a: '1', b: '2' };
      let seq = 2;
      for (const lastId of [() => '50', () => '50-zzzz', () => String(seq + 1)]) {
        const headers = { 'Last-Event-ID': lastId() };
        const { s, snap } = await subscribe(fx, room, appToken(fx.app), headers);
        assert.deepEqual([json(snap).seq, json(snap).attributes], [seq, attributes], JSON.stringify(headers));
        const value = `v${++seq}`;
        await put(fx, room, 'alice', { c: value });
        attributes.c = value;
        const e = json(await s.next((m) => m.event === undefined, WAIT_MS));
        assert.deepEqual([e.seq, e.attributes], [seq, { c: value }]);
        s.close();
      }
    });

    it('a resume point of another epoch gets a snapshot even when its seq is in the log; of this epoch, the missed events', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const { s, snap } = await subscribe(fx, room, appToken(fx.app));
      const epoch = snap.epoch!;
      await put(fx, room, 'alice', { a: '1' });
      await put(fx, room, 'alice', { b: '2' });
      await s.next((m) => m.seq === '2', WAIT_MS);
      s.close();
      const other = epoch === 'zzzz' ? 'yyyy' : 'zzzz';
      const { s: foreign, snap: again } = await subscribe(fx, room, appToken(fx.app), { 'Last-Event-ID': `1-${other}` });
      assert.equal(json(again).seq, 2);
      foreign.close();
      const mine = await openStream(eventsUrl(fx, room), { token: appToken(fx.app), headers: { 'Last-Event-ID': `1-${epoch}` } });
      const next = await mine.next(undefined, WAIT_MS);
      assert.equal(next.event, undefined, 'the missed event, not a snapshot');
      assert.equal(next.id, `2-${epoch}`);
      mine.close();
    });
  });

  describe(`event streams are capped and cost a get [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_MAX_STREAMS_PER_USER: '2', ROOMKV_MAX_STREAMS_PER_APP: '3' } });
      await fx.createUsers('alice', 'bob', 'carol');
    });
    after(() => fx.close());

    it('a user past ROOMKV_MAX_STREAMS_PER_USER, and an app past ROOMKV_MAX_STREAMS_PER_APP, get 429 with the reason; a closed stream frees its place', async () => {
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      const bob = [await subscribe(fx, room, userToken(fx.app, 'bob')), await subscribe(fx, room, userToken(fx.app, 'bob'))];
      const third = await openStream(eventsUrl(fx, room), { token: userToken(fx.app, 'bob') });
      assert.equal(third.status, 429, third.text);
      assert.deepEqual(
        [third.body.error, third.body.error_description],
        ['reach_limit', 'too many open event streams for this user (limit 2)'],
      );
      const carol = await subscribe(fx, room, userToken(fx.app, 'carol'));
      const fourth = await openStream(eventsUrl(fx, room), { token: appToken(fx.app) });
      assert.equal(fourth.status, 429, fourth.text);
      assert.deepEqual(
        [fourth.body.error, fourth.body.error_description],
        ['reach_limit', 'too many open event streams for this app (limit 3)'],
      );
      at(bob, 0).s.close();
      const reopened = await waitFor(
        "the closed stream's place to be free",
        async () => {
          const s = await openStream(eventsUrl(fx, room), { token: userToken(fx.app, 'bob') });
          if (s.status === 200) return s;
          s.close();
          return false;
        },
        WAIT_MS,
      );
      reopened.close();
      at(bob, 1).s.close();
      carol.s.close();
    });
  });

  describe(`opening event streams spends the rate limit [${target.name}]`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture(target, { rateLimitPerSecond: 5 });
      await fx.createUsers('alice', 'bob');
    });
    after(() => fx.close());

    it('20 stream opens at once by a member limited to 5 calls/s: most get 429 reach_limit', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const opened = await Promise.all(
        Array.from({ length: 20 }, () => openStream(eventsUrl(fx, room), { token: userToken(fx.app, 'bob') })),
      );
      const statuses = opened.map((s) => s.status);
      for (const s of opened) s.close();
      const limited = opened.filter((s) => s.status === 429);
      assert.ok(statuses.filter((st) => st === 200).length <= 10, `at most two windows' budget opened: ${statuses}`);
      assert.ok(limited.length >= 10, `${statuses}`);
      for (const s of limited) assert.equal(s.body.error, 'reach_limit');
    });
  });
}
