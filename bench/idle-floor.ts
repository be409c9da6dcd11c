/**
 * The floor under roomkv's memory per idle connection: a bare Node server (no roomkv, no
 * Fastify) holding idle WebSockets (`ws`, as roomkv configures it) or open event-stream responses
 * (node:http), measured as bench/fanout.ts --idle --idle-heap measures roomkv: a few hundred
 * connections first, a heap snapshot, the rest, another snapshot, and what grew between them by
 * kind of object (bench/heap-diff.ts). What roomkv adds per connection is its figure minus this.
 *
 *   node --import tsx bench/idle-floor.ts [--connections=3600] [--transports=ws,sse] [--rss]
 *
 * --rss: the server's resident memory per connection instead (no snapshots: they take memory of
 * their own), as fanout.md's idle figures are read: as read 5 s after the connections, and once
 * collected (a full garbage collection through the server's inspector at both readings,
 * bench/collect.ts); use as many connections as the file limit allows.
 *
 * The server and the clients are child processes of this one, on 127.0.0.1; everything they made
 * (the snapshots' folder) is removed at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { collectedRssKb } from './collect.js';
import { freePort, sleep } from './common.js';
import { heapDiff, renderHeapDiff } from './heap-diff.js';

const SELF = fileURLToPath(import.meta.url);
const WARM = 400;

/** The bare server: `serve <ws|sse> <port>`; answers /healthz with its heap in use. */
function serve(kind: string, port: number): void {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.end(JSON.stringify({ heapUsed: process.memoryUsage().heapUsed }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(': open\n\n');
  });
  if (kind === 'ws') {
    // As roomkv's WebSocket route has it (src/http/ws/routes.ts): no compression, no client set.
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => ws.terminate());
        ws.send('{"op":"hello"}');
      }),
    );
  }
  server.listen(port, '127.0.0.1', () => process.send!('ready'));
}

/** The clients: `connect <ws|sse> <port> <count> <address>`; each connection waits for the server's first bytes. */
async function connect(kind: string, port: number, count: number, localAddress: string): Promise<void> {
  const request =
    kind === 'ws'
      ? 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
      : 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n';
  const sockets: net.Socket[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress });
      sockets.push(s);
      s.once('error', reject);
      s.once('data', () => resolve());
      s.write(request);
    });
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, one));
  process.send!('connected');
  process.on('message', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

function child(args: string[], execArgv: string[] = []): { proc: ChildProcess; next: (what: string) => Promise<void> } {
  const proc = fork(SELF, args, { execArgv: ['--import', 'tsx', ...execArgv], stdio: 'inherit' });
  // A child that fails (a connection refused, say) exits: the run fails with it instead of waiting.
  const next = (what: string) =>
    new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${args.join(' ')} exited with ${code} before '${what}'`));
      proc.once('exit', onExit);
      proc.once('message', (msg) => {
        proc.off('exit', onExit);
        if (msg === what) resolve();
        else reject(new Error(`expected ${what}, got ${String(msg)}`));
      });
    });
  return { proc, next };
}

async function snapshot(proc: ChildProcess, port: number, dir: string): Promise<string> {
  const had = new Set(readdirSync(dir));
  proc.kill('SIGUSR2');
  let size = -1;
  for (;;) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !had.has(f));
    if (file === undefined) continue;
    await fetch(`http://127.0.0.1:${port}/healthz`);
    const now = statSync(join(dir, file)).size;
    if (now > 0 && now === size) return join(dir, file);
    size = now;
  }
}

/** Resident memory of a process, KiB, from /proc/<pid>/status. */
function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** Each transport's clients connect from addresses of their own: no wait on the other's closed ports. */
const ADDRESSES = { ws: ['127.0.0.2', '127.0.0.3'], sse: ['127.0.0.4', '127.0.0.5'] } as const;

async function measure(kind: 'ws' | 'sse', connections: number, rss: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'roomkv-idle-floor-'));
  const port = await freePort();
  const inspectPort = await freePort();
  const server = child(
    ['serve', kind, String(port)],
    rss ? [`--inspect=127.0.0.1:${inspectPort}`] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`],
  );
  const clients: ChildProcess[] = [];
  try {
    await server.next('ready');
    const warm = child(['connect', kind, String(port), String(WARM), ADDRESSES[kind][0]]);
    clients.push(warm.proc);
    await warm.next('connected');
    await sleep(rss ? 2000 : 1000);
    const rssBefore = rssKb(server.proc.pid!);
    const collectedBefore = rss ? await collectedRssKb(server.proc.pid!, inspectPort) : 0;
    const before = rss ? '' : await snapshot(server.proc, port, dir);
    const rest = child(['connect', kind, String(port), String(connections), ADDRESSES[kind][1]]);
    clients.push(rest.proc);
    await rest.next('connected');
    await sleep(rss ? 5000 : 1000);
    if (rss) {
      const each = ((rssKb(server.proc.pid!) - rssBefore) * 1024) / connections / 1000;
      const collected = (((await collectedRssKb(server.proc.pid!, inspectPort)) - collectedBefore) * 1024) / connections / 1000;
      return `bare ${kind}: ${connections} connections, ${each.toFixed(1)} KB RSS each as read, ${collected.toFixed(1)} once collected`;
    }
    const after = await snapshot(server.proc, port, dir);
    return `**bare ${kind === 'ws' ? '`ws` WebSocket' : 'node:http event stream'}**, ${connections} connections: ${renderHeapDiff(heapDiff(before, after, connections, 16))}`;
  } finally {
    for (const c of clients) if (c.connected) c.send('stop');
    await Promise.all(clients.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : null)));
    server.proc.kill();
    if (server.proc.exitCode === null && server.proc.signalCode === null) await once(server.proc, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') serve(rest[0]!, Number(rest[1]));
else if (mode === 'connect') await connect(rest[0]!, Number(rest[1]), Number(rest[2]), rest[3]!);
else {
  const { values: opts } = parseArgs({
    options: {
      connections: { type: 'string', default: '3600' },
      transports: { type: 'string', default: 'ws,sse' },
      rss: { type: 'boolean', default: false },
    },
  });
  for (const kind of opts.transports!.split(',')) {
    if (kind !== 'ws' && kind !== 'sse') throw new Error(`--transports: ws and/or sse, not ${kind}`);
    console.log(`${await measure(kind, Number(opts.connections), opts.rss!)}\n`);
  }
}
