import type { FastifyBaseLogger } from 'fastify';
import type { StoredEvent } from '../../domain/events.js';
import { EncodedOnce } from '../../events/encoded-once.js';
import { LiveStream, type LiveSink, type OpenStreams } from '../../events/live-stream.js';
import type { EndReason, ResumePoint } from '../../events/room-stream.js';
import type { StreamOpening } from '../../service/streams.js';
import type { EventLog, LiveFeed, RoomStore, Snapshot } from '../../store/types.js';
import { endMessage, eventMessage, presenceMessage, snapshotMessage, textFrame } from './protocol.js';

export type OpenedStream = Extract<StreamOpening, { status: 'open' }>;

/** What a subscription writes through: its connection. */
export interface SubscriptionHost {
  /** Sends one message; false when the connection is closing or gone, or was just cut off for falling behind. */
  send(text: string): boolean;
  /** Sends one message already framed (a text frame, textFrame()); false as `send`. */
  sendFrame(frame: Buffer): boolean;
  /** A promise when the peer is behind: a catch-up waits for it instead of piling up output. */
  drained(): Promise<void> | null;
  readonly isOpen: boolean;
  /** Shutdown: the connection closes with a reconnect hint. */
  goodbye(): void;
  /** The subscription to `roomId` ended on the server's side: the connection forgets it. */
  ended(roomId: string, sub: Subscription): void;
  /** The connection's logger (its upgrade request's id in every line). */
  readonly log: FastifyBaseLogger;
}

export interface SubscriptionDeps {
  store: EventLog & LiveFeed & Pick<RoomStore, 'isMember' | 'getUser'>;
  streams: OpenStreams;
  /** The subscription looks at its room's log and at its rights this often (LiveStream's heartbeat). */
  heartbeatMs: number;
}

/** A change event's WebSocket frame, made once for every subscription of its room. */
const EVENT_FRAMES = new EncodedOnce((e, epoch) => textFrame(eventMessage(e, epoch)));

/**
 * One room subscribed on a WebSocket: the LiveStream every transport runs (resume, rights checks,
 * token expiry, heartbeat resync, the stream caps), written as WebSocket messages. Its end, when
 * the server ends it, is an `end` message; when the client unsubscribes or the connection closes,
 * it stops without a word. A change event goes out as a frame made once for the room.
 */
export class Subscription implements LiveSink {
  private readonly live: LiveStream;
  private readonly since: ResumePoint | undefined;
  readonly roomId: string;

  constructor(
    private readonly host: SubscriptionHost,
    opening: OpenedStream,
    private readonly appKey: string,
    deps: SubscriptionDeps,
  ) {
    const { roomId, subscriber, since } = opening;
    this.since = since;
    this.roomId = roomId;
    this.live = new LiveStream({ store: deps.store, streams: deps.streams, roomId, subscriber, sink: this, heartbeatMs: deps.heartbeatMs });
  }

  /** Starts sending: call it once the subscribe's reply is out, so the reply comes first. */
  start(): void {
    this.live.start(this.since).catch((err: unknown) => {
      this.host.log.warn({ err }, 'websocket subscription could not start; ended');
      this.live.end();
    });
  }

  /** Ends the subscription and tells the client why. */
  end(reason: EndReason): void {
    this.live.end(reason);
  }

  /** Stops without a word (unsubscribed, or the connection closed). */
  stop(): void {
    this.live.stop();
  }

  // ---- LiveSink: what the LiveStream writes

  event(e: StoredEvent, epoch: string): boolean {
    return this.host.sendFrame(EVENT_FRAMES.get(e, epoch));
  }

  snapshot(s: Snapshot, epoch: string): boolean {
    return this.host.send(snapshotMessage(this.roomId, this.appKey, s, epoch));
  }

  presence(body: string): boolean {
    return this.host.send(presenceMessage(body));
  }

  close(reason?: EndReason): void {
    this.host.ended(this.roomId, this);
    // Gone or cut off: nothing reaches the client, which resumes from its last seq anyway.
    this.host.send(endMessage(this.roomId, reason ?? 'interrupted'));
  }

  drained(): Promise<void> | null {
    return this.host.drained();
  }

  /** The connection's pings keep it alive; each heartbeat only resyncs while it is open. */
  heartbeat(): boolean {
    return this.host.isOpen;
  }

  goodbye(): void {
    this.host.goodbye();
  }
}
