import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pairBytes, pairProblem, planDelete, planSet, type SetInput, type StoredAttr } from '../../src/domain/attributes.js';
import { keyOutcomesBody, refusalText } from '../../src/http/key-reasons.js';
import { ApiError } from '../../src/domain/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { checkUsername, deleteKeys, getKeys, parseAutoDelete, setPairs } from '../../src/domain/requests.js';

/** The rules of spec sections 4 and 5, checked without a store. Reasons are the spec's literal text. */

const L: Limits = { ...DEFAULT_LIMITS };

function plain<T extends object>(o: T): T {
  // planSet builds errorKeys with a null prototype; strict deepEqual compares prototypes.
  return { ...o };
}

/** pairProblem's refusal as the API's text (null when the pair passes). */
function problemText(key: string, value: unknown, limits: Limits): string | null {
  const r = pairProblem(key, value, limits);
  return r === null ? null : refusalText(key, r);
}

function set(pairs: Array<[string, unknown]>, over: Partial<SetInput> = {}, stored: Record<string, StoredAttr> = {}) {
  const plan = planSet({
    user: 'alice',
    forced: false,
    pairs,
    lookup: (k) => (Object.hasOwn(stored, k) ? stored[k] : undefined),
    roomCount: Object.keys(stored).length,
    appBytes: 0,
    limits: L,
    ...over,
  });
  return { ...plan, outcome: { successKeys: plan.outcome.successKeys, errorKeys: plain(keyOutcomesBody(plan.outcome).errorKeys) } };
}

function del(keys: string[], user = 'alice', forced = false, stored: Record<string, StoredAttr> = {}) {
  const plan = planDelete({ user, forced, keys, lookup: (k) => (Object.hasOwn(stored, k) ? stored[k] : undefined) });
  return { ...plan, outcome: { successKeys: plan.outcome.successKeys, errorKeys: plain(keyOutcomesBody(plan.outcome).errorKeys) } };
}

function assertApiError(fn: () => unknown, status: number, error: string, description: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.error, error);
    if (typeof description === 'string') assert.equal(e.description, description);
    else assert.match(e.description, description);
    return true;
  });
}

const owned = (owner: string, bytes = 10): StoredAttr => ({ owner, bytes });

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

describe('request checks (requests.ts)', () => {
  it('setPairs: 10 pairs ok, 11 -> 400 exceed allowed batch size 10, empty -> 400', () => {
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, `v${i}`]));
    assert.deepEqual(setPairs(ten, L), Object.entries(ten));
    const eleven = { ...ten, k10: 'v' };
    assertApiError(() => setPairs(eleven, L), 400, 'illegal_argument', 'exceed allowed batch size 10');
    assertApiError(() => setPairs({}, L), 400, 'illegal_argument', /metaData/);
  });

  it('setPairs keeps non-string values for the per-key checks', () => {
    assert.deepEqual(setPairs({ a: 1, b: null }, L), [
      ['a', 1],
      ['b', null],
    ]);
  });

  it('setPairs and deleteKeys use the configured batch size', () => {
    const limits = { ...L, maxBatchSize: 3 };
    assert.equal(setPairs({ a: '1', b: '2', c: '3' }, limits).length, 3);
    assertApiError(() => setPairs({ a: '1', b: '2', c: '3', d: '4' }, limits), 400, 'illegal_argument', 'exceed allowed batch size 3');
    assertApiError(() => deleteKeys(['a', 'b', 'c', 'd'], limits), 400, 'illegal_argument', 'exceed allowed batch size 3');
  });

  it('deleteKeys: 10 unique ok, 11 -> 400, 11 with a duplicate -> ok after dedup, empty -> 400', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `k${i}`);
    assert.deepEqual(deleteKeys(ten, L), ten);
    assertApiError(() => deleteKeys([...ten, 'k10'], L), 400, 'illegal_argument', 'exceed allowed batch size 10');
    assert.deepEqual(deleteKeys([...ten, 'k3'], L), ten);
    assert.deepEqual(deleteKeys(['b', 'a', 'b', 'a'], L), ['b', 'a']);
    assertApiError(() => deleteKeys([], L), 400, 'illegal_argument', /keys/);
  });

  it('getKeys: undefined, null and [] mean every attribute; duplicates are dropped', () => {
    assert.equal(getKeys(undefined), undefined);
    assert.equal(getKeys(null), undefined);
    assert.equal(getKeys([]), undefined);
    assert.deepEqual(getKeys(['a', 'b', 'a']), ['a', 'b']);
  });

  it('parseAutoDelete: case-insensitive, default DELETE, anything else -> 400 naming autoDelete', () => {
    assert.equal(parseAutoDelete(undefined), 'DELETE');
    for (const raw of ['DELETE', 'delete', 'Delete', 'dElEtE']) assert.equal(parseAutoDelete(raw), 'DELETE', raw);
    for (const raw of ['NO_DELETE', 'no_delete', 'No_Delete']) assert.equal(parseAutoDelete(raw), 'NO_DELETE', raw);
    for (const raw of ['', 'NODELETE', 'NO-DELETE', ' DELETE', 'true', 'KEEP']) {
      assertApiError(() => parseAutoDelete(raw), 400, 'illegal_argument', /autoDelete/);
    }
  });

  it('checkUsername: lower-cases, 1 to 64 of a-z 0-9 _ - ., names the field otherwise', () => {
    assert.equal(checkUsername('Alice'), 'alice');
    assert.equal(checkUsername('a.b-c_9'), 'a.b-c_9');
    assert.equal(checkUsername('u'.repeat(64)), 'u'.repeat(64));
    for (const bad of ['', 'u'.repeat(65), 'a b', 'a@b', 'é', 'a/b']) {
      assertApiError(() => checkUsername(bad), 400, 'illegal_argument', /^username /);
    }
    assertApiError(() => checkUsername('a b', 'owner'), 400, 'illegal_argument', /^owner /);
    for (const bad of [7, null, undefined, ['a'], {}]) {
      assertApiError(() => checkUsername(bad, 'members[0]'), 400, 'illegal_argument', /^members\[0\] /);
    }
  });
});
