import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Deadlines, HeartbeatWheel } from '../../src/events/stream-timers.js';

/** The shared timers of live streams, on Node's mock clock: no waiting, no sleeps. */

/**
 * Moves the mock clock on `ms`, `step` at a time: Node 20's tick moves the clock the whole way
 * before it runs what is due, so a timer set by a callback would be late by the rest of the tick.
 */
function advance(ms: number, step = 10): void {
  for (let left = ms; left > 0; left -= step) mock.timers.tick(Math.min(step, left));
}

describe('HeartbeatWheel', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('beats each member once a period, the first beat within a period of joining', () => {
    const wheel = new HeartbeatWheel(1000);
    const beats: Array<[string, number]> = [];
    const member = (name: string) => ({ beat: () => beats.push([name, Date.now()]) });
    wheel.add(member('a'));
    advance(330);
    wheel.add(member('b'));
    advance(3000);
    const at = (name: string) => beats.filter(([n]) => n === name).map(([, t]) => t);
    for (const name of ['a', 'b']) {
      const times = at(name);
      const joined = name === 'a' ? 0 : 330;
      assert.equal(times.length, 3, `${name}: ${times.join(', ')}`);
      assert.ok(times[0]! > joined && times[0]! <= joined + 1000, `${name}'s first beat at ${times[0]}`);
      assert.deepEqual([times[1]! - times[0]!, times[2]! - times[1]!], [1000, 1000]);
    }
    // Spread by when they joined, not beaten together.
    assert.notEqual(at('a')[0], at('b')[0]);
  });

  it('a removed member beats no more, and one that throws does not stop the others', () => {
    const wheel = new HeartbeatWheel(200);
    let beaten = 0;
    const thrower = {
      beat: () => {
        throw new Error('gone');
      },
    };
    const counted = { beat: () => beaten++ };
    wheel.add(thrower);
    const slot = wheel.add(counted);
    advance(400);
    assert.equal(beaten, 2);
    wheel.remove(counted, slot);
    wheel.remove(counted, slot);
    advance(1000);
    assert.equal(beaten, 2);
  });
});

describe('Deadlines', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  const recorder = () => {
    const fired: Array<[string, number]> = [];
    return { fired, target: (name: string) => ({ expire: () => fired.push([name, Date.now()]) }) };
  };

  it('expires each target at its time, in time order, whatever the order they came in', () => {
    const d = new Deadlines();
    const { fired, target } = recorder();
    d.at(1_000_300, target('c'));
    d.at(1_000_100, target('a'));
    d.at(1_000_200, target('b'));
    d.at(1_000_100, target('a2'));
    advance(99);
    assert.equal(fired.length, 0);
    advance(1);
    assert.deepEqual(fired.map(([n]) => n).sort(), ['a', 'a2']);
    advance(200);
    assert.deepEqual(
      fired.map(([n, t]) => `${n}@${t}`),
      [...fired.slice(0, 2).map(([n]) => `${n}@1000100`), 'b@1000200', 'c@1000300'],
    );
    assert.equal(d.size, 0);
  });

  it('a cancelled deadline never fires, also once cancelled ones are compacted away', () => {
    const d = new Deadlines();
    const { fired, target } = recorder();
    const handles = Array.from({ length: 200 }, (_, i) => d.at(1_000_000 + 10 * (i + 1), target(`t${i}`)));
    // Cancel all but every tenth (the heap is compacted on the way), then the rest.
    handles.forEach((h, i) => {
      if (i % 10 !== 0) d.cancel(h);
    });
    assert.equal(d.size, 20);
    for (const h of handles) d.cancel(h);
    assert.equal(d.size, 0);
    const kept = d.at(1_000_500, target('kept'));
    advance(3000);
    assert.deepEqual(fired, [['kept', 1_000_500]]);
    d.cancel(kept); // after it fired: nothing
    assert.equal(d.size, 0);
  });

  it('waits past what one setTimeout holds (about 24.8 days)', () => {
    const d = new Deadlines();
    const { fired, target } = recorder();
    const far = 1_000_000 + 30 * 86_400_000;
    d.at(far, target('far'));
    advance(2 ** 31 - 1, 2 ** 31 - 1);
    assert.equal(fired.length, 0);
    advance(far - 1_000_000 - (2 ** 31 - 1), 86_400_000);
    assert.deepEqual(fired, [['far', far]]);
  });

  it('a deadline already past fires on the next turn, not inside `at`', () => {
    const d = new Deadlines();
    const { fired, target } = recorder();
    d.at(5, target('past'));
    assert.equal(fired.length, 0);
    mock.timers.tick(0);
    assert.equal(fired.length, 1);
  });
});
