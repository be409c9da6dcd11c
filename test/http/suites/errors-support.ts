import assert from 'node:assert/strict';
import type { Reply } from '../../support/client.js';

/** What the error suites (errors-*.ts, spec section 3) share: the envelope every refusal carries. */

export const RATE_LIMITED = 'This request has reached api limit';
export const NO_TOKEN = 'Unable to authenticate due to expired access token';

/** Every non-200 carries the full envelope of spec section 3, and every response an x-request-id. */
export function assertError(res: Reply, status: number, error: string, description: string | RegExp, what = ''): void {
  const label = `${what} -> ${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, label);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, label);
  const b = res.body;
  assert.equal(b.error, error, label);
  if (typeof description === 'string') assert.equal(b.error_description, description, label);
  else assert.match(b.error_description, description, label);
  assert.equal(typeof b.exception, 'string', label);
  assert.ok(b.exception.length > 0, label);
  assert.equal(typeof b.timestamp, 'number', label);
  assert.ok(Math.abs(b.timestamp - Date.now()) < 60_000, label);
  assert.equal(typeof b.duration, 'number', label);
  assert.ok(b.duration >= 0, label);
  assertRequestId(res, label);
}

export function assertRequestId(res: Reply, label = ''): void {
  const id = res.headers.get('x-request-id');
  assert.ok(id !== null && id.length > 0, `x-request-id missing ${label}`);
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
