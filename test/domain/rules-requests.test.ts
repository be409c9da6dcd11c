import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import { checkUsername, deleteKeys, getKeys, parseAutoDelete, setPairs } from '../../src/domain/requests.js';
import { L } from './rules-support.js';

/** The checks of a request's body and parameters (requests.ts) before any rule runs. */

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
