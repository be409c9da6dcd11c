import { RoomkvError } from './errors.js';
import { failRequest, Link, newRequest, type Request } from './link.js';
import { CLOSE_UNAUTHORIZED, type RoomMessage } from './protocol.js';
import type { RoomSink } from './room.js';
import type { Transport } from './socket.js';
import type { TokenKeeper } from './tokens.js';
import type { ConnectionStatus, StatusChange } from './types.js';

export interface ConnectionOptions {
  /** WebSocket URLs of equivalent instances: a lost link reconnects to the next. */
  urls: readonly string[];
  transport: Transport;
  tokens: TokenKeeper;
  initialDelayMs: number;
  maxDelayMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface ConnectionEvents {
  status(s: StatusChange): void;
  error(err: Error): void;
}

/** How long a link replaced by a successor stays open for the answers it still owes. */
const RETIRE_MS = 10_000;

/**
 * The client's connection to roomkv over the WebSocket protocol of spec section 9: one link at a
 * time, replaced when it is lost (after a growing, jittered delay, trying the next URL) or when
 * its token is due for renewal (a successor is opened and subscribed before the old link closes,
 * so no event is lost and no presence flickers in the move). Every room is subscribed on every new
 * link from its resume point. Calls wait for an open link; a read whose link is lost is sent
 * again, a write fails as `connection_lost`, since it may have been applied.
 */
export class Connection {
  private link: Link | null = null;
  private successor: Link | null = null;
  private readonly queue: Request[] = [];
  private readonly rooms = new Map<string, RoomSink>();
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly links = new Set<Link>();
  private state: ConnectionStatus = 'idle';
  private attempt = 0;
  private url = 0;
  private nextId = 1;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private everOpened = false;
  private identity: string | undefined;
  private readonly identityWaiters: Array<{ resolve(user: string | undefined): void; reject(err: Error): void }> = [];
  private readonly onOnline = () => this.reconnectNow();

  constructor(
    private readonly o: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    onlineEvents('add', this.onOnline);
  }

  get status(): ConnectionStatus {
    return this.state;
  }

  /** Follows a room: subscribed now if a link is open, and on every link after. */
  attach(id: string, sink: RoomSink): void {
    this.rooms.set(id, sink);
    this.start();
    for (const link of [this.link, this.successor]) if (link?.state === 'open') void this.subscribeOn(link, id);
  }

  detach(id: string): void {
    this.rooms.delete(id);
    this.clearRetry(id);
    for (const link of this.links) {
      link.accepted.delete(id);
      if (link.rooms.delete(id) && link.state === 'open') link.call({ op: 'unsubscribe', room: id }).catch(() => undefined);
    }
  }

  /** A call over the open link (waiting for one): its reply's `data`, or a RoomkvError. */
  request(body: Record<string, unknown>, idempotent: boolean): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new RoomkvError(0, 'closed', 'the client is closed'));
    this.start();
    return new Promise((resolve, reject) => {
      const r = newRequest(body, idempotent, this.o.requestTimeoutMs, { resolve, reject }, (timedOut) => this.unqueue(timedOut));
      if (this.link?.state === 'open') this.link.transmit(r);
      else this.queue.push(r);
    });
  }

  /** The user the server authenticated the token as (undefined for an app token), once a link is open. */
  whoami(): Promise<string | undefined> {
    if (this.link?.state === 'open') return Promise.resolve(this.identity);
    if (this.state === 'closed') return Promise.reject(new RoomkvError(0, 'closed', 'the client is closed'));
    this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.identityWaiters.indexOf(w);
        if (i >= 0) this.identityWaiters.splice(i, 1);
        reject(new RoomkvError(0, 'timeout', `no connection within ${this.o.requestTimeoutMs} ms`));
      }, this.o.requestTimeoutMs);
      const w = {
        resolve: (user: string | undefined) => {
          clearTimeout(timer);
          resolve(user);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.identityWaiters.push(w);
    });
  }

  /** The token is due, or the server ended a stream because it expired: move to a new one. */
  renewToken(): void {
    if (this.state === 'closed' || this.successor !== null) return;
    const current = this.link;
    if (current?.state !== 'open') {
      // No open link to keep: the next one asks for a new token.
      this.o.tokens.invalidate(current?.token ?? undefined);
      return;
    }
    void this.o.tokens.renew().then(
      () => {
        if (this.state === 'closed' || this.link !== current || current.state !== 'open' || this.successor !== null) return;
        this.successor = this.open(true);
      },
      (err: Error) => this.events.error(err),
    );
  }

  close(): void {
    if (this.state === 'closed') return;
    this.setStatus('closed');
    onlineEvents('remove', this.onOnline);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    for (const id of [...this.retries.keys()]) this.clearRetry(id);
    const closed = new RoomkvError(0, 'closed', 'the client is closed');
    for (const r of this.queue.splice(0)) failRequest(r, closed);
    for (const w of this.identityWaiters.splice(0)) w.reject(closed);
    for (const link of [...this.links]) link.drop(1000, 'client closed');
    this.o.tokens.close();
  }

  private start(): void {
    if (this.state === 'idle') this.link = this.open(false);
  }

  private open(successor: boolean): Link {
    const link = new Link(
      successor,
      {
        pingIntervalMs: this.o.pingIntervalMs,
        pingTimeoutMs: this.o.pingTimeoutMs,
        requestTimeoutMs: this.o.requestTimeoutMs,
        nextId: () => this.nextId++,
      },
      {
        authenticated: (l, data) => this.authenticated(l, data),
        room: (l, m) => this.received(l, m),
        lost: (l, code, reason, unanswered) => this.lost(l, code, reason, unanswered),
        error: (err) => this.events.error(err),
      },
    );
    this.links.add(link);
    if (!successor && this.state !== 'reconnecting') this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    void this.o.tokens.current().then(
      (token) => link.connect(this.o.transport, this.o.urls[this.url % this.o.urls.length]!, token),
      (err: Error) => {
        this.events.error(err);
        link.fail(1006, 'no token');
      },
    );
    return link;
  }

  private authenticated(link: Link, data: unknown): void {
    const who = (data ?? {}) as { user?: unknown; expiresAt?: unknown };
    if (typeof who.user === 'string') this.identity = who.user;
    if (typeof who.expiresAt === 'number') this.o.tokens.learnExpiry(who.expiresAt);
    for (const w of this.identityWaiters.splice(0)) w.resolve(this.identity);
    if (link.successor) {
      void this.subscribeAll(link).then(() => this.promote(link));
      return;
    }
    this.attempt = 0;
    this.everOpened = true;
    this.setStatus('open');
    this.takeOver(link);
  }

  /** `link` is the one: every room subscribed on it, every waiting call sent. */
  private takeOver(link: Link): void {
    void this.subscribeAll(link);
    for (const r of this.queue.splice(0)) link.transmit(r);
  }

  /** The successor is subscribed everywhere: it becomes the link, the old one finishes its answers and closes. */
  private promote(next: Link): void {
    if (next.state !== 'open' || this.successor !== next) return;
    const old = this.link;
    this.successor = null;
    next.successor = false;
    this.link = next;
    this.takeOver(next);
    old?.retire(RETIRE_MS);
  }

  /** Subscribes every room not yet subscribed on `link`. */
  private subscribeAll(link: Link): Promise<unknown> {
    return Promise.all([...this.rooms.keys()].filter((id) => !link.rooms.has(id)).map((id) => this.subscribeOn(link, id)));
  }

  /** Subscribes `id` on `link` from the room's resume point; settles when the server has answered. */
  private subscribeOn(link: Link, id: string): Promise<void> {
    const sink = this.rooms.get(id);
    if (sink === undefined || link.state !== 'open') return Promise.resolve();
    this.clearRetry(id);
    link.rooms.add(id);
    // A successor subscribes beside a live link: the room stays live meanwhile.
    if (!link.successor) sink.subscribing();
    const since = sink.resumePoint();
    const body: Record<string, unknown> = { op: 'subscribe', room: id };
    if (since !== undefined) body.since = since;
    return link.call(body).then(
      () => {
        if (this.rooms.get(id) !== sink || !link.rooms.has(id)) return;
        link.accepted.add(id);
        sink.subscribed();
      },
      (err: RoomkvError) => {
        // A link that went takes its subscriptions with it: the next link subscribes again.
        if (link.state !== 'open' || this.rooms.get(id) !== sink) return;
        link.rooms.delete(id);
        // Unanswered in time, it may still start: undone first (ops run in order), so the retry is not refused as a second subscribe.
        if (err.status === 0) link.call({ op: 'unsubscribe', room: id }).catch(() => undefined);
        if (sink.refused(err)) this.retryLater(id);
      },
    );
  }

  /** A subscribe refused for now (rate limit, a busy server): again after a while, on the link of then. */
  private retryLater(id: string): void {
    if (this.retries.has(id)) return;
    const timer = setTimeout(() => {
      this.retries.delete(id);
      const link = this.link;
      if (link?.state === 'open' && !link.rooms.has(id)) void this.subscribeOn(link, id);
    }, this.delay(2));
    this.retries.set(id, timer);
  }

  private clearRetry(id: string): void {
    const t = this.retries.get(id);
    if (t !== undefined) clearTimeout(t);
    this.retries.delete(id);
  }

  private received(link: Link, m: RoomMessage): void {
    const sink = this.rooms.get(m.chatroomId);
    if (sink === undefined) return;
    const next = sink.handle(m);
    if (next === 'gap') {
      // Subscribe again from the replica's resume point, on the link the gap showed on.
      link.accepted.delete(m.chatroomId);
      link.call({ op: 'unsubscribe', room: m.chatroomId }).catch(() => undefined);
      void this.subscribeOn(link, m.chatroomId);
    } else if (next === 'expired') {
      // The server ends every subscription, then closes the socket (4401): move to a new token now.
      link.rooms.delete(m.chatroomId);
      link.accepted.delete(m.chatroomId);
      this.renewToken();
    }
  }

  private lost(link: Link, code: number, reason: string, unanswered: Request[]): void {
    this.links.delete(link);
    const lostWith = new RoomkvError(0, 'connection_lost', `the connection closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const r of unanswered) {
      if (r.idempotent && this.state !== 'closed') this.queue.push(r);
      else failRequest(r, lostWith);
    }
    if (code === CLOSE_UNAUTHORIZED && link.token !== null) this.refusedToken(link.token);
    if (this.state === 'closed') return;
    if (link === this.successor) this.successor = null;
    if (link !== this.link) return;
    this.link = null;
    const s = this.successor;
    // Rooms the successor already carries stay live.
    for (const id of link.rooms) if (s === null || !s.accepted.has(id)) this.rooms.get(id)?.lost();
    if (s === null) {
      if (this.o.urls.length > 1) this.url += 1;
      this.scheduleReconnect(code, reason);
      return;
    }
    // The successor resumes from the same points: it takes over as a reconnect would.
    this.successor = null;
    s.successor = false;
    this.link = s;
    if (s.state === 'open') this.takeOver(s);
    else this.setStatus('reconnecting', code, reason);
  }

  private refusedToken(token: string): void {
    this.o.tokens.invalidate(token);
    if (!this.o.tokens.renewable) {
      this.events.error(new RoomkvError(401, 'unauthorized', 'the server refused the token and there is no getToken to ask for another'));
      this.close();
    }
  }

  private scheduleReconnect(code: number, reason: string): void {
    this.attempt += 1;
    this.setStatus('reconnecting', code, reason);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.reconnectNow(), this.delay(this.attempt));
  }

  private reconnectNow(): void {
    if (this.state !== 'reconnecting' || this.link !== null) return;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.link = this.open(false);
  }

  /** Exponential backoff, jittered over its upper half: 0.5x to 1x of initial * 2^(n-1), capped. */
  private delay(attempt: number): number {
    const base = Math.min(this.o.maxDelayMs, this.o.initialDelayMs * 2 ** Math.max(0, attempt - 1));
    return base / 2 + (Math.random() * base) / 2;
  }

  private unqueue(r: Request): void {
    const i = this.queue.indexOf(r);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private setStatus(s: ConnectionStatus, code?: number, reason?: string): void {
    if ((this.state === s && s !== 'reconnecting') || this.state === 'closed') return;
    this.state = s;
    const change: StatusChange = { status: s, attempt: this.attempt };
    if (code !== undefined) change.code = code;
    if (reason !== undefined) change.reason = reason;
    this.events.status(change);
  }
}

/** Browsers say when the network is back: reconnect then instead of at the end of the backoff. */
function onlineEvents(op: 'add' | 'remove', fn: () => void): void {
  const g = globalThis as {
    addEventListener?: (t: string, f: () => void) => void;
    removeEventListener?: (t: string, f: () => void) => void;
  };
  if (op === 'add') g.addEventListener?.('online', fn);
  else g.removeEventListener?.('online', fn);
}
