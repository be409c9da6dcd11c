// A real webhook endpoint for tests: node:http on 127.0.0.1, recording every delivery as it came
// over the socket, checking its signature with roomkv's own verifier, and failing or going away
// on command.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { verifyWebhook } from '../../src/events/signature.js';
import { freePort } from './ports.js';

export interface ReceivedRequest {
  /** Arrival order, from 1, across paths. */
  n: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent. */
  body: string;
  eventId: string;
  /** x-roomkv-attempt as a number (NaN when missing). */
  attempt: number;
  /** The x-roomkv-signature header verified against the receiver's secret. */
  verified: boolean;
  /** What the receiver answered. */
  status: number;
  /** performance.now() when the request arrived and when its answer was sent; end is Infinity while unanswered. */
  start: number;
  end: number;
}

/** Decides, per request, whether to answer 500 instead of 200. */
export type FailPolicy = (req: { n: number; path: string; eventId: string; attempt: number }) => boolean;

function header(h: IncomingHttpHeaders, name: string): string {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

export class WebhookReceiver {
  /** Every request, in the order its body was complete (sort by `start` or `n` for arrival order). */
  readonly requests: ReceivedRequest[] = [];
  private server: Server | null = null;
  private policy: FailPolicy = () => false;
  private arrived = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    public port: number,
    readonly secret: string,
  ) {}

  /** Listening on a free port. */
  static async start(secret: string): Promise<WebhookReceiver> {
    const r = new WebhookReceiver(0, secret);
    await r.up();
    return r;
  }

  /** Down from the start: a free port is chosen, nothing listens on it until `up()`. */
  static async reserve(secret: string): Promise<WebhookReceiver> {
    return new WebhookReceiver(await freePort(), secret);
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Listens (again) on the receiver's port. */
  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      const start = performance.now();
      const n = ++this.arrived;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const h = req.headers;
        const signature = header(h, 'x-roomkv-signature');
        const timestamp = header(h, 'x-roomkv-timestamp');
        const rec: ReceivedRequest = {
          n,
          method: req.method ?? '',
          path: req.url ?? '',
          headers: h,
          body,
          eventId: header(h, 'x-roomkv-event-id'),
          attempt: Number(header(h, 'x-roomkv-attempt') || Number.NaN),
          verified: signature !== '' && timestamp !== '' && verifyWebhook(this.secret, timestamp, body, signature),
          status: 0,
          start,
          end: Number.POSITIVE_INFINITY,
        };
        rec.status = this.policy({ n, path: rec.path, eventId: rec.eventId, attempt: rec.attempt }) ? 500 : 200;
        this.requests.push(rec);
        res.on('finish', () => {
          rec.end = performance.now();
          for (const l of [...this.listeners]) l();
        });
        res.writeHead(rec.status, { 'content-type': 'text/plain' });
        res.end(rec.status === 200 ? 'ok' : 'failing on purpose');
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stops listening and drops open connections: the port refuses connections until `up()`. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  close(): Promise<void> {
    return this.down();
  }

  /** The next `count` requests to arrive answer 500, then 200 again. */
  failFirst(count: number): void {
    const last = this.arrived + count;
    this.policy = ({ n }) => n <= last;
  }

  failAll(): void {
    this.policy = () => true;
  }

  succeedAll(): void {
    this.policy = () => false;
  }

  failWhen(policy: FailPolicy): void {
    this.policy = policy;
  }

  /** Requests to `path` (all paths when undefined), in arrival order. */
  received(path?: string): ReceivedRequest[] {
    return this.requests.filter((r) => path === undefined || r.path === path).sort((a, b) => a.n - b.n);
  }

  /** Distinct event ids answered 2xx (and fully answered) on `path`. */
  acknowledged(path?: string): Set<string> {
    return new Set(
      this.received(path)
        .filter((r) => r.status >= 200 && r.status < 300 && r.end !== Number.POSITIVE_INFINITY)
        .map((r) => r.eventId),
    );
  }

  /** Resolves once `n` distinct events were acknowledged on `path`; rejects after `timeoutMs`. */
  waitForEvents(n: number, opts: { path?: string; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.acknowledged(opts.path).size >= n) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const got = this.received(opts.path).map((r) => `${r.eventId}#${r.attempt}->${r.status}`);
        reject(
          new Error(
            `expected ${n} distinct events on ${opts.path ?? 'any path'} within ${timeoutMs} ms, got ${this.acknowledged(opts.path).size}: ${got.join(' ')}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }
}
