import { Errors } from '../../domain/errors.js';

/** What the registry asks of a connection. */
export interface RegisteredConnection {
  /** Pings the peer, or cuts it off when it has not answered since the previous ping. */
  keepalive(): void;
  /** Closes the connection with a close code and reason (shutdown). */
  close(code: number, reason: string): void;
}

/** Who holds an authenticated connection: the app, and the user of a user token. */
export interface ConnectionOwner {
  appId: string;
  user?: string;
}

export interface ConnectionLimits {
  /** Connections that have not authenticated yet, at most, on this instance. */
  maxPending: number;
  /** Authenticated connections of one user (user tokens) and of one app (any token), at most, on this instance. */
  maxPerUser: number;
  maxPerApp: number;
  /** Every connection is pinged this often; one that has not answered by the next ping is cut off. */
  heartbeatMs: number;
}

/**
 * The WebSocket connections of this instance: those still waiting for their `auth` message
 * (capped, so unauthenticated sockets cannot take every connection), and the authenticated ones,
 * counted per user and per app like event streams, pinged by one timer, closed at shutdown.
 *
 * Who is subscribed to which room (presence) is not kept here: every subscription is a LiveStream,
 * registered with OpenStreams (OpenStreams.usersIn), like every SSE stream.
 */
export class LiveConnections {
  private readonly pending = new Set<RegisteredConnection>();
  private readonly open = new Map<RegisteredConnection, string[]>();
  private readonly perKey = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly limits: ConnectionLimits) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  get openCount(): number {
    return this.open.size;
  }

  hasRoomForPending(): boolean {
    return this.pending.size < this.limits.maxPending;
  }

  /** A new connection, not authenticated yet; `remove` it when it closes. */
  add(conn: RegisteredConnection): void {
    this.pending.add(conn);
  }

  /** The connection authenticated as `owner`: counted against its user's and app's caps (429 beyond them). */
  admit(conn: RegisteredConnection, owner: ConnectionOwner): void {
    const appKey = `a\u0000${owner.appId}`;
    const userKey = owner.user === undefined ? null : `u\u0000${owner.appId}\u0000${owner.user}`;
    if ((this.perKey.get(appKey) ?? 0) >= this.limits.maxPerApp) throw Errors.tooManyConnections('app', this.limits.maxPerApp);
    if (userKey !== null && (this.perKey.get(userKey) ?? 0) >= this.limits.maxPerUser)
      throw Errors.tooManyConnections('user', this.limits.maxPerUser);
    const keys = userKey === null ? [appKey] : [appKey, userKey];
    for (const k of keys) this.perKey.set(k, (this.perKey.get(k) ?? 0) + 1);
    this.pending.delete(conn);
    this.open.set(conn, keys);
    this.timer ??= setInterval(() => this.ping(), this.limits.heartbeatMs).unref();
  }

  /** Shutdown: every connection, authenticated or not, is closed with `code`. */
  closeAll(code: number, reason: string): void {
    for (const conn of [...this.pending, ...this.open.keys()]) conn.close(code, reason);
  }

  /** The connection closed: its place (pending, or under its user's and app's caps) is given back. */
  remove(conn: RegisteredConnection): void {
    this.pending.delete(conn);
    const keys = this.open.get(conn);
    if (keys === undefined) return;
    this.open.delete(conn);
    for (const k of keys) {
      const n = (this.perKey.get(k) ?? 1) - 1;
      if (n === 0) this.perKey.delete(k);
      else this.perKey.set(k, n);
    }
    if (this.open.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private ping(): void {
    for (const conn of [...this.open.keys()]) conn.keepalive();
  }
}
