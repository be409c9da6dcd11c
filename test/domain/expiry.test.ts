import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import { eventTemplate, operationOf, renderEvent, EVENT_REASONS } from '../../src/domain/events.js';
import { callTtl, expiresAtOf, MAX_TTL_S } from '../../src/domain/requests.js';

/** Spec section 10: a set's ttl as the store takes it, a key's expiry, and the previous values of an event. */

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError);
    assert.deepEqual([e.status, e.error], [400, 'illegal_argument']);
    return e.description;
  }
  assert.fail('not refused');
}

describe('ttl', () => {
  it('takes whole seconds from 1 to 30 days, for keys of the call only', () => {
    assert.equal(callTtl(undefined, ['a']), undefined);
    assert.deepEqual({ ...callTtl({ a: 1, b: MAX_TTL_S }, ['a', 'b']) }, { a: 1, b: 2_592_000 });
    assert.deepEqual({ ...callTtl({}, ['a']) }, {});
  });

  it('refuses a bad shape naming ttl', () => {
    for (const bad of [0, -1, MAX_TTL_S + 1, 1.5, '3', null, true, Number.NaN]) {
      assert.match(
        refused(() => callTtl({ a: bad }, ['a'])),
        /^ttl of 'a' must be a whole number of seconds from 1 to 2592000$/,
        String(bad),
      );
    }
    assert.equal(
      refused(() => callTtl({ zz: 5 }, ['a'])),
      "ttl names key 'zz', which is not in this call",
    );
    // a key named like a property of every object is a key like any other
    assert.match(
      refused(() => callTtl({ constructor: 5 }, ['a'])),
      /ttl names key 'constructor'/,
    );
  });

  it('a key expires ttl seconds after the call; a key without one does not', () => {
    assert.equal(expiresAtOf({ a: 2 }, 'a', 1000), 3000);
    assert.equal(expiresAtOf({ a: 2 }, 'b', 1000), null);
    assert.equal(expiresAtOf(undefined, 'a', 1000), null);
    assert.equal(expiresAtOf({ a: 2 }, 'toString', 1000), null);
  });
});

describe('events', () => {
  it('expired is a removal, and a reason webhooks may name', () => {
    assert.ok(EVENT_REASONS.includes('expired'));
    assert.equal(operationOf('expired'), 'removeChatRoomAttributes');
  });

  it('carry previous after attributes: each key as it was, null when new', () => {
    const t = eventTemplate({ roomId: '7', appKey: 'o#a', timestamp: 5, reason: 'set', from: 'bob' });
    const body = renderEvent(t, 3, { k: 'v', n: 'x' }, { k: { value: 'old "one"', owner: 'alice' }, n: null });
    assert.deepEqual(JSON.parse(body), {
      id: '7:3',
      seq: 3,
      chatroomId: '7',
      app: 'o#a',
      timestamp: 5,
      operation: 'updateChatRoomAttributes',
      from: 'bob',
      reason: 'set',
      attributes: { k: 'v', n: 'x' },
      previous: { k: { value: 'old "one"', owner: 'alice' }, n: null },
    });
  });
});
