// An in-memory roomkv speaking the WebSocket protocol of spec section 9 (as src/http/ws does:
// auth first with its reply, ops one at a time, a subscribe's reply before its snapshot or replay,
// events with their epoch), behind the client's Transport interface. Tests script the faults a
// network and a server can make: a socket dropped, a silent link, a lost event, a new epoch, a
// log that no longer reaches back, a refused token.
import type { Socket, SocketEvents, Transport } from '../../src/client/index.js';

interface FakeRoom {
  attrs: Map<string, { value: string; owner: string }>;
  log: Array<Record<string, unknown>>;
  /** The log holds events after this seq only. */
  trimmedTo: number;
  seq: number;
}

export class FakeSocket implements Socket {
  readonly sent: any[] = [];
  closed: { code: number; reason: string } | null = null;
  authedAs: string | null = null;
  token: string | null = null;
  /** Rooms subscribed on this socket. */
  readonly subs = new Set<string>();
  /** While true nothing reaches the client and nothing is answered (a link that went silent). */
  silent = false;
  /** Messages held while the server is busy with a slow op (ops run in order). */
  held: any[] | null = null;

  constructor(
    readonly url: string,
    private readonly on: SocketEvents,
    private readonly server: FakeRoomkv,
  ) {}

  send(text: string): void {
    if (this.closed) throw new Error('send on a closed socket');
    const m = JSON.parse(text);
    this.sent.push(m);
    if (!this.silent) this.server.receive(this, m);
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = { code, reason };
    // A real close arrives after a round trip.
    setTimeout(() => this.on.close(code, reason), 1);
  }

  private readonly outbox: string[] = [];

  /** The server's side: one message to the client, delivered in order on a later turn, as a network would. */
  push(m: unknown): void {
    if (this.closed || this.silent) return;
    this.outbox.push(JSON.stringify(m));
    if (this.outbox.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    for (const text of this.outbox.splice(0)) if (!this.closed) this.on.message(text);
  }

  /** The server (or the network) ends the socket. */
  drop(code = 1006, reason = ''): void {
    if (this.closed) return;
    this.closed = { code, reason };
    this.on.close(code, reason);
  }

  open(): void {
    this.on.open();
  }
}

export class FakeRoomkv {
  readonly sockets: FakeSocket[] = [];
  readonly rooms = new Map<string, FakeRoom>();
  epoch = 'e1';
  /** Tokens the server refuses (4401 right after auth). */
  readonly refused = new Set<string>();
  /** URLs that refuse connections (closed 1006 before open). */
  readonly down = new Set<string>();
  /** The auth reply's expiresAt. */
  expiresAt = Date.now() + 3_600_000;
  /** Seqs that the live feed loses for every subscriber (the log still has them). */
  readonly lose = new Set<number>();
  /** The next subscribe takes this long (ms) before it runs; what is sent meanwhile waits behind it. */
  slowSubscribe = 0;

  readonly transport: Transport = (url, on) => {
    const s = new FakeSocket(url, on, this);
    this.sockets.push(s);
    setTimeout(() => (this.down.has(url) ? s.drop(1006, 'refused') : s.open()), 1);
    return s;
  };

  get last(): FakeSocket {
    const s = this.sockets.at(-1);
    if (s === undefined) throw new Error('no socket yet');
    return s;
  }

  live(): FakeSocket[] {
    return this.sockets.filter((s) => s.closed === null);
  }

  room(id: string): FakeRoom {
    let r = this.rooms.get(id);
    if (r === undefined) {
      r = { attrs: new Map(), log: [], trimmedTo: 0, seq: 0 };
      this.rooms.set(id, r);
    }
    return r;
  }

  /** A write as the store makes it: one event, to the log and every subscriber. */
  write(roomId: string, from: string, attributes: Record<string, string> | string[], reason?: string): Record<string, unknown> {
    const r = this.room(roomId);
    const update = !Array.isArray(attributes);
    if (update) for (const [k, v] of Object.entries(attributes)) r.attrs.set(k, { value: v, owner: from });
    else for (const k of attributes) r.attrs.delete(k);
    r.seq += 1;
    const e = {
      id: `${roomId}:${r.seq}`,
      seq: r.seq,
      chatroomId: roomId,
      app: 'org#app',
      timestamp: Date.now(),
      operation: update ? 'updateChatRoomAttributes' : 'removeChatRoomAttributes',
      from,
      reason: reason ?? (update ? 'set' : 'delete'),
      attributes,
    };
    r.log.push(e);
    if (!this.lose.has(r.seq)) for (const s of this.live()) if (s.subs.has(roomId)) s.push(this.eventMessage(e));
    return e;
  }

  /** The store is wiped and restored elsewhere: a new epoch, the same room with other seqs. */
  newEpoch(epoch: string): void {
    this.epoch = epoch;
    for (const r of this.rooms.values()) {
      r.log = [];
      r.trimmedTo = r.seq;
    }
  }

  /** The log keeps nothing older than now. */
  trim(roomId: string): void {
    const r = this.room(roomId);
    r.log = [];
    r.trimmedTo = r.seq;
  }

  eventMessage(e: Record<string, unknown>): Record<string, unknown> {
    return { type: 'event', epoch: this.epoch, ...e };
  }

  subscribeCount(room: string): number {
    return this.sockets.flatMap((s) => s.sent).filter((m) => m.op === 'subscribe' && m.room === room).length;
  }

  receive(s: FakeSocket, m: any): void {
    if (s.held !== null) {
      s.held.push(m);
      return;
    }
    if (m.op === 'subscribe' && this.slowSubscribe > 0) {
      const ms = this.slowSubscribe;
      this.slowSubscribe = 0;
      s.held = [];
      setTimeout(() => {
        const later = s.held ?? [];
        s.held = null;
        for (const next of [m, ...later]) this.receive(s, next);
      }, ms);
      return;
    }
    const reply = (data: unknown) => s.push({ type: 'reply', id: m.id, status: 200, data });
    const error = (status: number, err: string, description: string) =>
      s.push({ type: 'reply', id: m.id, status, error: err, error_description: description });
    if (s.authedAs === null) {
      if (m.op !== 'auth' || this.refused.has(m.token)) {
        s.drop(4401, 'Unable to authenticate');
        return;
      }
      s.authedAs = m.token.startsWith('user:') ? m.token.slice(5) : '';
      s.token = m.token;
      if (m.id !== undefined) reply({ user: s.authedAs || null, expiresAt: this.expiresAt });
      return;
    }
    switch (m.op) {
      case 'ping':
        return reply({ timestamp: Date.now() });
      case 'subscribe': {
        if (s.subs.has(m.room)) return error(400, 'illegal_argument', `chatroom ${m.room} is already subscribed on this connection`);
        if (m.room === 'missing') return error(404, 'resource_not_found', `grpID ${m.room} does not exist!`);
        s.subs.add(m.room);
        reply({ chatroomId: m.room });
        this.start(s, m.room, m.since);
        return;
      }
      case 'unsubscribe':
        s.subs.delete(m.room);
        return reply({ chatroomId: m.room });
      case 'set': {
        if (m.user === 'nobody') return error(401, 'unauthorized', 'user is not in chatroom');
        const e = this.write(m.room, m.user, m.metaData, m.forced ? 'forced_set' : 'set');
        return reply({ successKeys: Object.keys(e.attributes as object), errorKeys: {} });
      }
      case 'delete': {
        const present = (m.keys as string[]).filter((k) => this.room(m.room).attrs.has(k));
        const errorKeys = Object.fromEntries(
          (m.keys as string[]).filter((k) => !present.includes(k)).map((k) => [k, `key '${k}' does not exist`]),
        );
        if (present.length > 0) this.write(m.room, m.user, present, m.forced ? 'forced_delete' : 'delete');
        return reply({ successKeys: present, errorKeys });
      }
      case 'get': {
        const r = this.room(m.room);
        const keys: string[] = m.keys ?? [...r.attrs.keys()];
        return reply(Object.fromEntries(keys.filter((k) => r.attrs.has(k)).map((k) => [k, r.attrs.get(k)!.value])));
      }
    }
  }

  /** A subscription's start, as RoomStream does it: a snapshot, or the log after `since`. */
  private start(s: FakeSocket, roomId: string, since: unknown): void {
    const r = this.room(roomId);
    let seq: number | undefined;
    let epoch: string | undefined;
    if (typeof since === 'number') seq = since;
    else if (typeof since === 'string') {
      const [a, b] = since.split('-');
      seq = Number(a);
      epoch = b;
    }
    const snapshot = () =>
      s.push({
        type: 'snapshot',
        chatroomId: roomId,
        seq: r.seq,
        epoch: this.epoch,
        app: 'org#app',
        attributes: Object.fromEntries([...r.attrs].map(([k, a]) => [k, a.value])),
      });
    if (seq === undefined || (epoch !== undefined && epoch !== this.epoch) || seq > r.seq || seq < r.trimmedTo) return snapshot();
    for (const e of r.log) if ((e.seq as number) > seq) s.push(this.eventMessage(e));
  }
}
