import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pairBytes, planSet } from '../../src/domain/attributes.js';
import { L, owned, problemText, set } from './rules-support.js';

/**
 * How a set is planned (spec sections 4 and 5), without a store: the order of the checks and of the
 * pairs, the room's key count and the app's bytes read only when needed, and what forced skips.
 */

describe('set: order of the checks and of the pairs', () => {
  it('the first matching row wins', () => {
    const long = `${'x'.repeat(129)}!`;
    assert.equal(problemText(long, 5, L), `properties key '${long}' is not Legal`, 'illegal and too long: not Legal');
    const k129 = 'k'.repeat(129);
    assert.equal(problemText(k129, 5, L), `properties key '${k129}' is exceeding maximum limit 128`, 'key length before value');
    assert.equal(problemText('', 'v'.repeat(5000), L), "properties key '' is not Legal");
    const r = set(
      [
        ['theirs', 'v'.repeat(4087)],
        ['theirs2', 1],
        ['fresh', 'v'.repeat(4087)],
      ],
      { user: 'bob', roomCount: 100, appBytes: 0, limits: { ...L, maxAppBytes: 0 } },
      { theirs: owned('alice'), theirs2: owned('alice') },
    );
    assert.deepEqual(r.outcome, {
      successKeys: [],
      errorKeys: {
        theirs: "properties value of 'theirs' is exceeding maximum limit 4086",
        theirs2: "properties value of 'theirs2' is not Legal",
        fresh: "properties value of 'fresh' is exceeding maximum limit 4086",
      },
    });
    // room full before the byte quota
    const full = set([['n', 'v']], { roomCount: 100, limits: { ...L, maxAppBytes: 0 } });
    assert.deepEqual(full.outcome.errorKeys, { n: 'size of metadata for this single chatroom exceeds the user defined limit 100' });
    // ownership before the byte quota
    const mine = set([['t', 'much longer value']], { user: 'bob', limits: { ...L, maxAppBytes: 0 } }, { t: owned('alice', 2) });
    assert.deepEqual(mine.outcome.errorKeys, { t: "key 't' is not part of you" });
  });

  it('one bad key never blocks the others: pairs after a failing one are processed in order', () => {
    const r = set(
      [
        ['ok1', 'a'],
        ['bad key', 'b'],
        ['ok2', 'c'],
        ['num', 3],
        ['theirs', 'd'],
        ['ok3', ''],
      ],
      {},
      { theirs: owned('bob') },
    );
    assert.deepEqual(r.outcome, {
      successKeys: ['ok1', 'ok2', 'ok3'],
      errorKeys: {
        'bad key': "properties key 'bad key' is not Legal",
        num: "properties value of 'num' is not Legal",
        theirs: "key 'theirs' is not part of you",
      },
    });
    assert.deepEqual(
      r.writes.map((w) => [w.key, w.value]),
      [
        ['ok1', 'a'],
        ['ok2', 'c'],
        ['ok3', ''],
      ],
    );
    assert.equal(r.newKeys, 3);
    assert.equal(r.bytesDelta, pairBytes('ok1', 'a') + pairBytes('ok2', 'c') + pairBytes('ok3', ''));
  });

  it('__proto__ is an ordinary key in errorKeys and successKeys', () => {
    const r = planSet({
      user: 'a',
      forced: false,
      pairs: [
        ['__proto__', 1],
        ['constructor', 'c'],
      ],
      lookup: () => undefined,
      roomCount: 0,
      appBytes: 0,
      limits: L,
    });
    assert.deepEqual(Object.keys(r.outcome.errorKeys), ['__proto__']);
    assert.deepEqual(r.outcome.errorKeys['__proto__'], { code: 'value_illegal' });
    assert.deepEqual(r.outcome.successKeys, ['constructor']);
  });
});

describe("set: the room's key count and the app's bytes read only when needed", () => {
  const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'bad key');
  const valueArb = fc.oneof(fc.string({ maxLength: 12 }), fc.constant(7));
  const storedArb = fc.dictionary(
    fc.constantFrom('a', 'b', 'c'),
    fc.record({ owner: fc.constantFrom('alice', 'bob'), bytes: fc.integer({ min: 1, max: 14 }) }),
  );

  it('plans exactly as with the numbers given, reading each at most once and only when a pair asks', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: (p) => p[0], maxLength: 5 }),
        storedArb,
        fc.boolean(),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 80 }),
        (pairs, stored, forced, maxKeys, appBytes, maxAppBytes) => {
          const limits = { ...L, maxAttributesPerRoom: maxKeys, maxAppBytes };
          const roomCount = Object.keys(stored).length;
          const eager = set(pairs, { forced, roomCount, appBytes, limits }, stored);
          const reads = { count: 0, bytes: 0 };
          const lazy = set(
            pairs,
            {
              forced,
              limits,
              roomCount: () => {
                reads.count++;
                return roomCount;
              },
              appBytes: () => {
                reads.bytes++;
                return appBytes;
              },
            },
            stored,
          );
          assert.deepEqual(lazy, eager);
          // which pairs get as far as each check: legal, and not someone else's key unless forced
          const reaching = pairs.filter(
            ([k, v]) => problemText(k, v, limits) === null && !(Object.hasOwn(stored, k) && stored[k]!.owner !== 'alice' && !forced),
          );
          const needsCount = reaching.some(([k]) => !Object.hasOwn(stored, k));
          assert.equal(reads.count, needsCount ? 1 : 0);
          assert.ok(reads.bytes <= 1);
          if (reaching.every(([k, v]) => pairBytes(k, v as string) <= (Object.hasOwn(stored, k) ? stored[k]!.bytes : 0))) {
            assert.equal(reads.bytes, 0, "no pair grows: the app's bytes are not read");
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('counts what earlier pairs of the call freed or took against the quota read later', () => {
    // 'a' shrinks by 5 bytes, then 'b' grows by 10: the quota is read at 'b', with a's 5 bytes freed
    const stored = { a: owned('alice', pairBytes('a', 'x'.repeat(9))), b: owned('alice', pairBytes('b', 'y')) };
    const pairs: Array<[string, unknown]> = [
      ['a', 'x'.repeat(4)],
      ['b', 'y'.repeat(11)],
    ];
    const at = (appBytes: number) => set(pairs, { appBytes: () => appBytes, limits: { ...L, maxAppBytes: 100 } }, stored).outcome;
    assert.deepEqual(at(95), { successKeys: ['a', 'b'], errorKeys: {} });
    assert.deepEqual(at(96), {
      successKeys: ['a'],
      errorKeys: { b: 'total size of chatroom metadata for this app exceeds the user defined limit' },
    });
  });
});

describe('forced set', () => {
  it('skips the ownership check only', () => {
    const stored = { theirs: owned('alice', pairBytes('theirs', 'x')) };
    const r = set([['theirs', 'bob']], { user: 'bob', forced: true }, stored);
    assert.deepEqual(r.outcome, { successKeys: ['theirs'], errorKeys: {} });
    assert.deepEqual(r.writes, [{ key: 'theirs', value: 'bob', bytes: 9, previous: { owner: 'alice', bytes: 7 } }]);
    assert.equal(r.bytesDelta, 2);

    const limits = { ...L, maxAppBytes: 20 };
    const still = set(
      [
        ['bad key', 'v'],
        ['theirs', 'v'.repeat(4087)],
        ['theirs2', 7],
        ['fresh', 'v'],
        ['theirs3', 'a much longer value'],
      ],
      { user: 'bob', forced: true, roomCount: 100, appBytes: 20, limits },
      { theirs: owned('alice'), theirs2: owned('alice'), theirs3: owned('alice', 8) },
    );
    assert.deepEqual(still.outcome, {
      successKeys: [],
      errorKeys: {
        'bad key': "properties key 'bad key' is not Legal",
        theirs: "properties value of 'theirs' is exceeding maximum limit 4086",
        theirs2: "properties value of 'theirs2' is not Legal",
        fresh: 'size of metadata for this single chatroom exceeds the user defined limit 100',
        theirs3: 'total size of chatroom metadata for this app exceeds the user defined limit',
      },
    });
  });
});
