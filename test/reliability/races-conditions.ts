// Conditional and all-or-nothing writes under contention (spec section 10): members claiming one
// seat by its revision (compare-and-set), and members moving between seats in atomic calls
// conditioned on both seats' revisions. Each round is also explained by the serial model.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { at } from '../support/at.js';
import { createRoom, readRoom, tokenFor } from './harness.js';
import type { Attr, AttrRequest } from './model.js';
import { assertExplained, assertPrefilled, fire, POOL, prefill, type RaceContext } from './race-support.js';

const SEATS = ['s0', 's1', 's2', 's3', 's4', 's5'];

export function conditionRaces(ctx: RaceContext): void {
  const { app, dice, seed, rounds, tally } = ctx;

  it(`12 members claiming one seat by its revision at once: exactly one wins, ${rounds} rounds`, async () => {
    for (let round = 0; round < rounds; round++) {
      const what = `round ${round} (seed ${seed})`;
      const room = await createRoom(ctx.anyUrl(), app, at(POOL, 0), POOL.slice(1));
      // Half the rounds the seat is free (ifRevision 0: must not exist), half it is held (its revision).
      const seeded: Array<[string, Attr]> = dice.chance(0.5) ? [] : [['seat', { value: 'held', owner: at(POOL, 0), autoDelete: 'DELETE' }]];
      await prefill(ctx.anyUrl(), app, room, seeded);
      const initial = await readRoom(ctx.anyUrl(), app, room);
      assertPrefilled(initial, seeded);
      const expected = initial.attrs.get('seat')?.revision ?? 0;
      // Forced: ownership does not decide, only the revision does.
      const calls = POOL.map((user) => {
        const req: AttrRequest = {
          op: 'set',
          forced: true,
          user,
          autoDelete: dice.autoDelete(),
          pairs: [['seat', `r${round}.${user}`]],
          ifRevision: { seat: expected },
          ...(dice.chance(0.5) ? { atomic: true } : {}),
        };
        return { req, token: tokenFor(app, user, dice.chance(0.2)) };
      });
      const observed = await fire(ctx.inst(), app, room, dice, calls);
      const winners = observed.filter((c) => c.outcome!.successKeys.length > 0);
      assert.equal(winners.length, 1, `${what}: ${winners.length} winners`);
      const won = initial.seq + 1;
      for (const c of observed) {
        if (c !== winners[0])
          assert.deepEqual(c.outcome, { successKeys: [], errorKeys: { seat: `key 'seat' revision is ${won}, not ${expected}` } }, what);
      }
      const final = await readRoom(ctx.anyUrl(), app, room);
      assert.equal(final.attrs.get('seat')?.owner, at(winners, 0).request.user, what);
      assert.equal(final.attrs.get('seat')?.revision, won, what);
      assertExplained(initial, observed, final, what);
      tally.rounds += 1;
      tally.calls += observed.length;
    }
  });

  it(`members moving between seats in atomic conditional calls at once: nobody in two seats, ${rounds} rounds`, async () => {
    for (let round = 0; round < rounds; round++) {
      const what = `round ${round} (seed ${seed})`;
      const members = dice.shuffle(POOL).slice(0, 8);
      const room = await createRoom(ctx.anyUrl(), app, at(members, 0), members.slice(1));
      // Four members hold a seat each; a free seat is absent or emptied ("") by whoever left it.
      const holders = members.slice(0, 4);
      const seats = dice.shuffle(SEATS);
      const seeded: Array<[string, Attr]> = holders.map((u, i) => [at(seats, i), { value: u, owner: u, autoDelete: 'DELETE' }]);
      for (const s of seats.slice(holders.length))
        if (dice.chance(0.5)) seeded.push([s, { value: '', owner: dice.pick(members), autoDelete: 'DELETE' }]);
      await prefill(ctx.anyUrl(), app, room, seeded);
      const initial = await readRoom(ctx.anyUrl(), app, room);
      assertPrefilled(initial, seeded);
      const free = seats.filter((s) => (initial.attrs.get(s)?.value ?? '') === '');
      const rev = (s: string) => initial.attrs.get(s)?.revision ?? 0;
      // A holder moves: empty its seat and take a free one, both or neither, only if neither changed.
      // Anyone else claims a free seat if it is unchanged. Forced: the revisions decide, not the owners.
      const calls = members.map((user, i) => {
        const to = dice.pick(free);
        const from = i < holders.length ? at(seats, i) : null;
        const pairs: Array<[string, string]> =
          from === null
            ? [[to, user]]
            : [
                [from, ''],
                [to, user],
              ];
        const ifRevision = Object.fromEntries(pairs.map(([s]) => [s, rev(s)]));
        const req: AttrRequest = { op: 'set', forced: true, user, autoDelete: 'DELETE', pairs, ifRevision, atomic: true };
        return { req, token: tokenFor(app, user, dice.chance(0.2)) };
      });
      const observed = await fire(ctx.inst(), app, room, dice, calls);
      const final = await readRoom(ctx.anyUrl(), app, room);
      for (const user of members) {
        const held = SEATS.filter((s) => final.attrs.get(s)?.value === user);
        assert.ok(held.length <= 1, `${what}: ${user} holds ${held.join(', ')}`);
      }
      for (const c of observed) {
        const o = c.outcome!;
        const written = o.successKeys.length;
        assert.ok(written === 0 || Object.keys(o.errorKeys).length === 0, `${what}: an atomic call half written: ${JSON.stringify(o)}`);
      }
      assertExplained(initial, observed, final, what);
      tally.rounds += 1;
      tally.calls += observed.length;
    }
  });
}
