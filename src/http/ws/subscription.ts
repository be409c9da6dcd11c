import type { FastifyBaseLogger } from 'fastify';
import { LiveStream, type OpenStreams } from '../../events/live-stream.js';
import type { EndReason, ResumePoint, StreamSink } from '../../events/room-stream.js';
import type { StreamOpening } from '../../service/streams.js';
import type { EventLog, LiveFeed, RoomStore } from '../../store/types.js';
import { endMessage, eventMessage, presenceMessage, snapshotMessage } from './protocol.js';

export type OpenedStream = Extract<StreamOpening, { status: 'open' }>;

/** What a subscription writes through: its connection. */
export interface SubscriptionHost {
  /** Sends one message; false when the connection is closing or gone, or was just cut off for falling behind. */
  send(text: string): boolean;
  /** A promise when the peer is behind: a catch-up waits for it instead of piling up output. */
  drained(): Promise<void> | null;
  readonly isOpen: boolean;
  /** Shutdown: the connection closes with a reconnect hint. */
  goodbye(): void;
  /** The subscription to `roomId` ended on the server's side: the connection forgets it. */
  ended(roomId: string, sub: Subscription): void;
}

export interface SubscriptionDeps {
  store: EventLog & LiveFeed & Pick<RoomStore, 'isMember' | 'getUser'>;
  streams: OpenStreams;
  /** The subscription looks at its room's log and at its rights this often (LiveStream's heartbeat). */
  heartbeatMs: number;
  log: FastifyBaseLogger;
}

/**
 * One room subscribed on a WebSocket: the LiveStream every transport runs (resume, rights checks,
 * token expiry, heartbeat resync, the stream caps), written as WebSocket messages. Its end, when
 * the server ends it, is an `end` message; when the client unsubscribes or the connection closes,
 * it stops without a word.
 */
export class Subscription {
  private readonly live: LiveStream;
  private readonly since: ResumePoint | undefined;
  private readonly log: FastifyBaseLogger;

  constructor(host: SubscriptionHost, opening: OpenedStream, appKey: string, deps: SubscriptionDeps) {
    const { roomId, subscriber, since, release } = opening;
    this.since = since;
    const sink: StreamSink = {
      event: (e, epoch) => host.send(eventMessage(e, epoch)),
      snapshot: (s, epoch) => host.send(snapshotMessage(roomId, appKey, s, epoch)),
      presence: (body) => host.send(presenceMessage(body)),
      close: (reason) => {
        host.ended(roomId, this);
        // Gone or cut off: nothing reaches the client, which resumes from its last seq anyway.
        host.send(endMessage(roomId, reason ?? 'interrupted'));
      },
      drained: () => host.drained(),
    };
    this.live = new LiveStream(
      {
        store: deps.store,
        streams: deps.streams,
        roomId,
        subscriber,
        sink,
        heartbeatMs: deps.heartbeatMs,
        // The connection's pings keep it alive; each heartbeat only resyncs while it is open.
        heartbeat: () => host.isOpen,
        goodbye: () => host.goodbye(),
      },
      release,
    );
    this.log = deps.log;
  }

  /** Starts sending: call it once the subscribe's reply is out, so the reply comes first. */
  start(): void {
    this.live.start(this.since).catch((err: unknown) => {
      this.log.warn({ err }, 'websocket subscription could not start; ended');
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
}
