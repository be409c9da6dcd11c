/**
 * The fan-out benchmark's subscribers, in a process of their own (bench/fanout.ts starts one or
 * more): event streams (SSE) or WebSocket subscriptions to one room, both on raw sockets (`onread`
 * into one shared buffer; the WebSocket framing is parsed here), each from its own source address
 * and port (127.0.0.x: one address pair has about 28,000 ports). Each connection checks its room's seqs: every one once, in order. The delay of an
 * event is its arrival here minus the time the writer sent the write, which the write carries as
 * its value; delays go to a histogram of 0.1 ms steps, so that any number of deliveries fit.
 * Parsing is by offsets in the text (no JSON.parse per delivery): the load must cost little next to
 * the server it measures.
 *
 * Driven over IPC:
 *   <- { type: 'connect', spec: ConnectSpec }    -> { type: 'connected', ready, failed, seqs: [min, max], ms }
 *   <- { type: 'reset' }                          counts start again from each connection's last seq -> { type: 'reset' }
 *   <- { type: 'report', target, full }           -> { type: 'report', report: LoadReport } (full: with the histogram)
 *   <- { type: 'close' }                          -> { type: 'closed' }
 *
 *   node --import tsx bench/fanout-load.ts   (with an IPC channel)
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

export interface ConnectSpec {
  transport: 'sse' | 'ws';
  port: number;
  /** `/{org}/{app}` */
  path: string;
  room: string;
  token: string;
  count: number;
  /** Source addresses 127.0.0.<first>..127.0.0.<first + addresses - 1>, taken in turn. */
  firstAddress: number;
  addresses: number;
  /** Connections being opened at once. */
  window: number;
}

export interface LoadReport {
  connections: number;
  /** Connections that ended (closed by the server, or an `end` message). */
  ended: number;
  /** Events counted since the last reset, over all connections. */
  received: number;
  duplicates: number;
  /** Seqs skipped (a later one came first, or one never came). */
  gaps: number;
  /** Connections whose last seq is below the target; and above it. */
  behind: number;
  ahead: number;
  /** Sparse histogram of delays: [bucket (0.1 ms), count] pairs. */
  histogram: Array<[number, number]>;
  maxMs: number;
  /** This process's CPU time since the last reset, ms. */
  cpuMs: number;
}

const BUCKET_MS = 0.1;
const BUCKETS = 600_000;

interface Sub {
  last: number;
  /** The last seq when counting started (the snapshot's seq, or where the last reset found it). */
  base: number;
  ended: boolean;
  close(): void;
  write(bytes: Buffer): void;
}

const subs: Sub[] = [];
let hist = new Uint32Array(BUCKETS);
let maxMs = 0;
let received = 0;
let duplicates = 0;
let gaps = 0;
let cpuAtReset = process.cpuUsage();
const now = () => performance.timeOrigin + performance.now();

/** The decimal number that starts at `at` in `s`. */
function intAt(s: string, at: number): number {
  let n = 0;
  for (let i = at; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return n;
}

/** One change event on `sub`: its seq checked, its delay (from the send time in `"t":"..."`) counted. */
function onEvent(sub: Sub, seq: number, text: string, from: number): void {
  const arrived = now();
  if (seq <= sub.last) {
    duplicates++;
    return;
  }
  if (seq > sub.last + 1) gaps += seq - sub.last - 1;
  sub.last = seq;
  received++;
  const t = text.indexOf('"t":"', from);
  if (t < 0) return;
  const delay = arrived - Number(text.slice(t + 5, text.indexOf('"', t + 5)));
  if (delay > maxMs) maxMs = delay;
  hist[Math.max(0, Math.min(BUCKETS - 1, Math.floor(delay / BUCKET_MS)))]!++;
}

/** Every socket reads into this one buffer (`onread`: no stream chunks); each read is handled before the next. */
const READ = Buffer.allocUnsafe(1 << 18);

/**
 * A connection that sends `request` once connected and hands what it reads, as latin1 text (one
 * character a byte), to `onText`: first the HTTP head (to `onHead`, false to give up), then the rest
 * of the stream, from which `onBody` takes what it can and says where it stopped.
 */
function rawConnection(
  spec: ConnectSpec,
  address: string,
  request: string,
  onHead: (head: string) => boolean,
  onBody: (text: string, from: number) => number,
  fail: (why: string) => void,
): Sub {
  let rest = '';
  let head = true;
  const onText = (chunk: string) => {
    const text = rest.length > 0 ? rest + chunk : chunk;
    let pos = 0;
    if (head) {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        rest = text;
        return;
      }
      if (!onHead(text.slice(0, end))) return fail(text.slice(0, text.indexOf('\r\n')));
      head = false;
      pos = end + 4;
    }
    pos = onBody(text, pos);
    rest = pos < text.length ? text.slice(pos) : '';
  };
  const socket = connect({
    host: '127.0.0.1',
    port: spec.port,
    localAddress: address,
    onread: {
      buffer: READ,
      callback: (n: number) => {
        onText(READ.toString('latin1', 0, n));
        return true;
      },
    },
  });
  const sub: Sub = { last: -1, base: -1, ended: false, close: () => socket.destroy(), write: (b) => socket.write(b) };
  socket.on('connect', () => socket.write(request));
  socket.on('error', (err) => fail(err.message));
  socket.on('close', () => {
    sub.ended = true;
    fail('closed');
  });
  return sub;
}

/** An event stream: `\n\n`-separated SSE blocks (inside HTTP chunks, whose framing lines are skipped over). */
function openSse(spec: ConnectSpec, address: string, ready: (seq: number) => void, fail: (why: string) => void): Sub {
  const request =
    `GET ${spec.path}/metadata/chatroom/${spec.room}/events HTTP/1.1\r\nHost: 127.0.0.1:${spec.port}\r\n` +
    `Authorization: Bearer ${spec.token}\r\nAccept: text/event-stream\r\n\r\n`;
  const sub: Sub = rawConnection(
    spec,
    address,
    request,
    (head) => head.startsWith('HTTP/1.1 200'),
    (text, from) => blocks(text, from),
    fail,
  );
  const blocks = (text: string, from: number): number => {
    let pos = from;
    for (;;) {
      const end = text.indexOf('\n\n', pos);
      if (end < 0) return pos;
      // A block: `id: {seq}-{epoch}` and `data:` (a change event), with `event: snapshot` on the
      // line after the id when it is one; blocks with no id: comments, `retry:`, `event: end` and
      // `event: presence`. Each search stops within the block or just past it (no search for an
      // `event:` line that a change event does not have): a read of many events costs in
      // proportion to its length, not to its length squared.
      const id = text.indexOf('id: ', pos);
      const hasId = id >= 0 && id < end;
      const kind = hasId ? text.indexOf('\n', id) + 1 : text.indexOf('event: ', pos);
      const named = hasId ? text.startsWith('event: ', kind) : kind >= 0 && kind < end;
      if (named && text.startsWith('event: end', kind)) sub.ended = true;
      else if (hasId) {
        if (!named) onEvent(sub, intAt(text, id + 4), text, id);
        else if (text.startsWith('event: snapshot', kind)) {
          sub.last = sub.base = intAt(text, id + 4);
          ready(sub.last);
        }
      }
      pos = end + 2;
    }
  };
  return sub;
}

/** A client frame: FIN, `opcode`, masked with the key 0 (so the payload goes as it is). */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? [0x80 | opcode, 0x80 | n] : [0x80 | opcode, 0x80 | 126, n >> 8, n & 255];
  return Buffer.concat([Buffer.from(head), Buffer.alloc(4), payload]);
}

/** A WebSocket (RFC 6455 framing, read here) with one subscription: its reply, a snapshot, then events. */
function openWs(spec: ConnectSpec, address: string, ready: (seq: number) => void, fail: (why: string) => void): Sub {
  const request =
    `GET ${spec.path}/ws?access_token=${encodeURIComponent(spec.token)} HTTP/1.1\r\nHost: 127.0.0.1:${spec.port}\r\n` +
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const subscribe = frame(1, Buffer.from(JSON.stringify({ op: 'subscribe', id: 1, room: spec.room })));
  const onHead = (head: string) => {
    if (!head.startsWith('HTTP/1.1 101')) return false;
    sub.write(subscribe);
    return true;
  };
  const onMessage = (text: string, at: number) => {
    const seqAt = text.indexOf('"seq":', at);
    if (text.startsWith('{"type":"event"', at)) onEvent(sub, intAt(text, seqAt + 6), text, seqAt);
    else if (text.startsWith('{"type":"snapshot"', at)) {
      sub.last = sub.base = intAt(text, seqAt + 6);
      ready(sub.last);
    } else if (text.startsWith('{"type":"end"', at)) sub.ended = true;
    else if (text.startsWith('{"type":"reply"', at) && !text.startsWith('"status":200', text.indexOf('"status":', at)))
      fail(text.slice(at, at + 200));
  };
  // Server frames are unmasked: FIN+opcode, a 7-bit length (126: 16 bits follow; 127: 64 bits), the payload.
  const frames = (text: string, from: number): number => {
    let pos = from;
    while (pos + 2 <= text.length) {
      const opcode = text.charCodeAt(pos) & 0x0f;
      let n = text.charCodeAt(pos + 1) & 0x7f;
      let at = pos + 2;
      if (n === 126) {
        n = (text.charCodeAt(pos + 2) << 8) | text.charCodeAt(pos + 3);
        at = pos + 4;
      } else if (n === 127) {
        n =
          text.charCodeAt(pos + 6) * 2 ** 24 +
          ((text.charCodeAt(pos + 7) << 16) | (text.charCodeAt(pos + 8) << 8) | text.charCodeAt(pos + 9));
        at = pos + 10;
      }
      if (at + n > text.length) break;
      if (opcode === 1) onMessage(text, at);
      else if (opcode === 9) sub.write(frame(10, Buffer.from(text.slice(at, at + n), 'latin1')));
      else if (opcode === 8) sub.ended = true;
      pos = at + n;
    }
    return pos;
  };
  const sub: Sub = rawConnection(spec, address, request, onHead, (text, from) => frames(text, from), fail);
  return sub;
}

/** Opens `spec.count` connections, `spec.window` at a time; each counts once its snapshot is in. */
async function connectAll(spec: ConnectSpec): Promise<{ ready: number; failed: number; failures: string[]; seqs: [number, number] }> {
  let next = 0;
  let ready = 0;
  const failures: string[] = [];
  const seqs: [number, number] = [Infinity, -Infinity];
  const openOne = (i: number) =>
    new Promise<void>((resolve) => {
      let settled = false;
      const address = `127.0.0.${spec.firstAddress + (i % spec.addresses)}`;
      const onReady = (seq: number) => {
        if (settled) return;
        settled = true;
        subs.push(sub);
        ready++;
        seqs[0] = Math.min(seqs[0], seq);
        seqs[1] = Math.max(seqs[1], seq);
        resolve();
      };
      const onFail = (why: string) => {
        if (settled) return;
        settled = true;
        failures.push(why);
        sub.close();
        resolve();
      };
      const sub = (spec.transport === 'sse' ? openSse : openWs)(spec, address, onReady, onFail);
    });
  await Promise.all(
    Array.from({ length: Math.min(spec.window, spec.count) }, async () => {
      while (next < spec.count) await openOne(next++);
    }),
  );
  return { ready, failed: failures.length, failures: [...new Set(failures)].slice(0, 5), seqs };
}

function reset(): void {
  hist = new Uint32Array(BUCKETS);
  maxMs = 0;
  received = duplicates = gaps = 0;
  for (const s of subs) s.base = s.last;
  cpuAtReset = process.cpuUsage();
}

function report(target: number, full: boolean): LoadReport {
  const histogram: Array<[number, number]> = [];
  if (full) for (let i = 0; i < BUCKETS; i++) if (hist[i]! > 0) histogram.push([i, hist[i]!]);
  const cpu = process.cpuUsage(cpuAtReset);
  return {
    connections: subs.length,
    ended: subs.filter((s) => s.ended).length,
    received,
    duplicates,
    gaps,
    behind: subs.filter((s) => s.last < target).length,
    ahead: subs.filter((s) => s.last > target).length,
    histogram,
    maxMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

type Message =
  { type: 'connect'; spec: ConnectSpec } | { type: 'reset' } | { type: 'report'; target: number; full: boolean } | { type: 'close' };

process.on('message', (m: Message) => {
  if (m.type === 'connect') {
    const started = performance.now();
    void connectAll(m.spec).then((r) => process.send!({ type: 'connected', ...r, ms: performance.now() - started }));
  } else if (m.type === 'reset') {
    reset();
    process.send!({ type: 'reset' });
  } else if (m.type === 'report') {
    process.send!({ type: 'report', report: report(m.target, m.full) });
  } else if (m.type === 'close') {
    for (const s of subs.splice(0)) s.close();
    process.send!({ type: 'closed' });
  }
});
process.on('disconnect', () => process.exit(0));
