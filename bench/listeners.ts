/**
 * The benchmark's event consumers, in their own process so that the server under test never
 * shares an event loop with them: one Server-Sent Events subscriber per room, and a webhook
 * endpoint. Counts every change event it receives, by room and seq, so that the harness can tell
 * an event lost (acknowledged by a write, never received) from one late or sent twice, and
 * measures each event's delay from the store's timestamp to its arrival.
 *
 * Driven over IPC by bench/run.ts:
 *   -> { type: 'ready', webhookPort }             once the webhook endpoint listens
 *   <- { type: 'subscribe', url, path, roomIds, token } -> { type: 'subscribed', streams }
 *   <- { type: 'reset' }                           forget counts and delays -> { type: 'reset' }
 *   <- { type: 'report' }                          -> { type: 'report', report: ListenerReport }
 *   <- { type: 'stop' }
 *
 *   node --import tsx bench/listeners.ts   (with an IPC channel)
 */
import http, { type IncomingMessage } from 'node:http';
import { percentile } from './common.js';

export interface ChannelReport {
  /** Distinct change events received since the last reset. */
  events: number;
  /** The same (room, seq) received again. */
  duplicates: number;
  /** Seqs skipped within a room (a later one arrived first, or one never came). */
  gaps: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
}

export interface ListenerReport {
  sse: ChannelReport & { open: number; reconnects: number };
  webhook: ChannelReport & { requests: number; badSignatureHeader: number };
}

interface ChangeEvent {
  chatroomId: string;
  seq: number;
  timestamp: number;
}

/** One delivery channel's view: the last seq per room, and the delays of what arrived. */
class Channel {
  private readonly last = new Map<string, number>();
  private lags: number[] = [];
  private events = 0;
  private duplicates = 0;
  private gaps = 0;

  /** Where a room starts (its snapshot's seq): only what follows counts. */
  start(room: string, seq: number): void {
    if (!this.last.has(room)) this.last.set(room, seq);
  }

  receive(e: ChangeEvent, now: number): void {
    const last = this.last.get(e.chatroomId);
    if (last !== undefined && e.seq <= last) {
      this.duplicates++;
      return;
    }
    if (last !== undefined && e.seq > last + 1) this.gaps += e.seq - last - 1;
    this.last.set(e.chatroomId, e.seq);
    this.events++;
    this.lags.push(now - e.timestamp);
  }

  reset(): void {
    this.lags = [];
    this.events = 0;
    this.duplicates = 0;
    this.gaps = 0;
  }

  report(): ChannelReport {
    const sorted = [...this.lags].sort((a, b) => a - b);
    return {
      events: this.events,
      duplicates: this.duplicates,
      gaps: this.gaps,
      lagP50: percentile(sorted, 50),
      lagP99: percentile(sorted, 99),
      lagMax: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
    };
  }
}

const sse = new Channel();
const hooks = new Channel();
let open = 0;
/** Rooms whose stream has sent its first message. */
let started = 0;
let reconnects = 0;
let hookRequests = 0;
let badSignatureHeader = 0;
const send = (m: unknown) => process.send!(m);

// ---- the webhook endpoint: answers 200 at once, as a healthy consumer would

const sink = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => {
    body += c;
  });
  req.on('end', () => {
    hookRequests++;
    if (typeof req.headers['x-roomkv-signature'] !== 'string') badSignatureHeader++;
    try {
      // One event, or a batching endpoint's array of them.
      const got = JSON.parse(body) as ChangeEvent | ChangeEvent[];
      const now = Date.now();
      for (const e of Array.isArray(got) ? got : [got]) hooks.receive(e, now);
    } catch {
      // not an event: counted as a request only
    }
    res.writeHead(200).end();
  });
});
sink.keepAliveTimeout = 60_000;
sink.listen(0, '127.0.0.1', () => send({ type: 'ready', webhookPort: (sink.address() as { port: number }).port }));

// ---- the subscribers

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
/** How long the streams of all rooms may take to open and send a first message. */
const SUBSCRIBE_WAIT_MS = 60_000;

/** Opens (and on any end, reopens with Last-Event-ID) one room's event stream; resolves at its first message. */
function subscribe(url: string, path: string, room: string, token: string): Promise<void> {
  return new Promise((resolve) => {
    let lastId: string | undefined;
    let first = true;
    const connect = () => {
      const req = http.get(
        `${url}${path}/metadata/chatroom/${room}/events`,
        {
          agent,
          headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...(lastId ? { 'Last-Event-ID': lastId } : {}) },
        },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            res.resume();
            setTimeout(connect, 500);
            return;
          }
          open++;
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let end: number;
            while ((end = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, end);
              buf = buf.slice(end + 2);
              let event = 'message';
              let data = '';
              for (const line of block.split('\n')) {
                if (line.startsWith('event: ')) event = line.slice(7);
                else if (line.startsWith('data: ')) data += line.slice(6);
                else if (line.startsWith('id: ')) lastId = line.slice(4);
              }
              if (data === '') continue;
              const parsed = JSON.parse(data) as ChangeEvent & { seq: number };
              if (event === 'snapshot') sse.start(room, parsed.seq);
              else sse.receive(parsed, Date.now());
              if (first) {
                first = false;
                started++;
                resolve();
              }
            }
          });
          res.on('close', () => {
            open--;
            reconnects++;
            setTimeout(connect, 100);
          });
        },
      );
      req.on('error', () => setTimeout(connect, 500));
    };
    connect();
  });
}

process.on('message', (m: { type: string; url?: string; path?: string; roomIds?: string[]; token?: string }) => {
  switch (m.type) {
    case 'subscribe': {
      const rooms = m.roomIds!;
      // A few at a time: a thousand connections at once would be a benchmark of their own.
      let next = 0;
      const worker = async () => {
        while (next < rooms.length) await subscribe(m.url!, m.path!, rooms[next++]!, m.token!);
      };
      // Every stream must have sent its first message by then; the harness checks the count.
      const limit = new Promise<void>((r) => setTimeout(r, SUBSCRIBE_WAIT_MS).unref());
      void Promise.race([Promise.all(Array.from({ length: 32 }, worker)), limit]).then(() =>
        send({ type: 'subscribed', streams: started }),
      );
      break;
    }
    case 'reset':
      sse.reset();
      hooks.reset();
      hookRequests = 0;
      badSignatureHeader = 0;
      reconnects = 0;
      send({ type: 'reset' });
      break;
    case 'report': {
      const report: ListenerReport = {
        sse: { ...sse.report(), open, reconnects },
        webhook: { ...hooks.report(), requests: hookRequests, badSignatureHeader },
      };
      send({ type: 'report', report });
      break;
    }
    case 'stop':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
