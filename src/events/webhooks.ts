import http from 'node:http';
import https from 'node:https';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { AppRecord, WebhookEndpoint } from '../config/apps.js';
import type { AttemptRecord, Delivery, Outbox } from '../store/types.js';
import { renderAgoraCallback } from './agora-callback.js';
import { signWebhook } from './signature.js';

export interface WebhookOptions {
  retryMs: number;
  backoffMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  /** How often the outbox is polled for due deliveries. */
  pollMs?: number;
  /** Deliveries in flight at once, across rooms (one per room at a time, for order). */
  concurrency?: number;
  /** How often a shared store's outbox index is swept for queues a crash left unindexed. */
  sweepMs?: number;
}

export interface DeliveryResult {
  outcome: AttemptRecord['outcome'];
  status: number | null;
}

/** Exponential backoff with jitter: base * 2^(n-1), capped, times a random 0.5..1. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(exp * (0.5 + random() * 0.5));
}

/**
 * Delivers the outbox: every event, to every endpoint that wants it, at least once, in seq order
 * per room and endpoint. The outbox is the store's (written with each change), so a restart or a
 * crash loses nothing; a claim is leased in shared stores, so two instances never send the same
 * attempt at once. A 2xx answer is success; anything else is retried with backoff until
 * `retryMs` after the first attempt, then given up, and every attempt is recorded.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Batching endpoints: the batch being filled, per app and endpoint. */
  private readonly gathering = new Map<string, Gathering>();
  /** Batches in flight, and the rooms in them or in a batch being filled (app:endpoint:room). */
  private readonly batches = new Set<Promise<void>>();
  private readonly batchRooms = new Set<string>();
  private running = false;
  private ticking = false;
  private again = false;
  private kicked = false;
  /** Kept-alive connections to the endpoints: a delivery costs no new connection (and TLS handshake). */
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly urls = new Map<string, URL>();
  /** `host` of Agora-format bodies. */
  private readonly host = hostname();
  private readonly pollMs: number;
  private readonly concurrency: number;
  onAttempt: ((endpoint: WebhookEndpoint, attempt: AttemptRecord) => void) | null = null;

  constructor(
    private readonly store: Outbox,
    private readonly apps: readonly AppRecord[],
    private readonly options: WebhookOptions,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.pollMs = options.pollMs ?? 200;
    this.concurrency = options.concurrency ?? 16;
    const agent = { keepAlive: true, maxSockets: this.concurrency };
    this.agents = { http: new http.Agent(agent), https: new https.Agent(agent) };
  }

  get hasEndpoints(): boolean {
    return this.apps.some((a) => a.webhooks.length > 0);
  }

  start(): void {
    if (!this.hasEndpoints || this.running) return;
    this.running = true;
    void this.sweep();
    this.timer = setInterval(() => void this.tick(), this.pollMs);
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs ?? 300_000);
  }

  /** Stops claiming; sends the batches being filled; waits for deliveries in flight (each bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.timer = this.sweepTimer = null;
    for (const id of [...this.gathering.keys()]) this.flush(id);
    await Promise.allSettled([...this.inflight.values(), ...this.batches]);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** One pass soon: deliveries that end in the same turn share it (and its outbox query). */
  private kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      void this.tick();
    });
  }

  private async sweep(): Promise<void> {
    if (!this.store.sweepOutbox) return;
    for (const app of this.apps) {
      for (const ep of app.webhooks) {
        try {
          const found = await this.store.sweepOutbox(app.appId, ep.id);
          if (found > 0) this.log.warn({ app: app.appKey, endpoint: ep.url, found }, 'webhook queues re-indexed');
        } catch (err) {
          this.log.warn({ err }, 'webhook outbox sweep failed');
        }
      }
    }
  }

  /** One pass over every endpoint's due deliveries; a pass asked for during one runs right after. */
  async tick(): Promise<void> {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    this.again = false;
    try {
      for (const app of this.apps) {
        for (const ep of app.webhooks) {
          if (ep.batch !== null) {
            await this.gather(app, ep, ep.batch);
            continue;
          }
          const room = this.concurrency - this.inflight.size;
          if (room <= 0) return;
          let claims: Delivery[];
          try {
            claims = await this.store.claimDeliveries(app.appId, ep.id, this.clock(), room, (roomId) =>
              this.inflight.has(`${app.appId}:${ep.id}:${roomId}`),
            );
          } catch (err) {
            this.log.warn({ err }, 'webhook outbox unavailable');
            return;
          }
          for (const d of claims) {
            const key = `${app.appId}:${ep.id}:${d.roomId}`;
            if (this.inflight.has(key)) continue;
            // When a room's head is done, its next event is due at once: do not wait for the poll.
            const p = this.deliver(ep, d).finally(() => {
              this.inflight.delete(key);
              this.kick();
            });
            this.inflight.set(key, p);
          }
        }
      }
    } finally {
      this.ticking = false;
      if (this.again) setImmediate(() => void this.tick());
    }
  }

  /**
   * A batching endpoint's pass: claims runs of due events (up to the batch's room, each room's
   * from its head) into the batch being filled, and sends it when it is full or maxDelayMs after
   * it was opened. A room is in one batch at a time (its order); a run longer than the room left
   * in the batch goes in cut, and its tail waits for a later batch.
   */
  private async gather(app: AppRecord, ep: WebhookEndpoint, batch: { maxEvents: number; maxDelayMs: number }): Promise<void> {
    const id = `${app.appId}:${ep.id}`;
    // While passes fill batches (a backlog), claim again at once, up to the batches in flight allowed.
    for (let pass = 0; pass < this.concurrency && this.batches.size < this.concurrency; pass++) {
      const want = batch.maxEvents - (this.gathering.get(id)?.events ?? 0);
      // Up to `want` rooms, each with a run short enough that one pass reads CLAIM_EVENTS_MAX at most.
      const run = Math.min(want, Math.max(1, Math.floor(CLAIM_EVENTS_MAX / want)));
      let claims: Delivery[];
      try {
        claims = await this.store.claimDeliveries(
          app.appId,
          ep.id,
          this.clock(),
          want,
          (roomId) => this.batchRooms.has(`${id}:${roomId}`),
          run,
        );
      } catch (err) {
        this.log.warn({ err }, 'webhook outbox unavailable');
        break;
      }
      const sent = this.batches.size;
      for (const d of claims) {
        let g = this.gathering.get(id);
        if (g === undefined) {
          g = { ep, runs: [], events: 0, openedAt: this.clock(), timer: null };
          this.gathering.set(id, g);
        }
        const left = batch.maxEvents - g.events;
        const run = d.events.length > left ? { ...d, events: d.events.slice(0, left) } : d;
        g.runs.push(run);
        g.events += run.events.length;
        this.batchRooms.add(`${id}:${d.roomId}`);
        if (g.events >= batch.maxEvents) this.flush(id);
      }
      if (this.batches.size === sent) break;
    }
    const g = this.gathering.get(id);
    if (g === undefined) return;
    const wait = g.openedAt + batch.maxDelayMs - this.clock();
    if (wait <= 0) this.flush(id);
    else g.timer ??= setTimeout(() => this.flush(id), wait);
  }

  /** Sends the batch being filled for `id` (app:endpoint) as one POST. */
  private flush(id: string): void {
    const g = this.gathering.get(id);
    if (g === undefined) return;
    this.gathering.delete(id);
    if (g.timer !== null) clearTimeout(g.timer);
    const p = this.deliverBatch(g.ep, g.runs).finally(() => {
      this.batches.delete(p);
      for (const r of g.runs) this.batchRooms.delete(`${r.appId}:${r.endpoint}:${r.roomId}`);
      this.kick();
    });
    this.batches.add(p);
  }

  /**
   * One POST of a JSON array: each run's events in seq order, runs one after another. The
   * answer settles every run alike: all delivered, or each tried again (or given up) by its own
   * attempts. `X-Roomkv-Attempt` is the batch's highest; each event in the body carries its
   * chatroomId and seq, by which a receiver drops what it has already.
   */
  private async deliverBatch(ep: WebhookEndpoint, runs: readonly Delivery[]): Promise<void> {
    const started = this.clock();
    const timestamp = Math.floor(started / 1000);
    const bodies: string[] = [];
    for (const r of runs) for (const e of r.events) bodies.push(e.body);
    const body = `[${bodies.join(',')}]`;
    const attempt = Math.max(...runs.map((r) => r.attempts)) + 1;
    const { status, error } = await this.send(
      ep,
      signedHeaders(ep, timestamp, body, attempt, ['x-roomkv-batch', String(bodies.length)]),
      body,
    );
    await Promise.all(runs.map((r) => this.settle(ep, r, started, r.attempts + 1, status, error)));
  }

  /** POSTs a body; the status and the error an attempt is recorded with (null: a 2xx). */
  private async send(
    ep: WebhookEndpoint,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number | null; error: string | null }> {
    try {
      const status = await this.post(ep.url, headers, body);
      return { status, error: status < 200 || status >= 300 ? `HTTP ${status}` : null };
    } catch (err) {
      return { status: null, error: err === TIMED_OUT ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message };
    }
  }

  private async deliver(ep: WebhookEndpoint, d: Delivery): Promise<void> {
    const started = this.clock();
    const attempt = d.attempts + 1;
    const timestamp = Math.floor(started / 1000);
    let status: number | null = null;
    let error: string | null;
    try {
      // The outbox keeps roomkv's event; an endpoint's format is rendered at each attempt, the same
      // body every time, and roomkv's signature covers the body as sent.
      const body = ep.format === 'agora' ? renderAgoraCallback(d.body, { secret: ep.agoraSecret ?? ep.secret, host: this.host }) : d.body;
      ({ status, error } = await this.send(
        ep,
        signedHeaders(ep, timestamp, body, attempt, ['x-roomkv-event-id', `${d.roomId}:${d.seq}`]),
        body,
      ));
    } catch (err) {
      // Rendering the body failed: recorded as the attempt's error.
      error = (err as Error).message;
    }
    await this.settle(ep, d, started, attempt, status, error);
  }

  /** Records an attempt of a claimed delivery: done, given up past retryMs, or tried again after a backoff. */
  private async settle(
    ep: WebhookEndpoint,
    d: Delivery,
    started: number,
    attempt: number,
    status: number | null,
    error: string | null,
  ): Promise<void> {
    const now = this.clock();
    const firstAt = d.firstAttemptAt ?? started;
    const record = (outcome: AttemptRecord['outcome']): AttemptRecord => ({
      endpoint: ep.id,
      roomId: d.roomId,
      seq: d.seq,
      attempt,
      at: started,
      status,
      error,
      durationMs: now - started,
      outcome,
    });
    try {
      if (error === null) {
        const a = record('delivered');
        await this.store.finishDelivery(d, a);
        this.onAttempt?.(ep, a);
      } else if (now - firstAt >= this.options.retryMs) {
        const a = record('gave_up');
        await this.store.finishDelivery(d, a);
        this.onAttempt?.(ep, a);
        this.log.error({ endpoint: ep.url, event: `${d.roomId}:${d.seq}`, attempts: attempt, error }, 'webhook delivery given up');
      } else {
        const a = record('retry');
        await this.store.retryDelivery(d, now + backoffDelay(attempt, this.options.backoffMs, this.options.backoffMaxMs), a);
        this.onAttempt?.(ep, a);
        this.log.warn({ endpoint: ep.url, event: `${d.roomId}:${d.seq}`, attempt, error }, 'webhook delivery failed, will retry');
      }
    } catch (err) {
      // The store is away: the claim stays (or its lease lapses) and the delivery is tried again.
      this.log.warn({ err }, 'could not record a webhook attempt');
    }
  }

  /**
   * POSTs `body` and reads the whole answer, within the timeout; resolves to the status. Redirects
   * are not followed (a 3xx is a failed attempt, like any other non-2xx).
   */
  private post(url: string, headers: Record<string, string>, body: string): Promise<number> {
    let u = this.urls.get(url);
    if (u === undefined) {
      u = new URL(url);
      this.urls.set(url, u);
    }
    const secure = u.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        u,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          res.resume();
          res.once('end', () => {
            clearTimeout(timer);
            resolve(res.statusCode ?? 0);
          });
          res.once('error', fail);
          res.once('close', () => {
            if (!res.complete) fail(new Error('the endpoint closed the connection before its answer ended'));
          });
        },
      );
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(TIMED_OUT);
      }, this.options.timeoutMs);
      function fail(err: Error) {
        clearTimeout(timer);
        reject(timedOut ? TIMED_OUT : err);
      }
      req.once('error', fail);
      req.end(body);
    });
  }
}

/**
 * The most events one claim pass of a batching endpoint reads (rooms x run): with a backlog, up to
 * maxEvents rooms with runs of maxEvents each would be maxEvents squared.
 */
export const CLAIM_EVENTS_MAX = 10_000;

/** A batching endpoint's batch being filled: the runs claimed into it, not yet sent. */
interface Gathering {
  ep: WebhookEndpoint;
  runs: Delivery[];
  events: number;
  openedAt: number;
  timer: NodeJS.Timeout | null;
}

/**
 * The headers of every webhook POST, one event or a batch: what it is (`x-roomkv-event-id` or
 * `x-roomkv-batch`, in that order of the headers as before), when, roomkv's signature over the
 * body as sent, and the attempt.
 */
function signedHeaders(
  ep: WebhookEndpoint,
  timestamp: number,
  body: string,
  attempt: number,
  [name, value]: readonly [string, string],
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'roomkv-webhook/1',
    [name]: value,
    'x-roomkv-timestamp': String(timestamp),
    'x-roomkv-signature': signWebhook(ep.secret, timestamp, body),
    'x-roomkv-attempt': String(attempt),
  };
}

/** The reason a request is destroyed with when its endpoint does not answer in time. */
const TIMED_OUT = new Error('webhook request timed out');
