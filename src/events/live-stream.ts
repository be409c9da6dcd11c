import { Errors } from '../domain/errors.js';
import type { StoredEvent } from '../domain/events.js';
import type { EventLog, LiveFeed, RoomStore, Snapshot } from '../store/types.js';
import { RoomStream, type EndReason, type ResumePoint, type RightsCheck, type StreamSink } from './room-stream.js';
import { Deadlines, HeartbeatWheel, type Beating, type Deadline, type Expiring } from './stream-timers.js';

/** Who holds a live stream: the app, and for a user token the user it acts as. */
export interface Subscriber {
  appId: string;
  /** The username a user token acts as; absent for app tokens. */
  user?: string;
  /** Issued user tokens name their user's uuid: a new user of the same name is someone else. */
  uuid?: string;
  /** When the token expires (ms): the stream ends then. */
  expiresAt: number;
}

export interface StreamCaps {
  maxPerUser: number;
  maxPerApp: number;
}

export interface OpenStream {
  /** Shutdown: says goodbye with a reconnect hint, then ends. */
  shutdown(): void;
  /** Looks at the room's log and at the subscriber's rights again. */
  resync(): void;
}

/** What a live stream reads: the room, and the subscriber it reads as. */
export interface StreamPlace {
  appId: string;
  roomId: string;
  /** The user of a user token; absent for app tokens (they make no one online). */
  user?: string;
}

/** A user-token stream's place: what presence counts. */
export type UserPlace = Required<StreamPlace>;

/** Told of every user-token stream as it opens and closes (the presence tracker). */
export interface StreamObserver {
  opened(place: UserPlace, stream: OpenStream): void;
  closed(place: UserPlace, stream: OpenStream): void;
}

/**
 * The live streams of this instance: shutdown ends them with a reconnect hint, a feed that may
 * have dropped events (a Redis reconnect) makes each look at its room's log again, and no user or
 * app holds more than its cap (connections are the one resource a valid token could otherwise
 * take from everyone).
 */
export class OpenStreams {
  /** Each live stream, with the observer told of it when it opened (user-token streams; else null). */
  private readonly open = new Map<OpenStream, StreamObserver | null>();
  private readonly perKey = new Map<string, number>();
  /** `appId NUL roomId` -> user -> its live streams there (SSE and WebSocket alike): what presence reads. */
  private readonly usersByRoom = new Map<string, Map<string, number>>();
  private observer: StreamObserver | null = null;
  private readonly wheels = new Map<number, HeartbeatWheel>();
  /** The token expiries of the live streams (and of the WebSocket connections that hold them). */
  readonly expiries: Deadlines;

  constructor(
    private readonly caps: StreamCaps = { maxPerUser: Infinity, maxPerApp: Infinity },
    clock: () => number = Date.now,
  ) {
    this.expiries = new Deadlines(clock);
  }

  /**
   * Takes a place for `sub`'s stream, or throws 429 when its user or app is at its cap. The place
   * is given back once, by `release` with the same app and user: the LiveStream made for it does
   * that when it stops (holding nothing for it but its StreamPlace), or the caller when it makes none.
   */
  admit(sub: Subscriber): void {
    const appKey = `a\u0000${sub.appId}`;
    const userKey = sub.user === undefined ? null : `u\u0000${sub.appId}\u0000${sub.user}`;
    if ((this.perKey.get(appKey) ?? 0) >= this.caps.maxPerApp) throw Errors.tooManyStreams('app', this.caps.maxPerApp);
    if (userKey !== null && (this.perKey.get(userKey) ?? 0) >= this.caps.maxPerUser)
      throw Errors.tooManyStreams('user', this.caps.maxPerUser);
    this.perKey.set(appKey, (this.perKey.get(appKey) ?? 0) + 1);
    if (userKey !== null) this.perKey.set(userKey, (this.perKey.get(userKey) ?? 0) + 1);
  }

  /** Gives back a place `admit` took for this app and user. */
  release(owner: { appId: string; user?: string | undefined }): void {
    this.unCount(`a\u0000${owner.appId}`);
    if (owner.user !== undefined) this.unCount(`u\u0000${owner.appId}\u0000${owner.user}`);
  }

  private unCount(key: string): void {
    const n = (this.perKey.get(key) ?? 1) - 1;
    if (n === 0) this.perKey.delete(key);
    else this.perKey.set(key, n);
  }

  /** `observer` is told of each user-token stream registered from now on, and of its removal. */
  observe(observer: StreamObserver): void {
    this.observer = observer;
  }

  /** The heartbeat every stream of this period shares (one timer for all of them). */
  heartbeats(periodMs: number): HeartbeatWheel {
    let wheel = this.wheels.get(periodMs);
    if (wheel === undefined) this.wheels.set(periodMs, (wheel = new HeartbeatWheel(periodMs)));
    return wheel;
  }

  /** Registers a live stream; `place` names the room and the user it reads as. `remove` undoes it, with the same place. */
  add(stream: OpenStream, place?: StreamPlace): void {
    const user = place?.user;
    if (place === undefined || user === undefined) {
      this.open.set(stream, null);
      return;
    }
    const room = `${place.appId}\u0000${place.roomId}`;
    let users = this.usersByRoom.get(room);
    if (users === undefined) this.usersByRoom.set(room, (users = new Map()));
    users.set(user, (users.get(user) ?? 0) + 1);
    const observer = this.observer;
    this.open.set(stream, observer);
    observer?.opened({ appId: place.appId, roomId: place.roomId, user }, stream);
  }

  remove(stream: OpenStream, place?: StreamPlace): void {
    const observer = this.open.get(stream);
    if (!this.open.delete(stream)) return;
    const user = place?.user;
    if (place === undefined || user === undefined) return;
    const room = `${place.appId}\u0000${place.roomId}`;
    const users = this.usersByRoom.get(room);
    if (users !== undefined) {
      const n = (users.get(user) ?? 1) - 1;
      if (n > 0) users.set(user, n);
      else if (users.delete(user) && users.size === 0) this.usersByRoom.delete(room);
    }
    observer?.closed({ appId: place.appId, roomId: place.roomId, user }, stream);
  }

  /**
   * The users holding at least one live stream (an SSE stream or a WebSocket subscription) to a
   * room on this instance with their own user token: who is online there, as far as this
   * instance knows (spec section 9, presence).
   */
  usersIn(appId: string, roomId: string): string[] {
    return [...(this.usersByRoom.get(`${appId}\u0000${roomId}`)?.keys() ?? [])];
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const s of [...this.open.keys()]) s.shutdown();
  }

  resyncAll(): void {
    for (const s of [...this.open.keys()]) s.resync();
  }
}

/** What a user's rights are read from. */
type RightsSource = Pick<RoomStore, 'isMember' | 'getUser'>;

/** A user's right to read a room: still a member, and still the user the token was issued to. */
export function userRights(store: RightsSource, appId: string, roomId: string, user: string, uuid: string | undefined): RightsCheck {
  return {
    user,
    async check(): Promise<EndReason | null> {
      if (await store.isMember(appId, roomId, user)) {
        if (uuid === undefined) return null;
        return (await store.getUser(appId, user))?.uuid === uuid ? null : 'user_deleted';
      }
      return (await store.getUser(appId, user)) === null ? 'user_deleted' : 'membership_ended';
    },
  };
}

/** What a transport writes a live stream to: RoomStream's sink, and its heartbeat and goodbye. */
export interface LiveSink extends StreamSink {
  /** Sent every heartbeat; false when the transport is gone or overflowing. */
  heartbeat(): boolean;
  /** Shutdown: say goodbye with a reconnect hint. The stream ends after it. */
  goodbye(): void;
}

export interface LiveStreamOptions {
  store: EventLog & LiveFeed & RightsSource;
  streams: OpenStreams;
  roomId: string;
  subscriber: Subscriber;
  sink: LiveSink;
  heartbeatMs: number;
}

/**
 * One live subscription to one room, as every transport (SSE, WebSocket) runs it: the resume of
 * RoomStream; the subscriber's rights checked when its membership may have changed and at every
 * heartbeat, the stream ended when its token expires; registered with the instance's open streams.
 * The caller admitted it first (OpenStreams.admit); `stop` gives the place back (OpenStreams.release).
 *
 * It is RoomStream's sink (passing what it writes on to the transport's), and its heartbeat and
 * expiry are entries in the open streams' shared timers: an idle stream holds no timer and no
 * closure of its own but the feed's listener.
 */
export class LiveStream implements OpenStream, StreamSink, Beating, Expiring {
  private readonly room: RoomStream;
  private readonly sink: LiveSink;
  private readonly streams: OpenStreams;
  private readonly place: StreamPlace;
  private readonly wheel: HeartbeatWheel;
  private readonly slot: number;
  private readonly expiry: Deadline;
  private stopped = false;

  constructor(o: LiveStreamOptions) {
    const { subscriber: sub } = o;
    this.sink = o.sink;
    this.streams = o.streams;
    const rights = sub.user === undefined ? null : userRights(o.store, sub.appId, o.roomId, sub.user, sub.uuid);
    this.room = new RoomStream(o.store, sub.appId, o.roomId, this, rights);
    this.place = { appId: sub.appId, roomId: o.roomId, user: sub.user };
    this.wheel = o.streams.heartbeats(o.heartbeatMs);
    this.slot = this.wheel.add(this);
    this.expiry = o.streams.expiries.at(sub.expiresAt, this);
    o.streams.add(this, this.place);
  }

  start(since: ResumePoint | undefined): Promise<void> {
    return this.room.start(since);
  }

  /**
   * Ends the stream from the transport's side, telling the subscriber `reason` (a WebSocket whose
   * token expires ends each subscription as `token_expired` before it closes).
   */
  end(reason?: EndReason): void {
    this.room.end(reason);
  }

  /** Ends the stream without a word to the subscriber (its transport closed). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wheel.remove(this, this.slot);
    this.streams.expiries.cancel(this.expiry);
    this.streams.remove(this, this.place);
    this.streams.release(this.place);
    this.room.stop();
  }

  // ---- the shared timers

  /** Each heartbeat also looks at the room's log (an event the live feed lost without a trace reaches the stream by the next one) and at the subscriber's rights. */
  beat(): void {
    if (this.sink.heartbeat()) this.room.resync();
  }

  expire(): void {
    this.room.end('token_expired');
  }

  // ---- OpenStream: what the instance asks of every stream

  shutdown(): void {
    this.sink.goodbye();
    this.room.end();
  }

  resync(): void {
    this.room.resync();
  }

  // ---- StreamSink: what RoomStream writes, passed on to the transport

  event(e: StoredEvent, epoch: string): boolean {
    return this.sink.event(e, epoch);
  }

  snapshot(s: Snapshot, epoch: string): boolean {
    return this.sink.snapshot(s, epoch);
  }

  presence(body: string): boolean {
    return this.sink.presence(body);
  }

  close(reason?: EndReason): void {
    this.stop();
    this.sink.close(reason);
  }

  drained(): Promise<void> | null {
    return this.sink.drained();
  }
}
