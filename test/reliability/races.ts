// Concurrent calls on one room, through one instance (SQLite) or two roomkv processes on one Redis
// or Redis Cluster, each call through a random instance. Every round is checked with the serial
// model: some order of the calls, respecting their real-time order, must explain every answer and
// the final state (values, owners and autoDelete flags).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { userToken, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import {
  adminOk,
  createRoom,
  createUsers,
  Dice,
  observe,
  raceApp,
  readRecords,
  startInstances,
  STORES,
  storeEnv,
  tokenFor,
  type Instances,
  type StoreKind,
} from './harness.js';
import { describeRound, explain, type Attr, type AttrRequest, type ObservedCall } from './model.js';

const POOL = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);
const ROOM_LIMIT = 100;
const notYours = (k: string) => `key '${k}' is not part of you`;

interface Tally {
  rounds: number;
  calls: number;
}

/** Writes `entries` serially through the app token (each key new, so plain sets); the room's starting state. */
async function prefill(url: string, app: TestApp, room: string, entries: Array<[string, Attr]>): Promise<void> {
  const groups = new Map<string, Array<[string, string]>>();
  for (const [key, a] of entries) {
    const g = `${a.owner}|${a.autoDelete}`;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push([key, a.value]);
  }
  for (const [g, pairs] of groups) {
    const [owner, autoDelete] = g.split('|');
    for (let i = 0; i < pairs.length; i += 10) {
      const batch = pairs.slice(i, i + 10);
      const data = await adminOk(url, app, 'PUT', `/metadata/chatroom/${room}/user/${owner}`, {
        metaData: Object.fromEntries(batch),
        autoDelete,
      });
      assert.deepEqual(
        data.successKeys,
        batch.map(([k]) => k),
        `prefill: ${JSON.stringify(data)}`,
      );
    }
  }
}

/** Fires every call at once, each through a random instance; returns what each answered. */
function fire(
  inst: Instances,
  app: TestApp,
  room: string,
  dice: Dice,
  calls: Array<{ req: AttrRequest; token: string }>,
): Promise<ObservedCall[]> {
  const routes = calls.map(() => dice.pick(inst.urls));
  return Promise.all(calls.map((c, i) => observe(routes[i]!, app, room, c.req, c.token)));
}

function assertExplained(initial: Map<string, Attr>, observed: ObservedCall[], final: Map<string, Attr>, what: string): void {
  const result = explain(initial, observed, final);
  assert.ok(result.ok, `${what}: ${result.ok ? '' : result.reason}\n${describeRound(initial, observed, final)}`);
}

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

    it(`mixed set, forced set, delete and forced delete: ${rounds} rounds, each explained by a serial order`, async () => {
      for (let round = 0; round < rounds; round++) {
        const members = dice.shuffle(POOL).slice(0, dice.int(3, 4));
        const room = await createRoom(anyUrl(), app, at(members, 0), members.slice(1));
        const keys = ['k0', 'k1', 'k2'].slice(0, dice.int(2, 3));
        const seeded: Array<[string, Attr]> = keys
          .filter(() => dice.chance(0.6))
          .map((k) => [k, { value: `init.${k}`, owner: dice.pick(members), autoDelete: dice.autoDelete() }]);
        await prefill(anyUrl(), app, room, seeded);
        const initial = await readRecords(anyUrl(), app, room);
        assert.deepEqual(initial, new Map(seeded));

        const calls = Array.from({ length: dice.int(8, 12) }, (_, i) => {
          const roll = dice.float();
          const subset = dice.shuffle(keys).slice(0, dice.int(1, keys.length));
          let user = dice.pick(members);
          let asApp = dice.chance(0.2);
          let req: AttrRequest;
          if (roll < 0.55) {
            req = { op: 'set', forced: roll >= 0.3, user, autoDelete: dice.autoDelete(), pairs: subset.map((k) => [k, `r${round}.c${i}`]) };
          } else {
            const forced = roll >= 0.8;
            // The official server SDK force-deletes as the pseudo-user `admin`, with an app token.
            if (forced && dice.chance(0.35)) {
              user = 'admin';
              asApp = true;
            }
            req = { op: 'delete', forced, user, keys: subset };
          }
          return { req, token: tokenFor(app, user, asApp) };
        });
        const observed = await fire(inst, app, room, dice, calls);
        const final = await readRecords(anyUrl(), app, room);
        assertExplained(initial, observed, final, `round ${round} (seed ${seed})`);
        tally.rounds += 1;
        tally.calls += observed.length;
      }
    });

    it(`12 members setting the same new key at once: exactly one owner, ${rounds} rounds`, async () => {
      for (let round = 0; round < rounds; round++) {
        const room = await createRoom(anyUrl(), app, at(POOL, 0), POOL.slice(1));
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
        const final = await readRecords(anyUrl(), app, room);
        assert.deepEqual(final, new Map([['seat', { value: `r${round}.${w.user}`, owner: w.user, autoDelete: w.autoDelete }]]));
        assertExplained(new Map(), observed, final, `round ${round} (seed ${seed})`);
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
        const initial = await readRecords(anyUrl(), app, room);
        assert.equal(initial.size, held);
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
        const final = await readRecords(anyUrl(), app, room);
        assert.equal(final.size, Math.min(ROOM_LIMIT, held + fresh), `round ${round} (seed ${seed}): ${held} held + ${fresh} new`);
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
  });
}

/** The checker itself must be able to say no. */
export function modelSelfTest(): void {
  describe('the serial model rejects what no serial order explains', () => {
    const set = (user: string, value: string, forced = false): AttrRequest => ({
      op: 'set',
      forced,
      user,
      autoDelete: 'DELETE',
      pairs: [['k', value]],
    });
    const at = (
      req: AttrRequest,
      startedAt: number,
      endedAt: number,
      successKeys: string[],
      errorKeys: Record<string, string> = {},
    ): ObservedCall => ({ request: req, startedAt, endedAt, outcome: { successKeys, errorKeys } });
    const owned = (value: string, owner: string): Map<string, Attr> => new Map([['k', { value, owner, autoDelete: 'DELETE' }]]);

    it('two users both told they won the same new key', () => {
      const calls = [at(set('a', '1'), 0, 10, ['k']), at(set('b', '2'), 0, 10, ['k'])];
      assert.equal(explain(new Map(), calls, owned('2', 'b')).ok, false);
    });

    it('an acknowledged write missing from the final state', () => {
      assert.equal(explain(new Map(), [at(set('a', '1'), 0, 10, ['k'])], new Map()).ok, false);
    });

    it('an order that contradicts real time: a call that ended first cannot be applied last', () => {
      const calls = [at(set('a', '1', true), 0, 5, ['k']), at(set('b', '2', true), 6, 10, ['k'])];
      assert.equal(explain(new Map(), calls, owned('1', 'a')).ok, false);
      assert.equal(explain(new Map(), calls, owned('2', 'b')).ok, true);
      // overlapping in time, either order is fine
      const overlapping = [at(set('a', '1', true), 0, 8, ['k']), at(set('b', '2', true), 6, 10, ['k'])];
      assert.equal(explain(new Map(), overlapping, owned('1', 'a')).ok, true);
    });

    it('a call with no answer may or may not be applied, but not half', () => {
      const lost: ObservedCall = {
        request: {
          op: 'set',
          forced: false,
          user: 'a',
          autoDelete: 'NO_DELETE',
          pairs: [
            ['x', '1'],
            ['y', '1'],
          ],
        },
        startedAt: 0,
        endedAt: Infinity,
        outcome: null,
      };
      const both = new Map<string, Attr>([
        ['x', { value: '1', owner: 'a', autoDelete: 'NO_DELETE' }],
        ['y', { value: '1', owner: 'a', autoDelete: 'NO_DELETE' }],
      ]);
      assert.equal(explain(new Map(), [lost], new Map()).ok, true);
      assert.equal(explain(new Map(), [lost], both).ok, true);
      assert.equal(explain(new Map(), [lost], new Map([['x', both.get('x')!]])).ok, false);
    });

    it('a forced delete by admin followed by a set explains an empty room only if the set was refused', () => {
      const del: AttrRequest = { op: 'delete', forced: true, user: 'admin', keys: ['k'] };
      const initial = owned('0', 'a');
      const calls = [at(del, 0, 10, ['k']), at(set('b', '1'), 0, 10, [], { k: notYours('k') })];
      assert.equal(explain(initial, calls, new Map()).ok, true);
      assert.equal(explain(initial, [at(del, 0, 10, ['k']), at(set('b', '1'), 0, 10, ['k'])], new Map()).ok, false);
    });
  });
}
