// Concurrent calls on one room, through one instance (SQLite) or two roomkv processes on one Redis
// or Redis Cluster, each call through a random instance. Every round is checked with the serial
// model: some order of the calls, respecting their real-time order, must explain every answer and
// the final state (values, owners, autoDelete flags, revisions and the room's seq). The counter and
// condition rounds are in races-counters.ts and races-conditions.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { userToken } from '../support/apps.js';
import { at } from '../support/at.js';
import {
  createRoom,
  createUsers,
  Dice,
  raceApp,
  readRoom,
  startInstances,
  STORES,
  storeEnv,
  tokenFor,
  type Instances,
  type StoreKind,
} from './harness.js';
import { mixedCall, seedAttrs } from './race-calls.js';
import { assertExplained, assertPrefilled, fire, notYours, POOL, prefill, type RaceContext, type Tally } from './race-support.js';
import { conditionRaces } from './races-conditions.js';
import { counterRaces } from './races-counters.js';
import { plainAttrs, type Attr, type AttrRequest } from './model.js';

const ROOM_LIMIT = 100;

export function raceSuite(rounds: number, seed: number): void {
  for (const kind of STORES) storeRaces(kind, rounds, seed);
}

function storeRaces(kind: StoreKind, rounds: number, seed: number): void {
  const found = storeEnv(kind);
  const title = `races [${kind}${kind === 'sqlite' ? ', one instance' : ', two instances'}] (seed ${seed})`;
  if ('missing' in found) {
    describe(title, { skip: found.missing }, () => {});
    return;
  }
  describe(title, () => {
    const app = raceApp();
    const dice = new Dice(seed);
    const tally: Tally = { rounds: 0, calls: 0 };
    let inst: Instances;
    before(async () => {
      inst = await startInstances(kind, found.env, app, 2);
      await createUsers(at(inst.urls, 0), app, POOL);
    });
    after(async () => {
      await inst?.close();
      console.log(`reliability: ${kind} race rounds=${tally.rounds} calls=${tally.calls}`);
    });
    const anyUrl = () => dice.pick(inst.urls);
    const ctx: RaceContext = { app, dice, seed, rounds, tally, inst: () => inst, anyUrl };

    it(`mixed set, increment, delete (forced or not, some conditional or atomic): ${rounds} rounds, each explained by a serial order`, async () => {
      for (let round = 0; round < rounds; round++) {
        const members = dice.shuffle(POOL).slice(0, dice.int(3, 4));
        const room = await createRoom(anyUrl(), app, at(members, 0), members.slice(1));
        const keys = ['k0', 'k1', 'k2'].slice(0, dice.int(2, 3));
        const seeded = seedAttrs(dice, { members, keys });
        await prefill(anyUrl(), app, room, seeded);
        const initial = await readRoom(anyUrl(), app, room);
        assertPrefilled(initial, seeded);

        const calls = Array.from({ length: dice.int(8, 12) }, (_, i) => {
          const { req, asApp } = mixedCall(dice, { round, members, keys, initial }, i);
          return { req, token: tokenFor(app, req.user, asApp) };
        });
        const observed = await fire(inst, app, room, dice, calls);
        const final = await readRoom(anyUrl(), app, room);
        assertExplained(initial, observed, final, `round ${round} (seed ${seed})`);
        tally.rounds += 1;
        tally.calls += observed.length;
      }
    });

    it(`12 members setting the same new key at once: exactly one owner, ${rounds} rounds`, async () => {
      for (let round = 0; round < rounds; round++) {
        const room = await createRoom(anyUrl(), app, at(POOL, 0), POOL.slice(1));
        const initial = await readRoom(anyUrl(), app, room);
        const calls = POOL.map((user) => ({
          req: { op: 'set', forced: false, user, autoDelete: dice.autoDelete(), pairs: [['seat', `r${round}.${user}`]] } as AttrRequest,
          token: userToken(app, user),
        }));
        const observed = await fire(inst, app, room, dice, calls);
        const winners = observed.filter((c) => c.outcome!.successKeys.length > 0);
        assert.equal(winners.length, 1, `round ${round} (seed ${seed}): ${winners.length} winners`);
        for (const c of observed) {
          if (c !== winners[0]) assert.deepEqual(c.outcome, { successKeys: [], errorKeys: { seat: notYours('seat') } });
        }
        const w = at(winners, 0).request as Extract<AttrRequest, { op: 'set' }>;
        const final = await readRoom(anyUrl(), app, room);
        assert.deepEqual(plainAttrs(final), new Map([['seat', { value: `r${round}.${w.user}`, owner: w.user, autoDelete: w.autoDelete }]]));
        assertExplained(initial, observed, final, `round ${round} (seed ${seed})`);
        tally.rounds += 1;
        tally.calls += observed.length;
      }
    });

    it(`12 members adding new keys to a nearly full room at once: never past ${ROOM_LIMIT}, ${rounds} rounds`, async () => {
      const ROOM_FULL = `size of metadata for this single chatroom exceeds the user defined limit ${ROOM_LIMIT}`;
      for (let round = 0; round < rounds; round++) {
        const room = await createRoom(anyUrl(), app, at(POOL, 0), POOL.slice(1));
        const held = ROOM_LIMIT - dice.int(2, 10);
        const seeded: Array<[string, Attr]> = Array.from({ length: held }, (_, j) => [
          `f${j}`,
          { value: `init.${j}`, owner: at(POOL, 0), autoDelete: 'NO_DELETE' },
        ]);
        await prefill(anyUrl(), app, room, seeded);
        const initial = await readRoom(anyUrl(), app, room);
        assert.equal(initial.attrs.size, held);
        let fresh = 0;
        const calls = POOL.map((user, i) => {
          const pairs: Array<[string, string]> = Array.from({ length: dice.int(1, 4) }, (_, j) => [`n${i}_${j}`, `r${round}.${user}.${j}`]);
          fresh += pairs.length;
          // Existing keys: the owner's overwrite never counts against the limit; anyone else's is refused.
          if (i === 0 || dice.chance(0.3))
            pairs.splice(dice.int(0, pairs.length), 0, [`f${dice.int(0, held - 1)}`, `r${round}.${user}.old`]);
          return {
            req: { op: 'set', forced: false, user, autoDelete: dice.autoDelete(), pairs } as AttrRequest,
            token: tokenFor(app, user, dice.chance(0.2)),
          };
        });
        const observed = await fire(inst, app, room, dice, calls);
        const final = await readRoom(anyUrl(), app, room);
        assert.equal(final.attrs.size, Math.min(ROOM_LIMIT, held + fresh), `round ${round} (seed ${seed}): ${held} held + ${fresh} new`);
        for (const c of observed) {
          for (const [k, reason] of Object.entries(c.outcome!.errorKeys)) {
            assert.equal(reason, k.startsWith('f') ? notYours(k) : ROOM_FULL);
          }
        }
        assertExplained(initial, observed, final, `round ${round} (seed ${seed})`);
        tally.rounds += 1;
        tally.calls += observed.length;
      }
    });

    counterRaces(ctx);
    conditionRaces(ctx);
  });
}
