import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planDelete, planSet, type Conditions, type StoredAttr } from '../../src/domain/attributes.js';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { keyOutcomesBody } from '../../src/http/key-reasons.js';

/** Spec section 10: ifRevision and atomic on set and delete, checked after section 5's reasons. */

const stored: Record<string, StoredAttr> = {
  mine: { owner: 'alice', bytes: 6, revision: 7 },
  theirs: { owner: 'bob', bytes: 8, revision: 9 },
};
const lookup = (k: string) => (Object.hasOwn(stored, k) ? stored[k] : undefined);

function set(pairs: Record<string, string>, conditions: Conditions, forced = false) {
  const plan = planSet({
    user: 'alice',
    forced,
    pairs: Object.entries(pairs),
    lookup,
    roomCount: 2,
    appBytes: 0,
    limits: DEFAULT_LIMITS,
    ...conditions,
  });
  return { plan, body: { ...keyOutcomesBody(plan.outcome), errorKeys: { ...keyOutcomesBody(plan.outcome).errorKeys } } };
}

function del(keys: string[], conditions: Conditions, forced = false) {
  const plan = planDelete({ user: 'alice', forced, keys, lookup, ...conditions });
  return { plan, body: { ...keyOutcomesBody(plan.outcome), errorKeys: { ...keyOutcomesBody(plan.outcome).errorKeys } } };
}

describe('ifRevision', () => {
  it('0 means the key must not exist', () => {
    assert.deepEqual(set({ fresh: 'x', mine: 'y' }, { ifRevision: { fresh: 0, mine: 0 } }).body, {
      successKeys: ['fresh'],
      errorKeys: { mine: "key 'mine' revision is 7, not 0" },
    });
  });

  it('N means the key must be at revision N (0 when absent)', () => {
    assert.deepEqual(set({ mine: 'y', fresh: 'x' }, { ifRevision: { mine: 7, fresh: 3 } }).body, {
      successKeys: ['mine'],
      errorKeys: { fresh: "key 'fresh' revision is 0, not 3" },
    });
    assert.deepEqual(set({ mine: 'y' }, { ifRevision: { mine: 6 } }).body.errorKeys, { mine: "key 'mine' revision is 7, not 6" });
  });

  it("section 5's reasons come first: another member's key is not part of you whatever its revision", () => {
    assert.deepEqual(set({ theirs: 'y' }, { ifRevision: { theirs: 9 } }).body.errorKeys, { theirs: "key 'theirs' is not part of you" });
    assert.deepEqual(set({ theirs: 'y' }, { ifRevision: { theirs: 8 } }, true).body.errorKeys, {
      theirs: "key 'theirs' revision is 9, not 8",
    });
    assert.deepEqual(set({ theirs: 'y' }, { ifRevision: { theirs: 9 } }, true).body.successKeys, ['theirs']);
  });

  it('on delete: a missing key does not exist, then ownership, then the revision', () => {
    assert.deepEqual(del(['ghost', 'mine'], { ifRevision: { ghost: 0, mine: 1 } }).body, {
      successKeys: [],
      errorKeys: { ghost: "key 'ghost' does not exist", mine: "key 'mine' revision is 7, not 1" },
    });
    assert.deepEqual(del(['mine'], { ifRevision: { mine: 7 } }).body.successKeys, ['mine']);
  });

  it('reads only the keys the condition names as its own (a key named constructor)', () => {
    assert.deepEqual(set({ constructor: 'x' }, { ifRevision: {} }).body.successKeys, ['constructor']);
  });
});

describe('atomic', () => {
  it('one key failing writes none: the others are refused as not written', () => {
    const { plan, body } = set({ a: '1', theirs: '2', b: '3' }, { atomic: true });
    assert.deepEqual(body, {
      successKeys: [],
      errorKeys: {
        theirs: "key 'theirs' is not part of you",
        a: "key 'a' not written: the call is atomic and another key failed",
        b: "key 'b' not written: the call is atomic and another key failed",
      },
    });
    assert.deepEqual([plan.writes, plan.newKeys, plan.bytesDelta], [[], 0, 0]);
  });

  it('a seat move: free one key and take another only if both conditions hold', () => {
    const taken = set({ seat2: '', seat5: 'alice' }, { atomic: true, ifRevision: { seat2: 0, seat5: 0 } });
    assert.deepEqual(taken.body.successKeys, ['seat2', 'seat5']);
    assert.equal(taken.plan.writes.length, 2);
  });

  it('every key passing: all are written; a delete is all or nothing too', () => {
    assert.deepEqual(set({ a: '1', b: '2' }, { atomic: true }).body.successKeys, ['a', 'b']);
    const d = del(['mine', 'theirs'], { atomic: true });
    assert.deepEqual(d.body.successKeys, []);
    assert.deepEqual(d.plan.removals, []);
    assert.equal(d.body.errorKeys.mine, "key 'mine' not written: the call is atomic and another key failed");
  });
});
