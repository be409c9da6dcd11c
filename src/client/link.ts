import { RoomkvError } from './errors.js';
import { parseServerMessage, type RoomMessage } from './protocol.js';
import type { Socket, Transport } from './socket.js';

/** A call waiting for its answer: queued by the connection until a link is open, then sent on one. */
export interface Request {
  body: Record<string, unknown>;
  /** A read: sent again on the next link when its link is lost. */
  idempotent: boolean;
  resolve(data: unknown): void;
  reject(err: RoomkvError): void;
  /** Fails the call when no answer came in time; armed once, when the call is made. */
  timer: ReturnType<typeof setTimeout> | null;
  /** The link it was sent on, while it waits there for its answer. */
  link: Link | null;
  id: number;
}

/** A new call that fails with `timeout` after `ms`, and `onTimeout` to take it out of where it waits. */
export function newRequest(
  body: Record<string, unknown>,
  idempotent: boolean,
  ms: number,
  settle: { resolve(data: unknown): void; reject(err: RoomkvError): void },
  onTimeout: (r: Request) => void,
): Request {
  const r: Request = { body, idempotent, resolve: settle.resolve, reject: settle.reject, timer: null, link: null, id: 0 };
  r.timer = setTimeout(() => {
    r.timer = null;
    // Sent and unanswered: it may have been applied. Never sent: it was not.
    const sent = r.link !== null;
    r.link?.forget(r);
    onTimeout(r);
    r.reject(new RoomkvError(0, 'timeout', sent ? `no answer within ${ms} ms` : `no connection within ${ms} ms; not sent`));
  }, ms);
  return r;
}

export function failRequest(r: Request, err: RoomkvError): void {
  if (r.timer !== null) clearTimeout(r.timer);
  r.timer = null;
  r.reject(err);
}

export interface LinkOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  requestTimeoutMs: number;
  nextId(): number;
}

/** What a link tells its connection. */
export interface LinkEvents {
  /** The server accepted the token: `data` is the auth reply (the user, the token's expiry). */
  authenticated(link: Link, data: unknown): void;
  room(link: Link, m: RoomMessage): void;
  /** The link closed: `unanswered` are the calls that were waiting on it. */
  lost(link: Link, code: number, reason: string, unanswered: Request[]): void;
  error(err: Error): void;
}

const CLOSE_NORMAL = 1000;
const CLOSE_PING_TIMEOUT = 4000;

/**
 * One socket, from its opening to its close: it authenticates with its first message, matches
 * answers to calls by id, and pings; a ping with no answer in time closes it (the network went
 * away without a close). `rooms` are the subscriptions it carries; their messages are taken from it.
 */
export class Link {
  /** `authenticating` from the socket's open until the server answers the auth message. */
  state: 'connecting' | 'authenticating' | 'open' | 'closed' = 'connecting';
  /** Rooms subscribed (or being subscribed) on this link. */
  readonly rooms = new Set<string>();
  /** Rooms whose subscribe on this link the server accepted. */
  readonly accepted = new Set<string>();
  /** The token it authenticates with: a refusal drops this one, not a newer one. */
  token: string | null = null;
  private socket: Socket | null = null;
  private readonly pending = new Map<number, Request>();
  private ping: ReturnType<typeof setInterval> | null = null;
  private retireTimer: ReturnType<typeof setTimeout> | null = null;
  private retiring = false;

  constructor(
    /** Opened to move to a new token beside a live link: it becomes the link once its rooms are subscribed. */
    public successor: boolean,
    private readonly o: LinkOptions,
    private readonly on: LinkEvents,
  ) {}

  connect(transport: Transport, url: string, token: string): void {
    if (this.state !== 'connecting') return;
    this.token = token;
    try {
      this.socket = transport(url, {
        open: () => this.opened(token),
        message: (text) => this.received(text),
        close: (code, reason) => this.lost(code, reason),
        error: () => undefined, // a close follows every error, and says more
      });
    } catch (err) {
      this.on.error(new RoomkvError(0, 'connect', `cannot open ${url}: ${String(err)}`, { cause: err }));
      this.lost(1006, 'transport failed');
    }
  }

  /** A call bound to this link (subscribe, unsubscribe): it fails, never moves, when the link goes. */
  call(body: Record<string, unknown>, timeoutMs = this.o.requestTimeoutMs): Promise<unknown> {
    return new Promise((resolve, reject) => this.transmit(newRequest(body, false, timeoutMs, { resolve, reject }, () => undefined)));
  }

  transmit(r: Request): void {
    if (this.state === 'closed' || this.state === 'connecting' || this.socket === null) {
      failRequest(r, new RoomkvError(0, 'connection_lost', 'the connection closed'));
      return;
    }
    r.id = this.o.nextId();
    r.link = this;
    this.pending.set(r.id, r);
    try {
      this.socket.send(JSON.stringify({ ...r.body, id: r.id }));
    } catch (err) {
      this.drop(CLOSE_NORMAL, `send failed: ${String(err)}`);
    }
  }

  forget(r: Request): void {
    this.pending.delete(r.id);
  }

  /** Replaced by a successor: closes once the answers it owes are in, or after `graceMs`. */
  retire(graceMs: number): void {
    this.rooms.clear();
    this.accepted.clear();
    if (this.state === 'closed') return;
    this.retiring = true;
    this.stopPinging();
    if (this.pending.size === 0) this.drop(CLOSE_NORMAL, 'replaced');
    else this.retireTimer = setTimeout(() => this.drop(CLOSE_NORMAL, 'replaced'), graceMs);
  }

  /** Closes now, without waiting for the far end to agree (it may be unreachable). */
  drop(code: number, reason: string): void {
    if (this.state === 'closed') return;
    try {
      this.socket?.close(code, reason);
    } catch (err) {
      this.on.error(new RoomkvError(0, 'close', String(err), { cause: err }));
    }
    this.lost(code, reason);
  }

  /** The link failed before it had a socket (no token). */
  fail(code: number, reason: string): void {
    this.lost(code, reason);
  }

  private opened(token: string): void {
    if (this.state !== 'connecting') return;
    this.state = 'authenticating';
    this.ping = setInterval(() => this.sendPing(), this.o.pingIntervalMs);
    // The token goes in the first message rather than the URL, which proxies log. Its answer names
    // the user the token acts as and when it expires; a refused token closes the socket (4401).
    this.call({ op: 'auth', token }).then(
      (data) => {
        if (this.state !== 'authenticating') return;
        this.state = 'open';
        this.on.authenticated(this, data);
      },
      () => undefined, // the close that follows says why
    );
  }

  private received(text: string): void {
    if (this.state === 'closed') return;
    const m = parseServerMessage(text);
    if (m === null) {
      this.on.error(new RoomkvError(0, 'protocol', `unreadable message: ${text.slice(0, 200)}`));
      return;
    }
    if (m.type !== 'reply') {
      if (this.rooms.has(m.chatroomId)) this.on.room(this, m);
      return;
    }
    const r = this.pending.get(m.id);
    if (r === undefined) return;
    this.pending.delete(m.id);
    if (r.timer !== null) clearTimeout(r.timer);
    r.timer = null;
    if (m.status === 200) r.resolve(m.data);
    else r.reject(new RoomkvError(m.status, m.error ?? 'error', m.error_description ?? ''));
    if (this.retiring && this.pending.size === 0) this.drop(CLOSE_NORMAL, 'replaced');
  }

  private sendPing(): void {
    this.call({ op: 'ping' }, this.o.pingTimeoutMs).catch((err: RoomkvError) => {
      if (err.error === 'timeout') this.drop(CLOSE_PING_TIMEOUT, 'ping timeout');
    });
  }

  private stopPinging(): void {
    if (this.ping !== null) clearInterval(this.ping);
    this.ping = null;
  }

  private lost(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopPinging();
    if (this.retireTimer !== null) clearTimeout(this.retireTimer);
    const unanswered = [...this.pending.values()];
    this.pending.clear();
    for (const r of unanswered) r.link = null;
    this.on.lost(this, code, reason, unanswered);
  }
}
