// The replica of roomkv/client against an in-memory server (fake-roomkv.ts): snapshots, events in
// seq order exactly once, gap repair, resume after a drop, a new epoch, a log that no longer reaches
// back, the server ending a room, and the official SDK's onChatroomEvent shapes.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { waitFor } from '../support/wait.js';
import { changes, closeAll, oneTo, setup, untilSeq } from './helpers.js';

afterEach(closeAll);

describe('roomkv/client replica', () => {
  it('is built from the snapshot (values only), then keeps owner and revision of what events write', async () => {
    const { server, client } = setup();
    server.write('r1', 'bob', { seat1: 'bob', topic: 'music' });
    const room = client.room('r1');
    const updates: number[] = [];
    room.on('update', () => updates.push(room.seq));
    const snapshots: unknown[] = [];
    room.on('snapshot', (s) => snapshots.push(s));
    await room.ready();
    assert.equal(server.last.url, 'ws://kv.test/org/app/ws');
    assert.deepEqual(server.last.sent[0], { op: 'auth', token: 'user:alice', id: 1 });
    assert.deepEqual(server.last.sent[1], { op: 'subscribe', room: 'r1', id: 2 });
    assert.deepEqual(snapshots, [{ chatroomId: 'r1', seq: 1, epoch: 'e1', first: true }]);
    assert.deepEqual(Object.fromEntries(room.attributes), { seat1: { value: 'bob' }, topic: { value: 'music' } });
    assert.equal(room.epoch, 'e1');

    const seqs = changes(room);
    server.write('r1', 'carol', { seat2: 'carol' });
    server.write('r1', 'bob', ['topic']);
    await untilSeq(room, 3);
    assert.deepEqual(seqs, [2, 3]);
    assert.deepEqual(Object.fromEntries(room.attributes), {
      seat1: { value: 'bob' },
      seat2: { value: 'carol', owner: 'carol', revision: 2 },
    });
    assert.deepEqual(room.values(), { seat1: 'bob', seat2: 'carol' });
    assert.equal(room.value('seat2'), 'carol');
    assert.deepEqual(updates, [1, 2, 3]);
  });

  it('skips an event it already has, and repairs a gap by resubscribing from its last seq', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    const seqs = changes(room);
    server.write('r1', 'bob', { a: '1' });
    await untilSeq(room, 1);
    server.last.push(server.eventMessage(server.room('r1').log[0]!)); // a duplicate
    server.lose.add(2);
    server.write('r1', 'bob', { a: '2' }); // lost on the way
    server.write('r1', 'bob', { a: '3' }); // seen: seq 3 after 1 is a gap
    await untilSeq(room, 3);
    assert.deepEqual(seqs, [1, 2, 3]);
    assert.equal(room.value('a'), '3');
    const subs = server.last.sent.filter((m) => m.op === 'subscribe' || m.op === 'unsubscribe').map(({ op, since }) => ({ op, since }));
    assert.deepEqual(subs, [
      { op: 'subscribe', since: undefined },
      { op: 'unsubscribe', since: undefined },
      { op: 'subscribe', since: '1-e1' },
    ]);
  });

  it('resumes after a dropped socket from its seq and epoch: no event lost or doubled', async () => {
    const { server, client, statuses } = setup();
    const room = client.room('r1');
    await room.ready();
    const roomStatuses: string[] = [];
    room.on('status', (s) => roomStatuses.push(s));
    const seqs = changes(room);
    server.write('r1', 'bob', { a: '1' });
    await untilSeq(room, 1);
    const first = server.last;
    first.drop(1006);
    server.write('r1', 'bob', { a: '2' });
    server.write('r1', 'carol', { b: '1' });
    await untilSeq(room, 3);
    assert.notEqual(server.last, first);
    assert.deepEqual(server.last.sent.find((m) => m.op === 'subscribe')?.since, '1-e1');
    assert.deepEqual(seqs, oneTo(3));
    assert.deepEqual(statuses, ['connecting', 'open', 'reconnecting', 'open']);
    assert.deepEqual(roomStatuses, ['subscribing', 'live']);
  });

  it('takes a snapshot when the store has another epoch, and tells onChatroomEvent handlers the difference', async () => {
    const { server, client, sdk } = setup();
    server.write('r1', 'bob', { seat1: 'bob', seat2: 'carol' });
    const room = client.room('r1');
    await room.ready();
    const snapshots: unknown[] = [];
    room.on('snapshot', (s) => snapshots.push(s));
    server.last.drop(1006);
    server.newEpoch('e2');
    const r = server.room('r1');
    r.attrs = new Map([
      ['seat2', { value: 'dave', owner: 'dave' }],
      ['seat3', { value: 'erin', owner: 'erin' }],
    ]);
    r.seq = 0; // a restored store counts again from its own history
    await waitFor('the reset', () => snapshots.length === 1);
    assert.deepEqual(snapshots, [{ chatroomId: 'r1', seq: 0, epoch: 'e2', first: false }]);
    assert.deepEqual(room.values(), { seat2: 'dave', seat3: 'erin' });
    assert.deepEqual(sdk, [
      { operation: 'removeChatRoomAttributes', id: 'r1', from: '', attributes: ['seat1'] },
      { operation: 'updateChatRoomAttributes', id: 'r1', from: '', attributes: { seat2: 'dave', seat3: 'erin' } },
    ]);
    server.write('r1', 'erin', { seat4: 'erin' });
    await untilSeq(room, 1);
    assert.equal(room.epoch, 'e2');
  });

  it('takes a snapshot when the log no longer reaches back to its seq', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    server.last.drop(1006);
    for (let i = 0; i < 5; i++) server.write('r1', 'bob', { [`k${i}`]: String(i) });
    server.trim('r1');
    const snapshots: unknown[] = [];
    room.on('snapshot', (s) => snapshots.push(s));
    await untilSeq(room, 5);
    assert.deepEqual(snapshots, [{ chatroomId: 'r1', seq: 5, epoch: 'e1', first: false }]);
    assert.equal(room.attributes.size, 5);
  });

  it('reads the detail of spec section 10 when a snapshot carries it', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    server.last.push({
      type: 'snapshot',
      chatroomId: 'r1',
      seq: 7,
      epoch: 'e1',
      attributes: { seat: { value: 'bob', owner: 'bob', revision: 7, autoDelete: 'DELETE', expiresAt: null }, plain: 'x' },
    });
    await untilSeq(room, 7);
    assert.deepEqual(room.attributes.get('seat'), { value: 'bob', owner: 'bob', revision: 7, autoDelete: 'DELETE', expiresAt: null });
    assert.deepEqual(room.attributes.get('plain'), { value: 'x' });
  });

  it('delivers onChatroomEvent as the official web SDK does: updates, removals, a destroyed room', async () => {
    const { server, client, sdk } = setup();
    const other: unknown[] = [];
    client.addEventHandler('ported', { onChatroomEvent: (e) => other.push(e) });
    const room = client.room('r1');
    await room.ready();
    const ended: string[] = [];
    room.on('end', (r) => ended.push(r));
    server.write('r1', 'bob', { seat1: 'bob' });
    server.write('r1', 'bob', ['seat1'], 'member_left');
    await untilSeq(room, 2);
    client.removeEventHandler('ported');
    server.write('r1', 'admin', { seat9: 'x' }, 'forced_set');
    server.write('r1', 'admin', ['seat9'], 'room_destroyed');
    await waitFor('the end', () => ended.length === 1);
    assert.deepEqual(sdk, [
      { operation: 'updateChatRoomAttributes', id: 'r1', from: 'bob', attributes: { seat1: 'bob' } },
      { operation: 'removeChatRoomAttributes', id: 'r1', from: 'bob', attributes: ['seat1'] },
      { operation: 'updateChatRoomAttributes', id: 'r1', from: 'admin', attributes: { seat9: 'x' } },
      { operation: 'destroy', id: 'r1', from: 'admin' },
    ]);
    assert.deepEqual(other, sdk.slice(0, 2));
    assert.deepEqual(ended, ['room_destroyed']);
    assert.equal(room.status, 'ended');
    assert.equal(room.attributes.size, 0);
    assert.notEqual(client.room('r1'), room, 'an ended room is replaced by a new replica');
  });

  it('ends a room the server ends for good; resumes one it interrupted', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    const gone = client.room('r2');
    await Promise.all([room.ready(), gone.ready()]);
    server.write('r1', 'bob', { a: '1' });
    await untilSeq(room, 1);
    server.last.subs.delete('r1');
    server.last.push({ type: 'end', chatroomId: 'r1', reason: 'interrupted' });
    server.write('r1', 'bob', { a: '2' });
    await untilSeq(room, 2);
    assert.equal(server.last.sent.filter((m) => m.op === 'subscribe' && m.room === 'r1').at(-1)?.since, '1-e1');
    server.last.push({ type: 'end', chatroomId: 'r2', reason: 'membership_ended' });
    await waitFor('r2 ended', () => gone.status === 'ended');
    assert.equal(gone.endReason, 'membership_ended');
    assert.equal(room.status, 'live');
  });

  it('ends a room whose subscribe is refused, and ready() says why', async () => {
    const { client } = setup();
    const room = client.room('missing');
    await assert.rejects(room.ready(), /missing: not_found/);
    assert.equal(room.endReason, 'not_found');
  });

  it('passes presence messages on, without touching the replica or its seq', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    const seen: unknown[] = [];
    room.on('presence', (p) => seen.push(p));
    server.last.push({ type: 'presence', chatroomId: 'r1', user: 'bob', status: 'online', timestamp: 5 });
    server.last.push({ type: 'presence', chatroomId: 'r2', user: 'eve', status: 'online', timestamp: 6 });
    server.last.push({ type: 'presence', chatroomId: 'r1', user: 'bob', status: 'offline', timestamp: 7 });
    await waitFor('two presence changes', () => seen.length === 2);
    assert.deepEqual(seen, [
      { chatroomId: 'r1', user: 'bob', status: 'online', timestamp: 5 },
      { chatroomId: 'r1', user: 'bob', status: 'offline', timestamp: 7 },
    ]);
    assert.equal(room.seq, 0);
  });

  it('a listener that throws is reported and stops nothing', async () => {
    const { server, client, errors } = setup();
    const room = client.room('r1');
    await room.ready();
    room.on('change', () => {
      throw new Error('listener bug');
    });
    const seqs = changes(room);
    server.write('r1', 'bob', { a: '1' });
    server.write('r1', 'bob', { a: '2' });
    await untilSeq(room, 2);
    assert.deepEqual(seqs, [1, 2]);
    assert.deepEqual(
      errors.map((e) => String(e)),
      ['Error: listener bug', 'Error: listener bug'],
    );
  });
});
