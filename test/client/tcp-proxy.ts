// A TCP proxy that stands for the network between a client and roomkv: `cut()` drops every
// connection through it and refuses new ones until `restore()`, as a network that goes away does;
// `cut({silent: true})` stalls them instead (nothing passes, nothing closes), as a network that
// goes away without a word does, which only the client's pings notice.
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:{port}`: use it as the client's baseUrl. */
  url: string;
  /** Connections made through the proxy so far. */
  readonly connections: number;
  cut(opts?: { silent?: boolean }): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const stalled = new Set<Socket>();
  let up = true;
  let connections = 0;
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    connections += 1;
    const upstream = connect(Number(port), hostname);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port: own } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${own}`,
    get connections() {
      return connections;
    },
    cut(opts = {}) {
      up = false;
      for (const s of open) {
        if (opts.silent) {
          s.unpipe();
          s.pause();
          stalled.add(s);
        } else {
          s.destroy();
        }
      }
      open.clear();
    },
    restore() {
      up = true;
      for (const s of stalled) s.destroy();
      stalled.clear();
    },
    async close() {
      for (const s of [...open, ...stalled]) s.destroy();
      open.clear();
      stalled.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
