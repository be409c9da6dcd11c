import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** A WebSocket handshake for a `.../ws` route (query string and trailing slashes aside). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return false;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, '').endsWith('/ws');
}

/**
 * Serves an Upgrade request that is not a WebSocket (curl --http2 sends `Upgrade: h2c` with an
 * ordinary GET) as the plain request it also is, as Node did while nothing listened for upgrades:
 * Node has already let go of the connection's HTTP parser, so the answer says Connection: close
 * and the connection ends after it. A body cannot be read without that parser: such a request is
 * refused (400).
 */
function servePlain(server: Server, req: IncomingMessage, socket: Socket): void {
  socket.on('error', () => socket.destroy());
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.on('finish', () => socket.destroySoon());
  server.emit('request', req, res);
}

/**
 * Node hands every request with an Upgrade header to the 'upgrade' listeners once there is one;
 * this keeps @fastify/websocket's listener (the last one added) for WebSocket handshakes to a
 * `.../ws` route and serves every other request as plain HTTP. Returns the removal (at close).
 */
export function upgradeOnlyWebSockets(server: Server): () => void {
  const upgrade = server.listeners('upgrade').at(-1) as UpgradeListener | undefined;
  if (upgrade === undefined) throw new Error('no upgrade listener to filter (register @fastify/websocket first)');
  server.removeListener('upgrade', upgrade);
  const listener: UpgradeListener = (req, socket, head) => {
    if (isWebSocketUpgrade(req)) upgrade.call(server, req, socket, head);
    // An HTTP server's connections are TCP (or TLS) sockets.
    else servePlain(server, req, socket as Socket);
  };
  server.on('upgrade', listener);
  return () => server.removeListener('upgrade', listener);
}
