import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairBytes, type StoredAttr } from '../../src/domain/attributes.js';
import type { Limits } from '../../src/domain/limits.js';
import { del, L, owned, problemText, set } from './rules-support.js';

/** The reason tables of spec section 5, for set and for delete, checked without a store. Reasons are the spec's literal text. */

describe('set reason table (spec section 5), default limits', () => {
  it('key empty or with a character outside the set is not Legal', () => {
    for (const key of ['', 'bad key', 'a/b', 'é', 'k!', 'a\nb', '😀', 'a:b']) {
      assert.equal(problemText(key, 'v', L), `properties key '${key}' is not Legal`, JSON.stringify(key));
    }
    for (const key of ['a', 'A-Z_0.9', '__proto__', '...', '-']) assert.equal(problemText(key, 'v', L), null, key);
    const r = set([['bad key', 'v']]);
    assert.deepEqual(r.outcome, { successKeys: [], errorKeys: { 'bad key': "properties key 'bad key' is not Legal" } });
    assert.deepEqual(r.writes, []);
  });

  it('key length: 128 ok, 129 exceeds maximum limit 128', () => {
    const k128 = 'k'.repeat(128);
    const k129 = 'k'.repeat(129);
    assert.equal(problemText(k128, 'v', L), null);
    assert.equal(problemText(k129, 'v', L), `properties key '${k129}' is exceeding maximum limit 128`);
    const r = set([
      [k128, 'v'],
      [k129, 'v'],
    ]);
    assert.deepEqual(r.outcome, {
      successKeys: [k128],
      errorKeys: { [k129]: `properties key '${k129}' is exceeding maximum limit 128` },
    });
  });

  it('non-string values (number, null, object, array, boolean, undefined) are not Legal', () => {
    for (const value of [7, 0, null, { a: 1 }, ['x'], true, false, undefined]) {
      assert.equal(problemText('k', value, L), "properties value of 'k' is not Legal", JSON.stringify(value) ?? 'undefined');
    }
    const r = set([
      ['n', 1],
      ['z', null],
      ['o', {}],
      ['b', true],
    ]);
    assert.deepEqual(r.outcome, {
      successKeys: [],
      errorKeys: {
        n: "properties value of 'n' is not Legal",
        z: "properties value of 'z' is not Legal",
        o: "properties value of 'o' is not Legal",
        b: "properties value of 'b' is not Legal",
      },
    });
  });

  it('the empty string is a valid value', () => {
    assert.equal(problemText('k', '', L), null);
    const r = set([['k', '']]);
    assert.deepEqual(r.outcome, { successKeys: ['k'], errorKeys: {} });
    assert.deepEqual(r.writes, [{ key: 'k', value: '', bytes: 1, previous: null }]);
  });

  it('value length: 4086 ok, 4087 exceeds maximum limit 4086', () => {
    assert.equal(problemText('k', 'v'.repeat(4086), L), null);
    assert.equal(problemText('k', 'v'.repeat(4087), L), "properties value of 'k' is exceeding maximum limit 4086");
  });

  it('value length counts UTF-16 code units, not code points or bytes', () => {
    const emoji4086 = '😀'.repeat(2043); // 2043 code points, 4086 code units, 8172 UTF-8 bytes
    assert.equal(emoji4086.length, 4086);
    assert.equal(problemText('k', emoji4086, L), null, 'not counted in bytes');
    const mixed4086 = 'é'.repeat(2) + '😀'.repeat(2041) + 'ab'; // 2 + 4082 + 2 units
    assert.equal(mixed4086.length, 4086);
    assert.equal(problemText('k', mixed4086, L), null);
    // 2044 code points but 4088 code units: a code-point count would wrongly accept it
    assert.equal(problemText('k', '😀'.repeat(2044), L), "properties value of 'k' is exceeding maximum limit 4086");
    assert.equal(problemText('k', `${emoji4086}a`, L), "properties value of 'k' is exceeding maximum limit 4086");
  });

  it('a key that exists and was set by another user is not part of you', () => {
    const r = set([['mic', 'bob']], { user: 'bob' }, { mic: owned('alice') });
    assert.deepEqual(r.outcome, { successKeys: [], errorKeys: { mic: "key 'mic' is not part of you" } });
    assert.deepEqual(r.writes, []);
  });

  it('setting a key to the value it already has, by its owner, succeeds', () => {
    const r = set([['mic', 'alice']], {}, { mic: owned('alice', pairBytes('mic', 'alice')) });
    assert.deepEqual(r.outcome, { successKeys: ['mic'], errorKeys: {} });
    assert.equal(r.newKeys, 0);
    assert.equal(r.bytesDelta, 0);
    assert.deepEqual(r.writes, [{ key: 'mic', value: 'alice', bytes: 8, previous: { owner: 'alice', bytes: 8 } }]);
  });

  it('100 attributes ok; the 101st new key is refused as room full', () => {
    const r99 = set([['k99', 'v']], { roomCount: 99 });
    assert.deepEqual(r99.outcome, { successKeys: ['k99'], errorKeys: {} });
    assert.equal(r99.newKeys, 1);
    const r100 = set([['k100', 'v']], { roomCount: 100 });
    assert.deepEqual(r100.outcome, {
      successKeys: [],
      errorKeys: { k100: 'size of metadata for this single chatroom exceeds the user defined limit 100' },
    });
    assert.equal(r100.newKeys, 0);
  });

  it('room limit counts the new keys of the same call; overwrites of existing keys still pass when full', () => {
    const stored: Record<string, StoredAttr> = { old: owned('alice') };
    const r = set(
      [
        ['n1', 'v'],
        ['old', 'w'],
        ['n2', 'v'],
        ['n3', 'v'],
      ],
      { roomCount: 98 },
      stored,
    );
    assert.deepEqual(r.outcome, {
      successKeys: ['n1', 'old', 'n2'],
      errorKeys: { n3: 'size of metadata for this single chatroom exceeds the user defined limit 100' },
    });
    assert.equal(r.newKeys, 2);
    const full = set([['old', 'x']], { roomCount: 100 }, stored);
    assert.deepEqual(full.outcome, { successKeys: ['old'], errorKeys: {} });
  });

  it('app byte quota: UTF-8 bytes of key + value, exactly at the limit ok, one byte over refused', () => {
    const limits = { ...L, maxAppBytes: 100 };
    assert.equal(pairBytes('k', '😀é'), 1 + 4 + 2);
    const at = set([['k', '😀é']], { appBytes: 93, limits });
    assert.deepEqual(at.outcome, { successKeys: ['k'], errorKeys: {} });
    assert.equal(at.bytesDelta, 7);
    const over = set([['k', '😀é']], { appBytes: 94, limits });
    assert.deepEqual(over.outcome, {
      successKeys: [],
      errorKeys: { k: 'total size of chatroom metadata for this app exceeds the user defined limit' },
    });
    assert.equal(over.bytesDelta, 0);
    assert.deepEqual(over.writes, []);
  });

  it('app byte quota: an overwrite counts only the difference, and shrinking always passes', () => {
    const limits = { ...L, maxAppBytes: 100 };
    const stored = { k: owned('alice', pairBytes('k', 'abcde')) }; // 6 bytes
    // full at 100: growing by 5 bytes is refused, though the new pair alone (11) would "fit" a naive check
    const grow = set([['k', 'abcdefghij']], { appBytes: 96, limits }, stored);
    assert.deepEqual(grow.outcome.errorKeys, { k: 'total size of chatroom metadata for this app exceeds the user defined limit' });
    const growOk = set([['k', 'abcdefghij']], { appBytes: 95, limits }, stored);
    assert.deepEqual(growOk.outcome, { successKeys: ['k'], errorKeys: {} });
    assert.equal(growOk.bytesDelta, 5);
    // the quota already exceeded (e.g. lowered by the operator): a shrinking overwrite still passes
    const shrink = set([['k', 'a']], { appBytes: 150, limits }, stored);
    assert.deepEqual(shrink.outcome, { successKeys: ['k'], errorKeys: {} });
    assert.equal(shrink.bytesDelta, -4);
  });

  it('app byte quota accumulates over the pairs of one call', () => {
    const limits = { ...L, maxAppBytes: 10 };
    const r = set(
      [
        ['a', '1234'],
        ['b', '1234'],
        ['c', ''],
      ],
      { limits },
    );
    // a: 5, b: 5 -> 10 exactly; c: 1 more is refused
    assert.deepEqual(r.outcome, {
      successKeys: ['a', 'b'],
      errorKeys: { c: 'total size of chatroom metadata for this app exceeds the user defined limit' },
    });
    assert.equal(r.bytesDelta, 10);
  });

  it('the figures in the reasons are the configured limits', () => {
    const limits: Limits = { ...L, maxKeyLength: 5, maxValueLength: 3, maxAttributesPerRoom: 2 };
    assert.equal(problemText('abcdef', 'v', limits), "properties key 'abcdef' is exceeding maximum limit 5");
    assert.equal(problemText('abcde', 'v', limits), null);
    assert.equal(problemText('k', 'abcd', limits), "properties value of 'k' is exceeding maximum limit 3");
    assert.equal(problemText('k', 'abc', limits), null);
    const r = set(
      [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
      ],
      { limits },
    );
    assert.deepEqual(r.outcome, {
      successKeys: ['a', 'b'],
      errorKeys: { c: 'size of metadata for this single chatroom exceeds the user defined limit 2' },
    });
  });
});

describe('delete reason table (spec section 5)', () => {
  const stored = { mine: owned('alice', 9), theirs: owned('bob', 11) };

  it("removes own keys; another user's key is not part of you; a missing key does not exist", () => {
    const r = del(['ghost', 'theirs', 'mine'], 'alice', false, stored);
    assert.deepEqual(r.outcome, {
      successKeys: ['mine'],
      errorKeys: { ghost: "key 'ghost' does not exist", theirs: "key 'theirs' is not part of you" },
    });
    assert.deepEqual(r.removals, [{ key: 'mine', bytes: 9, owner: 'alice' }]);
    assert.equal(r.bytesDelta, -9);
  });

  it('forced delete removes keys whoever set them; a missing key still does not exist', () => {
    const r = del(['theirs', 'mine', 'ghost'], 'admin', true, stored);
    assert.deepEqual(r.outcome, { successKeys: ['theirs', 'mine'], errorKeys: { ghost: "key 'ghost' does not exist" } });
    assert.deepEqual(r.removals, [
      { key: 'theirs', bytes: 11, owner: 'bob' },
      { key: 'mine', bytes: 9, owner: 'alice' },
    ]);
    assert.equal(r.bytesDelta, -20);
  });
});
