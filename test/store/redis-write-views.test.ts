// The Redis write path's views of rooms (what an instance last saw of each room, to plan from) are
// bounded in rooms and in entries, and keep the rooms in use: no caller can make them grow without
// end, and a busy room is not planned blind because many others were written once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { AttributeWrites, type WriterDeps } from '../../src/store/redis/attribute-writes.js';
import type { SetCall } from '../../src/store/types.js';

/** Scripts that always apply, recording each call's arguments. */
function fakeRedis(): { deps: WriterDeps; sent: Array<Array<string | number>> } {
  const sent: Array<Array<string | number>> = [];
  let seq = 0;
  const applied = async (args: Array<string | number>) => {
    sent.push(args);
    return [2, ++seq, 1];
  };
  const deps: WriterDeps = {
    roomKeys: (appId, roomId) => ({ room: `${appId}:${roomId}:room`, members: 'm', attrs: 'a', meta: 'x' }),
    usageKey: (appId) => `${appId}:usage`,
    eventBlock: () => ({ args: [], toIndex: [], post: '' }),
    now: () => 1_000,
    applySet: applied,
    applyDelete: applied,
    addUsage: async () => 0,
    indexOutbox: async () => {},
    usageInScript: async () => true,
    indexExpiry: async () => {},
    readValues: async (_a, _r, keys) => keys.map(() => ['', ''] as const),
    sweepRoom: async () => ({ removed: [], count: 0 }),
  };
  return { deps, sent };
}

const setIn = (roomId: string, pairs: Array<[string, string]> = [['seat', 'v']]): SetCall => ({
  appId: 'app',
  roomId,
  user: 'alice',
  forced: false,
  autoDelete: 'DELETE',
  pairs,
  limits: DEFAULT_LIMITS,
  routing: { appKey: 'org#app', endpointsFor: () => [] },
});

/** The meta a call's precondition block sent for `key` ('' : planned as absent, the room unseen). */
const metaSent = (args: Array<string | number>, key: string): string | number => args[args.indexOf(key) + 1]!;

describe('the Redis write path: views of rooms', () => {
  it('hold at most their bound of rooms, however many rooms are written', async () => {
    const { deps } = fakeRedis();
    const writes = new AttributeWrites(deps, { maxRooms: 50 });
    for (let i = 0; i < 500; i++) await writes.set(setIn(`r${i}`));
    assert.equal(writes.sizes().rooms, 50);
    assert.equal(writes.sizes().entries, 50, 'one key seen in each room kept');
  });

  it('hold at most their bound of entries in all rooms together', async () => {
    const { deps } = fakeRedis();
    const writes = new AttributeWrites(deps, { maxEntries: 100 });
    const pairs = (i: number) => Array.from({ length: 10 }, (_, k) => [`k${i}.${k}`, 'v'] as [string, string]);
    for (let i = 0; i < 40; i++) await writes.set(setIn(`r${i}`, pairs(i)));
    assert.ok(writes.sizes().entries <= 100, `${writes.sizes().entries} entries`);
    assert.ok(writes.sizes().rooms >= 9, 'the newest rooms are kept');
  });

  it('keep a room in use when others come and go (it plans from what it saw, not blind)', async () => {
    const { deps, sent } = fakeRedis();
    const writes = new AttributeWrites(deps, { maxRooms: 3 });
    await writes.set(setIn('busy'));
    for (let i = 0; i < 20; i++) {
      await writes.set(setIn(`once${i}`));
      await writes.set(setIn('busy'));
      assert.notEqual(metaSent(sent.at(-1)!, 'seat'), '', `round ${i}: the busy room's view was dropped`);
    }
    // A room written once and then left alone is not kept.
    await writes.set(setIn('once0'));
    assert.equal(metaSent(sent.at(-1)!, 'seat'), '');
  });
});
