import { Connection } from './connection.js';
import { Emitter, throwLater } from './emitter.js';
import { Room } from './room.js';
import { webSocketTransport, type Transport, type WebSocketConstructor } from './socket.js';
import { TokenKeeper } from './tokens.js';
import type { ChatroomEvent, ConnectionStatus, EventHandlers, StatusChange, TokenResult } from './types.js';
import { wxTransport, type WxLike } from './wx.js';

export interface ClientOptions {
  /** roomkv's base URL (`https://kv.example.com`), or several equivalent instances to fail over between. */
  baseUrl: string | readonly string[];
  /** The app, as `org` and `app` (the app key `org#app`) ... */
  org?: string;
  app?: string;
  /** ... or as its App ID (routes under `/app-id/{appId}`). */
  appId?: string;
  /** A fixed token (a 007 token or one issued by roomkv's `/token`). */
  token?: string;
  /**
   * Asked for a token when connecting, when the server refuses one, and before the one it gave
   * expires: `refreshBeforeMs` before the `expiresAt` it answered with the token (ms since the
   * epoch), or for a bare token, before the expiry the server states when it accepts the token.
   */
  getToken?: () => Promise<TokenResult> | TokenResult;
  /** Who writes: the `{username}` of set and delete. A user token's own user; an app token's choice. */
  user?: string;
  /** The WebSocket class to use where there is no global one (Node 20: the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /** A transport of your own (tests, other hosts); wins over `WebSocket`. */
  transport?: Transport;
  /** Called as the official web SDK's handler of the same name is: code written for it ports unchanged. */
  onChatroomEvent?: (e: ChatroomEvent) => void;
  /** First reconnect delay (doubling, jittered, up to `maxReconnectDelayMs`). Default 250. */
  reconnectDelayMs?: number;
  /** Default 10,000. */
  maxReconnectDelayMs?: number;
  /** A ping is sent this often; a link that does not answer within `pingTimeoutMs` is replaced. Defaults 20,000 and 10,000. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** A call with no answer within this fails with `timeout`. Default 15,000. */
  requestTimeoutMs?: number;
  /** Ask `getToken` this long before the token's `expiresAt` (at most half its life). Default 60,000. */
  refreshBeforeMs?: number;
}

export interface ClientEvents {
  status: (s: StatusChange) => void;
  /** Something went wrong that no call is waiting to hear: an unreadable message, a getToken that failed, a listener that threw. */
  error: (err: unknown) => void;
}

/** The WebSocket URL of the app's `/ws` route on `base`. No `URL` class: mini-programs may lack one. */
function wsUrl(base: string, prefix: string): string {
  const b = base.replace(/\/+$/, '');
  const m = /^(https?|wss?):\/\//i.exec(b);
  if (m === null) throw new TypeError(`roomkv client: baseUrl must start with http://, https://, ws:// or wss://: ${base}`);
  const scheme = m[1]!.toLowerCase();
  const ws = scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws';
  return `${ws}://${b.slice(m[0].length)}${prefix}/ws`;
}

function appPrefix(o: ClientOptions): string {
  if (o.appId !== undefined) return `/app-id/${encodeURIComponent(o.appId)}`;
  if (o.org === undefined || o.app === undefined) throw new TypeError('roomkv client: give `org` and `app`, or `appId`');
  return `/${encodeURIComponent(o.org)}/${encodeURIComponent(o.app)}`;
}

function pickTransport(o: ClientOptions): Transport {
  if (o.transport !== undefined) return o.transport;
  if (o.WebSocket !== undefined) return webSocketTransport(o.WebSocket);
  const g = globalThis as { WebSocket?: WebSocketConstructor; wx?: WxLike };
  if (typeof g.WebSocket === 'function') return webSocketTransport(g.WebSocket);
  if (typeof g.wx?.connectSocket === 'function') return wxTransport(g.wx);
  throw new TypeError('roomkv client: no WebSocket here; pass {WebSocket} (on Node 20, the ws package) or {transport}');
}

/**
 * A client of one roomkv app: one connection (opened at first use), any number of rooms on it.
 * `room(id)` gives the live replica of a room; its `set`, `delete` and `get` answer as the REST
 * calls do.
 */
export class RoomkvClient extends Emitter<ClientEvents> {
  private readonly connection: Connection;
  private readonly rooms = new Map<string, Room>();
  private readonly handlers = new Map<string, EventHandlers>();
  private readonly user: string | undefined;

  constructor(o: ClientOptions) {
    super((err) => this.report(err));
    const bases = typeof o.baseUrl === 'string' ? [o.baseUrl] : [...o.baseUrl];
    if (bases.length === 0) throw new TypeError('roomkv client: baseUrl is empty');
    const prefix = appPrefix(o);
    const urls = bases.map((b) => wsUrl(b, prefix));
    this.user = o.user;
    if (o.onChatroomEvent !== undefined) this.handlers.set('', { onChatroomEvent: o.onChatroomEvent });
    const tokens = new TokenKeeper(
      { token: o.token, getToken: o.getToken, refreshBeforeMs: o.refreshBeforeMs ?? 60_000, now: () => Date.now() },
      () => this.connection.renewToken(),
    );
    this.connection = new Connection(
      {
        urls,
        transport: pickTransport(o),
        tokens,
        initialDelayMs: o.reconnectDelayMs ?? 250,
        maxDelayMs: o.maxReconnectDelayMs ?? 10_000,
        pingIntervalMs: o.pingIntervalMs ?? 20_000,
        pingTimeoutMs: o.pingTimeoutMs ?? 10_000,
        requestTimeoutMs: o.requestTimeoutMs ?? 15_000,
      },
      {
        status: (s) => {
          // The connection closes by itself when a refused token cannot be replaced: the rooms end with it.
          if (s.status === 'closed') for (const room of [...this.rooms.values()]) room.close();
          this.emit('status', s);
        },
        error: (err) => this.report(err),
      },
    );
  }

  get status(): ConnectionStatus {
    return this.connection.status;
  }

  /** The live replica of chatroom `id`; the same object while it is open. Subscribes at once. */
  room(id: string): Room {
    const open = this.rooms.get(id);
    if (open !== undefined && open.status !== 'ended') return open;
    if (this.connection.status === 'closed') throw new Error('roomkv client: closed');
    const connection = this.connection;
    const room: Room = new Room(id, {
      whoami: async () => this.user ?? (await connection.whoami()),
      fault: (err) => this.report(err),
      attach: (rid, sink) => connection.attach(rid, sink),
      detach: (rid) => {
        connection.detach(rid);
        if (this.rooms.get(rid) === room) this.rooms.delete(rid);
      },
      request: (body, idempotent) => connection.request(body, idempotent),
      chatroomEvent: (e) => this.dispatch(e),
    });
    this.rooms.set(id, room);
    return room;
  }

  /** As the official web SDK's `conn.addEventHandler(id, {onChatroomEvent})`. */
  addEventHandler(id: string, handlers: EventHandlers): void {
    this.handlers.set(`h:${id}`, handlers);
  }

  removeEventHandler(id: string): void {
    this.handlers.delete(`h:${id}`);
  }

  /** Closes the connection and every room; pending calls fail with `closed`. */
  close(): void {
    for (const room of [...this.rooms.values()]) room.close();
    this.connection.close();
  }

  private dispatch(e: ChatroomEvent): void {
    for (const h of [...this.handlers.values()]) {
      if (h.onChatroomEvent === undefined) continue;
      try {
        h.onChatroomEvent(e);
      } catch (err) {
        this.report(err);
      }
    }
  }

  private report(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else throwLater(err);
  }
}

export function createClient(options: ClientOptions): RoomkvClient {
  return new RoomkvClient(options);
}
