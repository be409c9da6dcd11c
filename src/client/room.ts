import { snapshotDiff, toChatroomEvents } from './chatroom-event.js';
import { Emitter, type ListenerFault } from './emitter.js';
import { RoomkvError } from './errors.js';
import { eventOf, sinceOf, type EventMessage, type RoomMessage, type SnapshotMessage } from './protocol.js';
import type {
  Attribute,
  ChangeEvent,
  ChatroomEvent,
  EndReason,
  GetOptions,
  KeyOutcomes,
  PresenceChange,
  RoomStatus,
  SetOptions,
  SnapshotInfo,
  WriteOptions,
} from './types.js';

export interface RoomEvents {
  /** An event was applied to the replica (`room.attributes` already shows it). */
  change: (e: ChangeEvent) => void;
  /** The replica was (re)built from a snapshot. */
  snapshot: (s: SnapshotInfo) => void;
  /** After every change and snapshot: the one to re-render on. */
  update: () => void;
  presence: (p: PresenceChange) => void;
  status: (s: RoomStatus) => void;
  /** The room's replica stopped for good; `room.attributes` keeps what it last held. */
  end: (reason: EndReason) => void;
}

/** What a room's subscription is told by the connection that carries it. */
export interface RoomSink {
  /** Where to resume: absent before the first snapshot. */
  resumePoint(): number | string | undefined;
  /** A (re)subscribe was sent. */
  subscribing(): void;
  /** The server accepted the subscribe. */
  subscribed(): void;
  /** The server refused it: true to try again later (busy, rate-limited), false when the room ended. */
  refused(err: RoomkvError): boolean;
  /**
   * A message for this room: `gap` when the replica needs a resubscribe from its resume point,
   * `expired` when the server ended the subscription because the token expired.
   */
  handle(m: RoomMessage): 'ok' | 'gap' | 'expired';
  /** The link carrying the subscription is gone; the connection resubscribes on the next. */
  lost(): void;
}

/** What a room needs from its client. */
export interface RoomHost {
  /** Who writes when a call names no user: the client's `user`, else the user the server authenticated. */
  whoami(): Promise<string | undefined>;
  readonly fault: ListenerFault;
  attach(id: string, sink: RoomSink): void;
  detach(id: string): void;
  request(body: Record<string, unknown>, idempotent: boolean): Promise<unknown>;
  chatroomEvent(e: ChatroomEvent): void;
}

/** Reasons of an `end` message that a new subscription cannot fix. */
const FINAL = new Set(['room_destroyed', 'membership_ended', 'user_deleted']);

/** A snapshot's entry: a value, or (spec section 10's detail) an object with one. */
function attributeOf(v: unknown): Attribute | null {
  if (typeof v === 'string') return Object.freeze({ value: v });
  if (typeof v !== 'object' || v === null || typeof (v as { value?: unknown }).value !== 'string') return null;
  const d = v as Attribute;
  const a: Attribute = { value: d.value };
  if (typeof d.owner === 'string') a.owner = d.owner;
  if (typeof d.revision === 'number') a.revision = d.revision;
  if (d.autoDelete === 'DELETE' || d.autoDelete === 'NO_DELETE') a.autoDelete = d.autoDelete;
  if (typeof d.expiresAt === 'number' || d.expiresAt === null) a.expiresAt = d.expiresAt;
  return Object.freeze(a);
}

/**
 * A live replica of one chatroom's attributes. It applies the room's events in seq order, each
 * exactly once: an event it already has is skipped, one that skips ahead (a gap) makes it
 * resubscribe from its last seq, and a snapshot (first, or when the server could not resume it:
 * log too short, another epoch) rebuilds it. Reads are local (`attributes`, `value`); `set`,
 * `delete` and `get` go to the server and answer as the REST calls do.
 */
export class Room extends Emitter<RoomEvents> {
  private attrs = new Map<string, Attribute>();
  private lastSeq = 0;
  private lastEpoch: string | undefined;
  private synced = false;
  private accepted = false;
  private resyncing = false;
  private state: RoomStatus = 'subscribing';
  private ended: EndReason | undefined;
  private readonly waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    readonly id: string,
    private readonly host: RoomHost,
  ) {
    super(host.fault);
    host.attach(id, {
      resumePoint: () => (this.synced ? sinceOf(this.lastSeq, this.lastEpoch) : undefined),
      subscribing: () => {
        this.accepted = false;
        this.setStatus('subscribing');
      },
      subscribed: () => {
        this.accepted = true;
        this.resyncing = false;
        if (this.synced) this.setStatus('live');
      },
      refused: (err) => this.refused(err),
      handle: (m) => this.handle(m),
      lost: () => {
        this.accepted = false;
        this.resyncing = false;
        this.setStatus('subscribing');
      },
    });
  }

  /** The replica: key -> value, owner and revision as far as known (see Attribute). */
  get attributes(): ReadonlyMap<string, Attribute> {
    return this.attrs;
  }

  /** The seq of the last event applied or of the snapshot the replica was built from (0 before). */
  get seq(): number {
    return this.lastSeq;
  }

  /** The store history the seq belongs to, when the server names it. */
  get epoch(): string | undefined {
    return this.lastEpoch;
  }

  get status(): RoomStatus {
    return this.state;
  }

  get endReason(): EndReason | undefined {
    return this.ended;
  }

  value(key: string): string | undefined {
    return this.attrs.get(key)?.value;
  }

  /** The replica as a plain `{key: value}` map, as a get answers. */
  values(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, a] of this.attrs) out[k] = a.value;
    return out;
  }

  /** Resolves once the replica holds the room (its first snapshot); rejects if the room ends first. */
  ready(): Promise<this> {
    if (this.synced) return Promise.resolve(this);
    if (this.ended !== undefined) return Promise.reject(new RoomkvError(0, 'ended', `room ${this.id}: ${this.ended}`));
    return new Promise((resolve, reject) => this.waiting.push({ resolve: () => resolve(this), reject }));
  }

  /** Sets keys (spec section 5; `forced` for the forced call). Answers the per-key outcomes. */
  async set(metaData: Record<string, string>, opts: SetOptions = {}): Promise<KeyOutcomes> {
    const body: Record<string, unknown> = { ...opts.extra, op: 'set', room: this.id, user: await this.writer(opts), metaData };
    if (opts.autoDelete !== undefined) body.autoDelete = opts.autoDelete;
    if (opts.forced !== undefined) body.forced = opts.forced;
    return (await this.host.request(body, false)) as KeyOutcomes;
  }

  /** Deletes keys (spec section 5; `forced` for the forced call). Answers the per-key outcomes. */
  async delete(keys: string[], opts: WriteOptions = {}): Promise<KeyOutcomes> {
    const body: Record<string, unknown> = { ...opts.extra, op: 'delete', room: this.id, user: await this.writer(opts), keys };
    if (opts.forced !== undefined) body.forced = opts.forced;
    return (await this.host.request(body, false)) as KeyOutcomes;
  }

  /** Reads from the server (not the replica): the listed keys that exist, or every key. */
  get(keys?: string[], opts: GetOptions = {}): Promise<Record<string, string>> {
    const body: Record<string, unknown> = { ...opts.extra, op: 'get', room: this.id };
    if (keys !== undefined) body.keys = keys;
    return this.host.request(body, true) as Promise<Record<string, string>>;
  }

  /** Stops following the room. The replica keeps what it holds. */
  close(): void {
    this.end('closed');
  }

  private async writer(opts: WriteOptions): Promise<string> {
    const user = opts.user ?? (await this.host.whoami());
    if (user === undefined) throw new TypeError('roomkv client: a write needs a user: createClient({user}) or {user} on the call');
    return user;
  }

  private handle(m: RoomMessage): 'ok' | 'gap' | 'expired' {
    if (this.ended !== undefined) return 'ok';
    switch (m.type) {
      case 'snapshot':
        this.applySnapshot(m);
        return 'ok';
      case 'event':
        return this.applyEvent(m);
      case 'presence': {
        const { type: _type, ...presence } = m;
        this.emit('presence', presence);
        return 'ok';
      }
      case 'end': {
        const reason = m.reason ?? 'interrupted';
        if (reason === 'token_expired') {
          this.accepted = false;
          this.setStatus('subscribing');
          return 'expired';
        }
        if (FINAL.has(reason)) {
          this.end(reason);
          return 'ok';
        }
        // `interrupted` (the server's store failed, or this client fell too far behind): resume from the last seq
        this.resyncing = true;
        return 'gap';
      }
    }
  }

  private applySnapshot(m: SnapshotMessage): void {
    const before = this.synced ? this.attrs : null;
    const next = new Map<string, Attribute>();
    for (const [k, v] of Object.entries(m.attributes)) {
      const a = attributeOf(v);
      if (a !== null) next.set(k, a);
    }
    this.attrs = next;
    this.lastSeq = m.seq;
    this.lastEpoch = m.epoch;
    this.synced = true;
    this.resyncing = false;
    this.emit('snapshot', { chatroomId: this.id, seq: m.seq, epoch: m.epoch, first: before === null });
    // Code written for the official SDK learns of changes only from events: a reset tells it the difference.
    if (before !== null) for (const e of snapshotDiff(this.id, before, next)) this.host.chatroomEvent(e);
    this.emit('update');
    if (this.accepted) this.setStatus('live');
    for (const w of this.waiting.splice(0)) w.resolve();
  }

  private applyEvent(m: EventMessage): 'ok' | 'gap' {
    if (!this.synced) return 'ok';
    if (m.epoch !== undefined && this.lastEpoch !== undefined && m.epoch !== this.lastEpoch) return this.gap();
    if (m.seq <= this.lastSeq) return 'ok';
    if (m.seq !== this.lastSeq + 1) return this.gap();
    if (this.lastEpoch === undefined) this.lastEpoch = m.epoch;
    const e = eventOf(m);
    if (Array.isArray(e.attributes)) {
      for (const k of e.attributes) this.attrs.delete(k);
    } else {
      for (const [k, value] of Object.entries(e.attributes)) this.attrs.set(k, Object.freeze({ value, owner: e.from, revision: e.seq }));
    }
    this.lastSeq = e.seq;
    this.emit('change', e);
    for (const c of toChatroomEvents(e)) this.host.chatroomEvent(c);
    this.emit('update');
    if (e.reason === 'room_destroyed') this.end('room_destroyed');
    return 'ok';
  }

  /** One resubscribe at a time: what arrives meanwhile is applied if it is next, else waits for it. */
  private gap(): 'ok' | 'gap' {
    if (this.resyncing) return 'ok';
    this.resyncing = true;
    return 'gap';
  }

  private refused(err: RoomkvError): boolean {
    if (err.status === 429 || err.status >= 500 || err.status === 0) return true;
    this.end(err.status === 404 ? 'not_found' : err.status === 401 || err.status === 403 ? 'forbidden' : err.error);
    return false;
  }

  private end(reason: EndReason): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.host.detach(this.id);
    this.setStatus('ended');
    for (const w of this.waiting.splice(0)) w.reject(new RoomkvError(0, 'ended', `room ${this.id}: ${reason}`));
    this.emit('end', reason);
  }

  private setStatus(s: RoomStatus): void {
    if (this.state === s || this.state === 'ended') return;
    this.state = s;
    this.emit('status', s);
  }
}
