import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ApiError } from '../../src/domain/errors.js';
import type { RemoveResult } from '../../src/store/types.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';
import { type Conformance, ROOM_FULL_100 } from './conformance-support.js';

/** Concurrent calls on one room in the store conformance suite: one owner per key, the room limit, maxusers, members. */
export function concurrencyTests(suite: Conformance): void {
  const { newApp, users, world, set, all } = suite;

  it('concurrency: 20 members set the same new key at once, exactly one wins', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    const { app, room } = await world(names);
    const outs = await Promise.all(names.map((u) => set(app, room, u, { seat: u })));
    const winners = names.filter((_, i) => at(outs, i).successKeys.length === 1);
    assert.equal(winners.length, 1, `winners: ${winners.join(',')}`);
    for (const [i, out] of outs.entries()) {
      if (names[i] === winners[0]) assert.deepEqual(out, { successKeys: ['seat'], errorKeys: {} });
      else assert.deepEqual(out, { successKeys: [], errorKeys: { seat: "key 'seat' is not part of you" } });
    }
    assert.deepEqual(await suite.store.listAttributes(app, room), [
      { key: 'seat', value: winners[0], owner: winners[0], autoDelete: 'DELETE' },
    ]);
  });

  it('concurrency: 15 calls of 10 new keys each into one room store exactly 100', async () => {
    const names = Array.from({ length: 15 }, (_, i) => `w${i}`);
    const { app, room } = await world(names);
    const outs = await Promise.all(
      names.map((u, c) => set(app, room, u, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`c${c}k${i}`, `${c}.${i}`])))),
    );
    const succeeded = outs.flatMap((o) => o.successKeys);
    const failed = outs.flatMap((o) => Object.entries(o.errorKeys));
    assert.equal(succeeded.length, 100);
    assert.equal(failed.length, 50);
    for (const [, reason] of failed) assert.equal(reason, ROOM_FULL_100);
    const stored = await all(app, room);
    assert.equal(Object.keys(stored).length, 100);
    assert.deepEqual(Object.keys(stored).sort(), [...succeeded].sort(), 'stored = reported successes');
    for (const k of succeeded) {
      const [c, i] = k.slice(1).split('k');
      assert.equal(stored[k], `${c}.${i}`);
    }
  });

  it('concurrency: 20 users joining a room of maxusers 10 one at a time: exactly 10 members, the rest refused', async () => {
    const names = Array.from({ length: 19 }, (_, i) => `j${String(i).padStart(2, '0')}`);
    const app = newApp();
    await users(app, 'owner', ...names);
    const room = (await suite.store.createRoom(app, { name: 'r', description: '', owner: 'owner', maxusers: 10, members: [] })).id;
    const outs = await Promise.allSettled(names.map((u) => suite.store.addMembers(app, room, [u])));
    const joined = outs.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
    const refused = outs.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as ApiError);
    assert.equal(joined.length, 9);
    assert.equal(refused.length, 10);
    for (const e of refused) assert.deepEqual([e.status, e.error], [403, 'forbidden_op']);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, 10);
    assert.deepEqual((await suite.store.listMembers(app, room, 0, 100)).slice(1).sort(), [...joined].sort());
  });

  it('concurrency: a removal and a join of each member at once: every removal finds its member, and the count matches the members', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `x${String(i).padStart(2, '0')}`);
    const { app, room } = await world(['boss', ...names]);
    const calls = names.flatMap((u) => [suite.store.removeMembers(app, room, [u], NO_WEBHOOKS), suite.store.addMembers(app, room, [u])]);
    const outs = await Promise.all(calls);
    const members = new Set(await suite.store.listMembers(app, room, 0, 100));
    const removed = outs.filter((_, i) => i % 2 === 0).flat() as RemoveResult[];
    assert.equal(removed.length, names.length);
    for (const r of removed) assert.ok(r.result, `${r.user} was a member when its removal came`);
    assert.equal((await suite.store.getRoom(app, room))!.memberCount, members.size);
  });
}
