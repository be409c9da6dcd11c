import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planDelete, planSet, type Conditions, type Range, type StoredAttr } from '../../src/domain/attributes.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';

/**
 * A plan states what its outcome depends on (domain/attributes.ts Preconditions): a store that
 * did not plan under its own write lock applies it only while these hold. Exact: the plan made
 * from any other room count (or app usage) is the same plan exactly when that count is in range.
 */

const inRange = (n: number, r: Range | null) => r === null || ((r.min === null || n >= r.min) && (r.max === null || n <= r.max));

const stored = fc.dictionary(
  fc.constantFrom('a', 'b', 'c', 'd'),
  fc.record({ owner: fc.constantFrom('alice', 'bob'), bytes: fc.integer({ min: 1, max: 6 }), revision: fc.integer({ min: 1, max: 3 }) }),
);
const pairs = fc.uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'bad key'), fc.string({ maxLength: 5 })), {
  selector: ([k]) => k,
  maxLength: 6,
});

const conditions = fc.record({
  ifRevision: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.integer({ min: 0, max: 3 })),
  atomic: fc.boolean(),
});

function plan(
  p: Array<[string, string]>,
  s: Record<string, StoredAttr>,
  count: number,
  bytes: number,
  limits: Limits,
  forced: boolean,
  cond: Conditions = {},
) {
  return planSet({
    ...cond,
    user: 'alice',
    forced,
    pairs: p,
    lookup: (k) => (Object.hasOwn(s, k) ? s[k] : undefined),
    roomCount: count,
    appBytes: bytes,
    limits,
  });
}

describe('plan preconditions', () => {
  it('the room-count range holds exactly for the counts that give the same plan', () => {
    fc.assert(
      fc.property(
        pairs,
        stored,
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        conditions,
        (p, s, count, max, forced, cond) => {
          const limits = { ...DEFAULT_LIMITS, maxAttributesPerRoom: max };
          const base = plan(p, s, count, 0, limits, forced, cond);
          for (let other = 0; other <= 12; other++) {
            const same = JSON.stringify(plan(p, s, other, 0, limits, forced, cond).outcome) === JSON.stringify(base.outcome);
            assert.equal(inRange(other, base.preconditions.roomCount), same, `count ${count} -> ${other}`);
          }
        },
      ),
    );
  });

  it('the app-bytes range holds exactly for the usages that give the same plan', () => {
    fc.assert(
      fc.property(
        pairs,
        stored,
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        conditions,
        (p, s, bytes, quota, forced, cond) => {
          const limits = { ...DEFAULT_LIMITS, maxAppBytes: quota };
          const base = plan(p, s, 0, bytes, limits, forced, cond);
          for (let other = 0; other <= 60; other++) {
            const same = JSON.stringify(plan(p, s, 0, other, limits, forced, cond).outcome) === JSON.stringify(base.outcome);
            assert.equal(inRange(other, base.preconditions.appBytes), same, `usage ${bytes} -> ${other}`);
          }
        },
      ),
    );
  });

  it('names every key whose stored state the plan read, and only those', () => {
    const r = plan(
      [
        ['bad key', 'x'],
        ['a', '1'],
        ['b', '2'],
      ],
      { a: { owner: 'bob', bytes: 2, revision: 1 } },
      1,
      0,
      DEFAULT_LIMITS,
      false,
    );
    assert.deepEqual(r.preconditions.keys, ['a', 'b']);
    assert.deepEqual(r.preconditions.roomCount, { min: null, max: DEFAULT_LIMITS.maxAttributesPerRoom - 1 });
    const d = planDelete({ user: 'alice', forced: false, keys: ['a', 'z'], lookup: () => undefined });
    assert.deepEqual(d.preconditions, { keys: ['a', 'z'], roomCount: null, appBytes: null });
  });

  it('a plan that adds no key and grows nothing depends on neither count', () => {
    const r = plan([['a', '1']], { a: { owner: 'alice', bytes: 2, revision: 1 } }, 100, 10 ** 12, DEFAULT_LIMITS, false);
    assert.deepEqual(r.outcome.successKeys, ['a']);
    assert.equal(r.preconditions.roomCount, null);
    assert.equal(r.preconditions.appBytes, null);
  });
});
