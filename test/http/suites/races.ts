import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { at } from '../../support/at.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Reply } from '../../support/client.js';
import type { Target } from '../../support/server.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const notYours = (k: string) => `key '${k}' is not part of you`;
const ROOM_FULL = 'size of metadata for this single chatroom exceeds the user defined limit 100';

function ok(res: Reply): { successKeys: string[]; errorKeys: Record<string, string> } {
  assert.equal(res.status, 200, res.text);
  return res.body.data;
}

/**
 * Concurrent calls over real sockets (spec section 5: every call is atomic, the per-key outcomes
 * are exactly what was stored). Each racer uses its own 007 user token, as real clients would.
 */
export function racesSuite(target: Target): void {
  describe(`concurrent calls [${target.name}]`, () => {
    let fx: Fixture;
    const users = range(20).map((i) => `racer${String(i).padStart(2, '0')}`);
    before(async () => {
      // The rate limiter must not decide who wins.
      fx = await startFixture(target, { rateLimitPerSecond: 100_000 });
      await fx.createUsers(...users);
    });
    after(() => fx.close());

    const roomOf = (members: string[]) => fx.createRoom(at(members, 0), members.slice(1));
    const getAll = async (room: string) =>
      ok(await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} })) as unknown as Record<string, string>;
    const set = (user: string, room: string, metaData: Record<string, string>, forced = false) =>
      fx.user(user).call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body: { metaData } });

    it('20 members setting the same new key at once: exactly one wins and owns it', async () => {
      for (let round = 0; round < 3; round += 1) {
        const room = await roomOf(users);
        const replies = await Promise.all(users.map((u) => set(u, room, { seat: u })));
        const winners: string[] = [];
        replies.forEach((res, i) => {
          const data = ok(res);
          if (data.successKeys.length > 0) {
            assert.deepEqual(data, { successKeys: ['seat'], errorKeys: {} });
            winners.push(users[i]!);
          } else {
            assert.deepEqual(data, { successKeys: [], errorKeys: { seat: notYours('seat') } });
          }
        });
        assert.equal(winners.length, 1, `round ${round}: winners ${winners.join()}`);
        const winner = at(winners, 0);
        assert.deepEqual(await getAll(room), { seat: winner });
        // the stored owner is the winner: it may overwrite, nobody else may
        const loser = users.find((u) => u !== winner)!;
        assert.deepEqual(ok(await set(loser, room, { seat: loser })), { successKeys: [], errorKeys: { seat: notYours('seat') } });
        assert.deepEqual(ok(await set(winner, room, { seat: 'again' })), { successKeys: ['seat'], errorKeys: {} });
        assert.deepEqual(await getAll(room), { seat: 'again' });
      }
    });

    it('150 new keys in 15 concurrent calls: exactly 100 stored, 50 refused as over the room limit', async () => {
      const members = users.slice(0, 15);
      const room = await roomOf(members);
      const sent = members.map((u, i) => Object.fromEntries(range(10).map((j) => [`k${i}_${j}`, `${u}:${j}`])));
      const replies = await Promise.all(members.map((u, i) => set(u, room, at(sent, i))));
      const succeeded = new Map<string, string>();
      let refused = 0;
      replies.forEach((res, i) => {
        const data = ok(res);
        // every key of the call is accounted for exactly once
        assert.deepEqual([...data.successKeys, ...Object.keys(data.errorKeys)].sort(), Object.keys(at(sent, i)).sort());
        for (const k of data.successKeys) succeeded.set(k, at(sent, i)[k]!);
        for (const [k, reason] of Object.entries(data.errorKeys)) {
          assert.equal(reason, ROOM_FULL, `${k}: ${reason}`);
          refused += 1;
        }
      });
      assert.equal(succeeded.size, 100);
      assert.equal(refused, 50);
      const stored = await getAll(room);
      assert.equal(Object.keys(stored).length, 100);
      assert.deepEqual(stored, Object.fromEntries(succeeded));
    });

    it('a multi-key set is applied as a whole: concurrent forced sets and readers never see a mix', async () => {
      const members = users.slice(0, 10);
      const room = await roomOf(members);
      const keys = ['x', 'y', 'z'];
      const writes = members.map((u) => set(u, room, Object.fromEntries(keys.map((k) => [k, u])), true));
      const reads = range(10).map(() => fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys } }));
      const [written, seen] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
      for (const res of written) assert.deepEqual(ok(res), { successKeys: keys, errorKeys: {} });
      for (const res of seen) {
        const data = ok(res) as unknown as Record<string, string>;
        const values = Object.values(data);
        assert.ok(values.length === 0 || (values.length === 3 && new Set(values).size === 1), JSON.stringify(data));
      }
      const final = await getAll(room);
      assert.equal(new Set(keys.map((k) => final[k])).size, 1, JSON.stringify(final));
      assert.ok(final.x !== undefined && members.includes(final.x));
    });

    it('concurrent forced sets and forced deletes of one key end in a state their outcomes explain', async () => {
      const members = users.slice(0, 10);
      const room = await roomOf(members);
      for (let round = 0; round < 5; round += 1) {
        const key = `mic${round}`;
        const calls: Array<Promise<{ kind: 'set' | 'del'; who: string; res: Reply }>> = [];
        members.forEach((u, i) => {
          calls.push(set(u, room, { [key]: u }, true).then((res) => ({ kind: 'set', who: u, res })));
          // app-token forced deletes as the pseudo-user admin, and user-token ones by a member
          const del =
            i % 2 === 0
              ? fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { body: { keys: [key] } })
              : fx.user(u).call('DELETE', `/metadata/chatroom/${room}/user/${u}/forced`, { body: { keys: [key] } });
          calls.push(del.then((res) => ({ kind: 'del', who: u, res })));
        });
        const outcomes = await Promise.all(calls);
        let sets = 0;
        let removed = 0;
        for (const { kind, res } of outcomes) {
          const data = ok(res);
          if (kind === 'set') {
            assert.deepEqual(data, { successKeys: [key], errorKeys: {} });
            sets += 1;
          } else if (data.successKeys.length > 0) {
            assert.deepEqual(data, { successKeys: [key], errorKeys: {} });
            removed += 1;
          } else {
            assert.deepEqual(data, { successKeys: [], errorKeys: { [key]: `key '${key}' does not exist` } });
          }
        }
        // In any serial order starting from "absent": each removal undoes at least one set, and
        // the key is absent at the end iff the last call to touch it was a successful delete.
        const final = (await getAll(room))[key];
        assert.ok(removed <= sets, `${removed} removals for ${sets} sets`);
        if (removed === sets) assert.equal(final, undefined, 'every set was removed');
        if (final === undefined) {
          assert.ok(removed >= 1, 'the key was set, so some delete removed it');
          continue;
        }
        assert.ok(members.includes(final), `stored value ${final} was sent by a set`);
        // the stored value's setter owns the key
        const other = members.find((u) => u !== final)!;
        assert.deepEqual(ok(await set(other, room, { [key]: 'taken' })), { successKeys: [], errorKeys: { [key]: notYours(key) } });
        assert.deepEqual(ok(await set(final, room, { [key]: 'mine' })), { successKeys: [key], errorKeys: {} });
      }
    });
  });
}
