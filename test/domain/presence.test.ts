import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EVENT_REASONS,
  isMembershipChange,
  isPresenceMessage,
  operationOf,
  presenceMessage,
  presenceTemplate,
} from '../../src/domain/events.js';
import { decideOfflineLeave, leaveAt, planOfflineLeave, presenceOn, type OfflineRead } from '../../src/domain/presence.js';

/** The presence rule of spec section 9, pure: when an offline member leaves, and what a store checks before it does. */
describe('presence rules', () => {
  const room = { owner: 'alice' };
  const GRACE = 1000;
  const offline = (since: number): OfflineRead => ({ member: true, offlineSince: since });

  it('is on for a positive grace only', () => {
    assert.equal(presenceOn(0), false);
    assert.equal(presenceOn(-1), false);
    assert.equal(presenceOn(1), true);
    assert.equal(leaveAt(5000, GRACE), 6000);
  });

  it('a member offline for the grace leaves, and the plan holds only while its offline-since is still the one read', () => {
    assert.deepEqual(decideOfflineLeave(room, 'bob', offline(5000), GRACE, 6000), { kind: 'leave', offlineSince: 5000 });
    assert.deepEqual(decideOfflineLeave(room, 'bob', offline(5000), GRACE, 9999), { kind: 'leave', offlineSince: 5000 });
  });

  it('one not offline that long yet waits until its time', () => {
    assert.deepEqual(decideOfflineLeave(room, 'bob', offline(5000), GRACE, 5999), { kind: 'wait', at: 6000 });
  });

  it('the owner never leaves, nor an online user, a non-member, or anyone when presence is off', () => {
    const none = { kind: 'none' };
    assert.deepEqual(decideOfflineLeave(room, 'alice', offline(0), GRACE, 1e12), none);
    assert.deepEqual(decideOfflineLeave(room, 'bob', { member: true, offlineSince: null }, GRACE, 1e12), none);
    assert.deepEqual(decideOfflineLeave(room, 'bob', { member: false, offlineSince: 0 }, GRACE, 1e12), none);
    assert.deepEqual(decideOfflineLeave(room, 'bob', offline(0), 0, 1e12), none);
  });

  it('plans a room: who leaves with its precondition, who is settled, and the earliest wait', () => {
    const reads = new Map<string, OfflineRead>([
      ['bob', offline(1000)],
      ['alice', offline(0)],
      ['carol', offline(4500)],
      ['dave', { member: true, offlineSince: null }],
      ['erin', { member: false, offlineSince: 100 }],
      ['fay', offline(4200)],
      ['gus', offline(1999)],
    ]);
    const plan = planOfflineLeave(room, reads, GRACE, 3000);
    assert.deepEqual(plan.leaving, ['bob', 'gus']);
    assert.deepEqual(plan.offlineSince, [
      ['bob', 1000],
      ['gus', 1999],
    ]);
    assert.deepEqual(plan.settled, ['alice', 'dave', 'erin']);
    assert.equal(plan.nextAt, 5200);
    assert.deepEqual(
      plan.read,
      [...reads].map(([u, r]) => [u, r.member]),
    );
  });

  it('a plan with nothing offline has nothing to wait for', () => {
    const plan = planOfflineLeave(room, new Map([['bob', { member: true, offlineSince: null }]]), GRACE, 3000);
    assert.deepEqual([plan.leaving, plan.nextAt, plan.settled], [[], null, ['bob']]);
  });
});

describe('presence messages and the member_offline reason', () => {
  it('member_offline is a removal reason webhooks may name', () => {
    assert.ok(EVENT_REASONS.includes('member_offline'));
    assert.equal(operationOf('member_offline'), 'removeChatRoomAttributes');
  });

  it('a presence message is the JSON of spec section 9, on the feed with seq -1: neither an event nor a membership message', () => {
    const t = presenceTemplate('200000000001', 1716887320215);
    const on = presenceMessage(t, 'bob', 'online');
    const off = presenceMessage(t, 'bob.b-2_x', 'offline');
    assert.deepEqual(JSON.parse(on.body), { chatroomId: '200000000001', user: 'bob', status: 'online', timestamp: 1716887320215 });
    assert.deepEqual(Object.keys(JSON.parse(off.body)), ['chatroomId', 'user', 'status', 'timestamp']);
    assert.equal(JSON.parse(off.body).user, 'bob.b-2_x');
    assert.equal(on.body, `${t.head}bob${t.online}`, 'a script splices the user between the template’s parts');
    assert.ok(isPresenceMessage(on));
    assert.ok(!isMembershipChange(on));
    assert.ok(!isPresenceMessage({ seq: 0, body: 'bob' }));
    assert.ok(!isPresenceMessage({ seq: 1, body: '{}' }));
  });
});
