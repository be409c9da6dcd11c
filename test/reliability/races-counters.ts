// Counters under contention: many members incrementing one hot key at once, through every
// instance. Too many calls for the serial-order search, so these rounds check what a serial order
// of increments implies directly: the values answered are the running sums of one order that
// respects real time, no acknowledged delta is lost, and a bound is never crossed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { at } from '../support/at.js';
import { createRoom, observe, readRoom, tokenFor } from './harness.js';
import type { Attr, AttrRequest, ObservedCall } from './model.js';
import { assertExplained, assertPrefilled, POOL, prefill, type RaceContext } from './race-support.js';

const CALLS_PER_MEMBER = 4;

/** An acknowledged increment of one key: its delta and the new value it answered. */
export interface CounterAck {
  delta: number;
  value: bigint;
  startedAt: number;
  endedAt: number;
}

/**
 * What is wrong with a hot counter's acknowledged increments (all deltas positive, so a serial order
 * is the order of the values answered): each value must be the previous one plus its delta, from
 * `start`, and a call that ended before another started must have answered the smaller value.
 */
export function counterChainProblems(start: bigint, acks: readonly CounterAck[]): string[] {
  const sorted = [...acks].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const problems: string[] = [];
  let sum = start;
  for (const [i, a] of sorted.entries()) {
    if (a.delta <= 0) throw new Error('counterChainProblems takes positive deltas only');
    sum += BigInt(a.delta);
    if (a.value !== sum) problems.push(`increment #${i} in value order (+${a.delta}) answered ${a.value}, the running sum is ${sum}`);
  }
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const [first, later] = [sorted[i]!, sorted[j]!];
      if (later.endedAt < first.startedAt)
        problems.push(`the increment answering ${later.value} ended before the one answering ${first.value} started`);
    }
  }
  return problems.slice(0, 10);
}

/** Each member sends its calls one after another (the next once the last is answered), all members at once. */
async function membersInLoop(
  ctx: RaceContext,
  room: string,
  calls: Array<Array<{ req: AttrRequest; asApp: boolean }>>,
): Promise<ObservedCall[]> {
  const routes = calls.map((mine) => mine.map(() => ctx.dice.pick(ctx.inst().urls)));
  const perMember = await Promise.all(
    calls.map(async (mine, m) => {
      const out: ObservedCall[] = [];
      for (const [i, c] of mine.entries()) {
        out.push(await observe(routes[m]![i]!, ctx.app, room, c.req, tokenFor(ctx.app, c.req.user, c.asApp)));
      }
      return out;
    }),
  );
  return perMember.flat();
}

const deltaOf = (c: ObservedCall): number => (c.request as Extract<AttrRequest, { op: 'increment' }>).deltas[0]![1];

export function counterRaces(ctx: RaceContext): void {
  const { app, dice, seed, rounds, tally } = ctx;
  const HOT = 'likes';

  it(`12 members incrementing one hot key at once, ${CALLS_PER_MEMBER} calls each: no lost increment, ${rounds} rounds`, async () => {
    for (let round = 0; round < rounds; round++) {
      const what = `round ${round} (seed ${seed})`;
      const room = await createRoom(ctx.anyUrl(), app, at(POOL, 0), POOL.slice(1));
      // Half the rounds start from a missing key (it counts from "0"), half from a stored integer.
      const start = dice.chance(0.5) ? null : dice.int(-50, 50);
      const seeded: Array<[string, Attr]> =
        start === null ? [] : [[HOT, { value: String(start), owner: at(POOL, 0), autoDelete: 'NO_DELETE' }]];
      await prefill(ctx.anyUrl(), app, room, seeded);
      const initial = await readRoom(ctx.anyUrl(), app, room);
      assertPrefilled(initial, seeded);
      const calls = POOL.map((user) =>
        Array.from({ length: CALLS_PER_MEMBER }, () => ({
          req: { op: 'increment', forced: true, user, autoDelete: dice.autoDelete(), deltas: [[HOT, dice.int(1, 9)]] } as AttrRequest,
          asApp: dice.chance(0.2),
        })),
      );
      const observed = await membersInLoop(ctx, room, calls);
      for (const c of observed) {
        assert.deepEqual({ ...c.outcome, values: undefined }, { successKeys: [HOT], errorKeys: {}, values: undefined }, what);
        assert.match(c.outcome!.values?.[HOT] ?? '', /^-?(0|[1-9][0-9]*)$/, `${what}: ${JSON.stringify(c.outcome)}`);
      }
      const acks = observed.map((c) => ({ ...c, delta: deltaOf(c), value: BigInt(c.outcome!.values![HOT]!) }));
      assert.deepEqual(counterChainProblems(BigInt(start ?? 0), acks), [], what);

      const total = (start ?? 0) + acks.reduce((s, a) => s + a.delta, 0);
      const final = await readRoom(ctx.anyUrl(), app, room);
      const last = acks.reduce((a, b) => (a.value > b.value ? a : b));
      const lastReq = last.request as Extract<AttrRequest, { op: 'increment' }>;
      assert.equal(final.seq, initial.seq + observed.length, `${what}: one event per increment`);
      assert.deepEqual(
        final.attrs.get(HOT),
        { value: String(total), owner: lastReq.user, autoDelete: lastReq.autoDelete, revision: final.seq },
        `${what}: the stored counter is the start plus every acknowledged delta`,
      );
      tally.rounds += 1;
      tally.calls += observed.length;
    }
  });

  it(`12 members taking one of a bounded count at once: never past max, ${rounds} rounds`, async () => {
    for (let round = 0; round < rounds; round++) {
      const what = `round ${round} (seed ${seed})`;
      const room = await createRoom(ctx.anyUrl(), app, at(POOL, 0), POOL.slice(1));
      const initial = await readRoom(ctx.anyUrl(), app, room);
      const max = dice.int(8, 30);
      const min = dice.chance(0.5) ? 0 : undefined;
      const refused = { tickets: `properties value of 'tickets' would leave [${min ?? '-inf'}, ${max}]` };
      const calls = POOL.map((user) =>
        Array.from({ length: CALLS_PER_MEMBER }, () => ({
          req: {
            op: 'increment',
            forced: true,
            user,
            autoDelete: 'NO_DELETE',
            deltas: [['tickets', 1]],
            max,
            ...(min !== undefined ? { min } : {}),
          } as AttrRequest,
          asApp: dice.chance(0.2),
        })),
      );
      const observed = await membersInLoop(ctx, room, calls);
      const acks = observed.filter((c) => c.outcome!.successKeys.length > 0);
      const refusals = observed.filter((c) => c.outcome!.successKeys.length === 0);
      assert.equal(acks.length, Math.min(max, observed.length), `${what}: ${acks.length} taken of ${max}`);
      for (const c of refusals)
        assert.deepEqual({ ...c.outcome, values: undefined }, { successKeys: [], errorKeys: refused, values: undefined }, what);
      const chain = acks.map((c) => ({ ...c, delta: 1, value: BigInt(c.outcome!.values!.tickets!) }));
      assert.deepEqual(counterChainProblems(0n, chain), [], what);
      // A refusal saw the count at max: every taken one came before it, none started after it ended.
      for (const r of refusals) {
        const late = acks.find((a) => a.startedAt > r.endedAt);
        assert.equal(late, undefined, `${what}: a call refused at max ended before an acknowledged one started`);
      }
      const final = await readRoom(ctx.anyUrl(), app, room);
      assert.equal(final.attrs.get('tickets')?.value, String(max), what);
      assert.equal(final.seq, initial.seq + acks.length, `${what}: a refused increment emits no event`);
      tally.rounds += 1;
      tally.calls += observed.length;
    }
  });

  // An increment plans from the stored values of its keys, read by the instance when it lacks them;
  // plain sets of the same keys landing on that instance meanwhile must not leave it planning from
  // a value it no longer knows (seen on Redis Cluster as a 503 "an increment needs the stored values").
  it(`12 members incrementing two keys and setting either at once: explained by a serial order, ${rounds} rounds`, async () => {
    for (let round = 0; round < rounds; round++) {
      const what = `round ${round} (seed ${seed})`;
      const room = await createRoom(ctx.anyUrl(), app, at(POOL, 0), POOL.slice(1));
      const initial = await readRoom(ctx.anyUrl(), app, room);
      const calls = POOL.map((user, m) =>
        Array.from({ length: 2 }, (): { req: AttrRequest; asApp: boolean } => ({
          req:
            m % 2 === 0
              ? {
                  op: 'increment',
                  forced: true,
                  user,
                  autoDelete: 'DELETE',
                  deltas: [
                    ['a', dice.int(1, 9)],
                    ['b', dice.int(1, 9)],
                  ],
                }
              : { op: 'set', forced: true, user, autoDelete: 'DELETE', pairs: [[dice.pick(['a', 'b']), String(dice.int(0, 99))]] },
          asApp: false,
        })),
      );
      const observed = await membersInLoop(ctx, room, calls);
      const final = await readRoom(ctx.anyUrl(), app, room);
      assertExplained(initial, observed, final, what);
      tally.rounds += 1;
      tally.calls += observed.length;
    }
  });
}
