import type { Writable } from 'node:stream';

/** Sockets corked by writeInTick, uncorked together once the running code is done. */
const corked: Writable[] = [];

function uncorkAll(): void {
  for (const socket of corked.splice(0)) socket.uncork();
}

/**
 * Writes `bytes` to `socket` at the end of the current tick, with whatever else is written to it
 * until then (events of one group commit, a catch-up page, a reply): one system call a socket a
 * tick, not one a message. A server that falls behind its writers gets several events a tick from
 * the store and so pays less a delivery the more it has to send, instead of falling further
 * behind. Corking keeps every write to the socket, by anyone, in the order made, and counts in
 * `writableLength` and `writableNeedDrain` meanwhile, so the slow-reader bound and the catch-up's
 * wait for `drain` see it. (An HTTP response corks its socket the same way for each write.)
 */
export function writeInTick(socket: Writable, bytes: Buffer): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    if (corked.push(socket) === 1) process.nextTick(uncorkAll);
  }
  socket.write(bytes);
}
