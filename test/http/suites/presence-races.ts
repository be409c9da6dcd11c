import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { userToken } from '../../support/apps.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type SseStream } from '../../support/sse.js';
import {
  addMember,
  blip,
  eventsOf,
  eventsUrl,
  GRACE_MS,
  hangUp,
  members,
  nextPresence,
  NO_LIMIT,
  offlineLeave,
  onlineList,
  PRESENCE,
  put,
  sse,
  until,
  WAIT_MS,
  witnessLeaves,
} from './presence-support.js';

/** Rounds of the reconnect race: each reconnects at another moment around the end of the grace. */
const ROUNDS = 10;

/**
 * Presence's races (spec section 9): a reconnect at the moment the grace ends, a member removed by
 * an admin while offline or while online, and a set by the member in flight when it leaves. Each
 * outcome is one the store orders atomically: never a member that left with a live stream, never
 * one online that is not a member, never a DELETE key of a non-member left behind.
 */
export function presenceRacesSuite(target: Target): void {
  describe(`presence races [${target.name}]`, () => {
    let fx: Fixture;
    const streams: SseStream[] = [];
    const watch = async (room: string) => {
      const s = await sse(fx, room);
      streams.push(s);
      return s;
    };
    before(async () => {
      fx = await startFixture(target, NO_LIMIT, {}, PRESENCE);
      await fx.createUsers('alice', 'bob', 'carol');
    });
    afterEach(async () => {
      for (const s of streams.splice(0)) await hangUp(s);
    });
    after(() => fx.close());

    it('a reconnect at the moment the grace ends: the member stays, online with a live stream, or leaves and its stream ends', async (t) => {
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      const observer = await watch(room);
      let bobStream = await sse(fx, room, userToken(fx.app, 'bob'));
      await nextPresence(observer, 'bob', 'online');
      const outcomes = { stayed: 0, left: 0, ended: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        await put(fx, room, 'bob', { [`seat${round}`]: 'bob' });
        await hangUp(bobStream);
        const wentOff = await nextPresence(observer, 'bob', 'offline');
        // From a little before the grace ends to past the due pass after it.
        await until(wentOff.timestamp + GRACE_MS - 100 + Math.round((400 * round) / (ROUNDS - 1)));
        const back = await openStream(eventsUrl(fx, room), { token: userToken(fx.app, 'bob') });
        streams.push(back);
        await addMember(fx, room, 'carol');
        await witnessLeaves(fx, room, 'carol', observer);
        if ((await members(fx, room)).includes('bob')) {
          outcomes.stayed++;
          assert.equal(back.status, 200, back.text);
          assert.ok((await onlineList(fx, room)).includes('bob'), 'a member that stayed is online');
          await put(fx, room, 'alice', { [`ping${round}`]: '1' });
          await back.next((m) => m.event === undefined && `ping${round}` in json(m).attributes, WAIT_MS);
          assert.equal(back.endReason, undefined, 'and its stream is live');
          bobStream = back;
        } else {
          outcomes.left++;
          assert.ok(!(await onlineList(fx, room)).includes('bob'), 'no one is online who is not a member');
          if (back.status === 200) {
            assert.deepEqual(json(await back.next((m) => m.event === 'end', WAIT_MS)), { reason: 'membership_ended' });
            outcomes.ended++;
          } else assert.equal(back.status, 401, back.text);
          await addMember(fx, room, 'bob');
          bobStream = await sse(fx, room, userToken(fx.app, 'bob'));
          await nextPresence(observer, 'bob', 'online');
        }
      }
      t.diagnostic(`stayed ${outcomes.stayed}, left ${outcomes.left} (a stream opened just before ended: ${outcomes.ended}) of ${ROUNDS}`);
      const leaves = eventsOf(observer).filter((e) => e.from === 'bob' && e.reason === 'member_offline');
      assert.equal(leaves.length, outcomes.left, 'one member_offline event per leave');
      streams.push(bobStream);
    });

    it('removed by an admin while offline: it leaves once, and back in the room it does not leave by the old offline', async () => {
      const room = await fx.createRoom('alice', ['bob', 'carol']);
      await put(fx, room, 'bob', { seat: 'bob' });
      const observer = await watch(room);
      await blip(fx, room, 'bob', observer);
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}/users/bob`)).status, 200);
      await addMember(fx, room, 'bob');
      await witnessLeaves(fx, room, 'carol', observer);
      assert.deepEqual(
        eventsOf(observer)
          .filter((e) => e.from === 'bob')
          .map((e) => [e.reason, e.attributes]),
        [['member_left', ['seat']]],
      );
      assert.deepEqual(await members(fx, room), ['alice', 'bob']);
      assert.deepEqual(await onlineList(fx, room), []);
    });

    it('removed by an admin while online: offline at once, and its streams end', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const observer = await watch(room);
      const bob = await sse(fx, room, userToken(fx.app, 'bob'));
      await nextPresence(observer, 'bob', 'online');
      assert.equal((await fx.admin.call('DELETE', `/chatrooms/${room}/users/bob`)).status, 200);
      await nextPresence(observer, 'bob', 'offline');
      assert.deepEqual(json(await bob.next((m) => m.event === 'end', WAIT_MS)), { reason: 'membership_ended' });
      assert.deepEqual(await onlineList(fx, room), []);
      await addMember(fx, room, 'bob');
      assert.deepEqual(await onlineList(fx, room), [], 'back in the room, not online until it connects');
    });

    it('a set by the member in flight when it leaves: answered 401, or its DELETE key went with the member', async () => {
      const room = await fx.createRoom('alice', ['bob']);
      const observer = await watch(room);
      const bob = fx.user('bob');
      for (let round = 0; round < 3; round++) {
        const wentOff = await blip(fx, room, 'bob', observer);
        await until(wentOff.timestamp + GRACE_MS - 100);
        // Each writer sets its own key again and again (the room's key limit stays far) until refused.
        const written = new Set<string>();
        let refused = false;
        const writer = async (w: number) => {
          for (let n = 0; !refused; n++) {
            const key = `r${round}w${w}`;
            const res = await bob.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { [key]: String(n) } } });
            if (res.status === 401) refused = true;
            else if (res.body.data.successKeys.includes(key)) written.add(key);
            else assert.fail(res.text);
          }
        };
        await Promise.all([0, 1, 2, 3].map(writer));
        const event = await offlineLeave(observer, 'bob');
        assert.ok(written.size > 0, 'some sets landed before the leave');
        assert.deepEqual([...event.attributes].sort(), [...written].sort(), 'every key bob set went with it');
        const records = await fx.admin.call('GET', `/chatrooms/${room}/attributes`);
        assert.deepEqual(
          (records.body.data as Array<{ owner: string }>).filter((r) => r.owner === 'bob'),
          [],
          'no key of a non-member is left',
        );
        await addMember(fx, room, 'bob');
      }
    });
  });
}
