import type { Writable } from 'node:stream';

/** Sockets corked by writeInTick, uncorked together once the running code is done. */
const corked: Writable[] = [];
/** The bytes each corked socket was given this tick (what the kernel has not been offered yet). */
const thisTick = new WeakMap<Writable, number>();
/** What a writer does once a tick's bytes are offered to the kernel: its slow-reader check. */
export interface AfterTick {
  afterTick(): void;
}

/** The writer's slow-reader check of each corked socket, run once the tick's bytes are offered. */
const checks = new WeakMap<Writable, AfterTick>();

function uncorkAll(): void {
  const sockets = corked.splice(0);
  for (const socket of sockets) {
    thisTick.delete(socket);
    socket.uncork();
  }
  // A burst to a stalled reader is judged now, not at a next write that may never come.
  for (const socket of sockets) {
    const check = checks.get(socket);
    if (check === undefined) continue;
    checks.delete(socket);
    if (socket.writableLength > 0) check.afterTick();
  }
}

/**
 * What a socket holds that it could not hand to the kernel: its `writableLength` less what this
 * tick gave it, which is only offered at the tick's end. The slow-reader bound reads this, so a
 * catch-up page written in one tick does not count as a reader falling behind before the reader
 * had the chance to take it (written at once, as before corking, most of it would be in the
 * kernel's buffer, not in `writableLength`).
 */
export function behindOf(socket: Writable): number {
  return socket.writableLength - (thisTick.get(socket) ?? 0);
}

/**
 * Writes `bytes` to `socket` at the end of the current tick, with whatever else is written to it
 * until then (events of one group commit, a catch-up page, a reply): one system call a socket a
 * tick, not one a message. A server that falls behind its writers gets several events a tick from
 * the store and so pays less a delivery the more it has to send, instead of falling further
 * behind. Corking keeps every write to the socket, by anyone, in the order made, and counts in
 * `writableLength` and `writableNeedDrain` meanwhile, so the slow-reader bound and the catch-up's
 * wait for `drain` see it. (An HTTP response corks its socket the same way for each write.)
 * `check.afterTick()`, the writer's slow-reader bound, runs again after the tick's end: what the
 * tick gave the socket counts as behind from then on. (An object with a method, not a function: a
 * writer per connection would otherwise hold a closure of its own for it.)
 */
export function writeInTick(socket: Writable, bytes: Buffer, check?: AfterTick): void {
  if (check !== undefined) checks.set(socket, check);
  if (!thisTick.has(socket)) {
    // Corked by this module for this tick (a socket corked by someone else is corked once more,
    // and uncorked once, here).
    socket.cork();
    thisTick.set(socket, 0);
    if (corked.push(socket) === 1) process.nextTick(uncorkAll);
  }
  thisTick.set(socket, thisTick.get(socket)! + bytes.length);
  socket.write(bytes);
}
