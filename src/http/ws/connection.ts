import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import type { Authenticator } from '../../auth/authenticator.js';
import type { AppRecord } from '../../config/apps.js';
import { ApiError, Errors } from '../../domain/errors.js';
import type { Deadline, Expiring } from '../../events/stream-timers.js';
import { behindOf, writeInTick, type AfterTick } from '../../events/tick-writes.js';
import { memberOf, openContext, type ServiceContext } from '../../service/context.js';
import type { RoomStore } from '../../store/types.js';
import type { Metrics } from '../metrics.js';
import type { HeldRequest } from '../request-log.js';
import type { OpConnection, WsOps } from './ops.js';
import { CloseCode, messageId, replyOk, type AuthMessage, type MessageId } from './protocol.js';
import type { LiveConnections, RegisteredConnection } from './registry.js';
import { SerialQueue, type QueueBounds, type QueueOwner } from './serial-queue.js';
import { Subscription, type OpenedStream, type SubscriptionDeps, type SubscriptionHost } from './subscription.js';

/**
 * What an unauthenticated socket may send before its `auth` message is through: an auth message
 * is a token (at most 2048 characters, auth/token-bounds.ts) in a little JSON.
 */
const PENDING_MAX_BYTES = 16 * 1024;
/** Messages waiting for the op before them: past this, the socket is not read until they are done. */
const MAX_QUEUED = 64;
/** A closed connection whose peer does not answer the close is dropped after this. */
const CLOSE_GRACE_MS = 1000;
/** A close frame's reason is at most 123 bytes (RFC 6455 section 5.5). */
const MAX_REASON_BYTES = 123;

export interface ConnectionLimits {
  /** An unauthenticated socket must send its `auth` message within this (ms). */
  authTimeoutMs: number;
  /** A connection whose client has not taken this many bytes yet is cut off. */
  maxBufferBytes: number;
  /** The largest message (the REST body limit). */
  maxMessageBytes: number;
}

/** What every WebSocket of a route shares: one object, not one a connection. */
export interface ConnectionDeps {
  auth: Authenticator;
  store: Pick<RoomStore, 'getUser' | 'getUserByUuid'>;
  registry: LiveConnections;
  ops: WsOps;
  subscriptions: SubscriptionDeps;
  limits: ConnectionLimits;
  /** Where the connection is counted and logged as a request when it closes. */
  metrics: Metrics;
}

/** The connection of a WebSocket, kept on it for the listeners below (shared by every connection). */
const CONNECTION = Symbol('roomkv.connection');
type Owned = WebSocket & { [CONNECTION]: WsConnection };

/** The queue bounds of every connection with these limits: one object, not one a connection. */
const QUEUE_BOUNDS = new WeakMap<ConnectionLimits, QueueBounds>();
function queueBounds(limits: ConnectionLimits): QueueBounds {
  let bounds = QUEUE_BOUNDS.get(limits);
  if (bounds === undefined) QUEUE_BOUNDS.set(limits, (bounds = { maxTasks: MAX_QUEUED, maxBytes: limits.maxMessageBytes }));
  return bounds;
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function sizeOf(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function closeReason(text: string): string {
  let r = text;
  while (Buffer.byteLength(r) > MAX_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

function isAuthMessage(msg: unknown): msg is AuthMessage {
  return msg !== null && typeof msg === 'object' && (msg as AuthMessage).op === 'auth' && typeof (msg as AuthMessage).token === 'string';
}

type State = 'pending' | 'open' | 'closing' | 'closed';

/**
 * One WebSocket: its authentication (the token of the upgrade request, or a first `auth`
 * message within `authTimeoutMs`), its ops run one at a time in the order sent, its room
 * subscriptions, its token's expiry (every subscription ends as `token_expired`, then the socket
 * closes with 4401), and the bounds on what it may cost: unauthenticated input, output its client
 * does not take (cut off), a peer that stops answering pings (cut off).
 */
export class WsConnection implements RegisteredConnection, SubscriptionHost, OpConnection, Expiring, AfterTick, QueueOwner {
  private state: State = 'pending';
  /** `Bearer <token>`, as the REST calls' header: each op is authorised with it again. */
  private header: string | undefined;
  private authStarted = false;
  /**
   * The room subscriptions, one a room, looked up by a scan: a connection holds few, and a Map's
   * smallest table (about 180 bytes) is more than most connections' whole list.
   */
  private subs: Subscription[] | null = null;
  private readonly queue: SerialQueue;
  private alive = true;
  private authTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private expiry: Deadline | null = null;
  private drain: Promise<void> | null = null;
  /** Set when an op found the token refused: the socket closes after that op's reply. */
  private refused: ApiError | null = null;
  /**
   * Unauthenticated input is bounded whatever its framing: counted on the TCP socket while the
   * socket waits for its `auth` message (made then only: a socket with a token never needs it).
   */
  private countPending: (() => void) | null = null;
  private readonly readAtStart: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly d: ConnectionDeps,
    private readonly app: AppRecord,
    /** The upgrade request, as its last log line needs it (the request itself is let go). */
    private readonly request: HeldRequest,
    /** The upgrade request's `Bearer <token>` (header or `?access_token=`), if it had one. */
    header: string | undefined,
  ) {
    d.registry.add(this);
    this.readAtStart = socket.bytesRead;
    this.queue = new SerialQueue(queueBounds(d.limits), ws, this);
    // The same three functions for every connection: each finds its connection on the socket.
    (ws as Owned)[CONNECTION] = this;
    ws.on('message', WsConnection.onMessage);
    ws.on('pong', WsConnection.onPong);
    ws.on('close', WsConnection.onClose);
    if (header !== undefined) {
      this.authStarted = true;
      this.queue.push(() => this.authenticate(header, undefined), 0);
    } else {
      this.authTimer = setTimeout(() => this.close(CloseCode.unauthorized, 'no auth message in time'), d.limits.authTimeoutMs);
      this.countPending = () => {
        if (this.socket.bytesRead - this.readAtStart > PENDING_MAX_BYTES) this.terminate();
      };
      socket.on('data', this.countPending);
    }
  }

  private static onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    (this as Owned)[CONNECTION].onMessage(data, isBinary);
  }

  private static onPong(this: WebSocket): void {
    (this as Owned)[CONNECTION].alive = true;
  }

  private static onClose(this: WebSocket): void {
    (this as Owned)[CONNECTION].cleanup();
  }

  get isOpen(): boolean {
    return this.state === 'open' && this.ws.readyState === WebSocket.OPEN;
  }

  get log(): FastifyBaseLogger {
    return this.request.log;
  }

  /** An op threw instead of answering (ops answer their own errors): a bug, logged, and the socket closes rather than hang. */
  taskFailed(err: unknown): void {
    this.log.error({ err }, 'websocket message handling failed');
    this.close(CloseCode.internalError, 'internal server error');
  }

  // ---- what ops ask

  async caller(): Promise<ServiceContext> {
    try {
      if (this.header === undefined) throw Errors.tokenExpired();
      return await openContext(this.d.store, this.app, this.d.auth.authenticate(this.header, this.app));
    } catch (err) {
      // The token no longer serves (its user was deleted, say): the op is refused as over REST, then the socket closes.
      if (err instanceof ApiError && err.status === 401) this.refused = err;
      throw err;
    }
  }

  isSubscribed(roomId: string): boolean {
    return this.subscriptionTo(roomId) !== undefined;
  }

  subscribe(opening: OpenedStream): Subscription {
    const sub = new Subscription(this, opening, this.app.appKey, this.d.subscriptions);
    // Closed while the subscribe was under way: its place is given back at once.
    if (this.state !== 'open') sub.stop();
    else if (this.subs === null) this.subs = [sub];
    else this.subs.push(sub);
    return sub;
  }

  unsubscribe(roomId: string): void {
    const sub = this.subscriptionTo(roomId);
    if (sub === undefined) return;
    sub.stop();
    this.forget(sub);
  }

  // ---- what subscriptions ask

  /** Sends one message, unless the client is too far behind: then it is cut off, as an SSE reader is. */
  send(text: string): boolean {
    if (!this.keepsUp()) return false;
    this.ws.send(text);
    return true;
  }

  /**
   * Sends a frame made once for many connections (textFrame()), written to the socket as it is
   * with the rest of the tick's (writeInTick): no framing per connection. Safe beside ws's own
   * sends because ws queues nothing here: it queues only while it compresses (perMessageDeflate is
   * off, routes.ts) or reads a Blob (none is sent), and writes every other frame to the socket at
   * once, so the order holds.
   */
  sendFrame(frame: Buffer): boolean {
    if (!this.keepsUp()) return false;
    writeInTick(this.socket, frame, this);
    return true;
  }

  /** The bound again once the tick's frames are offered to the kernel (the last burst counts too). */
  afterTick(): void {
    this.keepsUp();
  }

  /** Whether the connection is open and its client not too far behind; one that is gets cut off. */
  private keepsUp(): boolean {
    if (!this.isOpen) return false;
    // What this tick gave the socket is not behind yet: it is offered to the kernel at the tick's end.
    const behind = this.ws.bufferedAmount - this.socket.writableLength + behindOf(this.socket);
    if (behind <= this.d.limits.maxBufferBytes) return true;
    this.log.warn({ buffered: behind }, 'websocket client too slow, disconnected');
    this.terminate();
    return false;
  }

  drained(): Promise<void> | null {
    const s = this.socket;
    if (!this.isOpen || !s.writableNeedDrain) return null;
    // One wait for every subscription catching up at once.
    this.drain ??= new Promise<void>((resolve) => {
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        this.drain = null;
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
    return this.drain;
  }

  goodbye(): void {
    this.close(CloseCode.serviceRestart, 'server shutting down, reconnect');
  }

  ended(roomId: string, sub: Subscription): void {
    if (sub.roomId === roomId) this.forget(sub);
  }

  private subscriptionTo(roomId: string): Subscription | undefined {
    return this.subs?.find((s) => s.roomId === roomId);
  }

  private forget(sub: Subscription): void {
    const i = this.subs?.indexOf(sub) ?? -1;
    if (i >= 0) this.subs!.splice(i, 1);
  }

  // ---- what the registry asks

  keepalive(): void {
    if (!this.isOpen) return;
    if (!this.alive) {
      this.log.info('websocket peer did not answer a ping, disconnected');
      this.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.stopSubscriptions();
    this.ws.close(code, closeReason(reason));
    this.graceTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  // ---- input

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.alive = true;
    if (isBinary) {
      this.close(CloseCode.unsupportedData, 'JSON text frames only');
      return;
    }
    const bytes = sizeOf(data);
    if (!this.authStarted) {
      this.authStarted = true;
      if (bytes > PENDING_MAX_BYTES) {
        this.close(CloseCode.unauthorized, 'expected {"op":"auth","token":"..."} first');
        return;
      }
      const text = textOf(data);
      this.queue.push(() => this.firstMessage(text), bytes);
      return;
    }
    const text = textOf(data);
    this.queue.push(() => this.handle(text), bytes);
  }

  private async firstMessage(text: string): Promise<void> {
    if (this.state !== 'pending') return;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined; // not JSON: not an auth message either
    }
    if (!isAuthMessage(msg)) {
      this.close(CloseCode.unauthorized, 'expected {"op":"auth","token":"..."} first');
      return;
    }
    await this.authenticate(`Bearer ${msg.token}`, messageId((msg as { id?: unknown }).id) ?? null);
  }

  private async handle(text: string): Promise<void> {
    // Closed meanwhile, or queued behind an auth that failed.
    if (this.state !== 'open') return;
    const { reply, after } = await this.d.ops.run(this, text);
    if (this.send(reply)) after?.();
    if (this.refused !== null) this.close(CloseCode.unauthorized, this.refused.description);
  }

  // ---- authentication and its end

  /** Verifies the token as a REST call would; `replyTo` is the auth message's id (none for a token in the request). */
  private async authenticate(header: string, replyTo: MessageId | undefined): Promise<void> {
    if (this.state !== 'pending') return;
    try {
      const principal = this.d.auth.authenticate(header, this.app);
      const ctx = await openContext(this.d.store, this.app, principal);
      if (this.state !== 'pending') return;
      this.d.registry.admit(this, { appId: this.app.appId, user: memberOf(ctx) });
      this.header = header;
      this.state = 'open';
      this.stopPendingBounds();
      this.expiry = this.d.subscriptions.streams.expiries.at(principal.expiresAt, this);
      if (replyTo !== undefined) this.send(replyOk(replyTo, JSON.stringify({ user: ctx.actor ?? null, expiresAt: principal.expiresAt })));
    } catch (err) {
      if (!(err instanceof ApiError)) this.log.error({ err }, 'websocket authentication failed');
      const api = err instanceof ApiError ? err : null;
      const status = api?.status ?? 500;
      const code =
        status === 401 || status === 403 ? CloseCode.unauthorized : status === 429 ? CloseCode.tooManyConnections : CloseCode.internalError;
      this.close(code, api?.description ?? 'internal server error');
    }
  }

  /** The token expired: every subscription ends as `token_expired`, as an SSE stream does, then the socket closes. */
  expire(): void {
    for (const sub of [...(this.subs ?? [])]) sub.end('token_expired');
    this.close(CloseCode.unauthorized, Errors.tokenExpired().description);
  }

  // ---- the end

  private terminate(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.stopSubscriptions();
    this.ws.terminate();
  }

  private stopSubscriptions(): void {
    const subs = this.subs ?? [];
    this.subs = null;
    for (const sub of subs) sub.stop();
  }

  private stopPendingBounds(): void {
    if (this.authTimer !== null) clearTimeout(this.authTimer);
    this.authTimer = null;
    if (this.countPending !== null) this.socket.off('data', this.countPending);
    this.countPending = null;
  }

  private cleanup(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopSubscriptions();
    this.stopPendingBounds();
    if (this.expiry !== null) this.d.subscriptions.streams.expiries.cancel(this.expiry);
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.queue.clear();
    this.d.registry.remove(this);
    this.request.finished(this.d.metrics, 101);
  }
}
