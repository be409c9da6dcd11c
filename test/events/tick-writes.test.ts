// One write per socket per tick (src/events/tick-writes.ts): what a tick gave a socket is not
// counted as a reader falling behind while it waits for the tick's end, but it is once the tick is
// over, even when nothing more is written to that socket (the last burst to a stalled reader).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { behindOf, writeInTick } from '../../src/events/tick-writes.js';

/** A socket whose reader stalled: it takes the first chunk and never finishes it. */
function stalled(): { socket: Writable; chunks: number } {
  const out = { chunks: 0, socket: null as unknown as Writable };
  out.socket = new Writable({
    highWaterMark: 16 * 1024,
    write(_chunk, _enc, _done) {
      out.chunks += 1;
    },
    writev(_chunks, _done) {
      out.chunks += 1;
    },
  });
  return out;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('tick writes', () => {
  it("a tick's bytes are not behind during the tick, and are once it ended", async () => {
    const s = stalled();
    const page = Buffer.alloc(300 * 1024);
    writeInTick(s.socket, page);
    writeInTick(s.socket, page);
    assert.equal(behindOf(s.socket), 0);
    await tick();
    assert.equal(behindOf(s.socket), 2 * page.length, 'all of it waits in the socket');
  });

  it("calls the writer's check after the tick's end, so a burst to a stalled reader is judged without a next write", async () => {
    const s = stalled();
    const seen: number[] = [];
    const check = { afterTick: () => void seen.push(behindOf(s.socket)) };
    for (let i = 0; i < 8; i++) writeInTick(s.socket, Buffer.alloc(200 * 1024), check);
    assert.deepEqual(seen, []);
    await tick();
    assert.deepEqual(seen, [8 * 200 * 1024], 'checked once, with the whole burst behind');
  });
});
