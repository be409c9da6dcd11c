import type { StoredEvent } from '../domain/events.js';
import type { EventLog, LiveFeed, Snapshot } from '../store/types.js';
import { isMembershipChange, isPresenceMessage } from '../domain/events.js';
import { isRoomDestroyed } from './event-fields.js';

/** Why a stream ended on the server's side; sent to the subscriber as the stream's last word. */
export type EndReason = 'room_destroyed' | 'token_expired' | 'membership_ended' | 'user_deleted';

/** Where a RoomStream writes. `event` and `snapshot` return false when the sink is gone or overflowing. */
export interface StreamSink {
  event(e: StoredEvent, epoch: string): boolean;
  snapshot(s: Snapshot, epoch: string): boolean;
  /** A presence message (spec section 9): its JSON. No seq, not replayed: sent as it comes. */
  presence(body: string): boolean;
  /** The stream is over: the room is gone, a right ended (`reason`), or the sink failed (none). */
  close(reason?: EndReason): void;
  /** A promise when the reader is behind: replay waits for it instead of piling up output. */
  drained(): Promise<void> | null;
}

/** A user-token subscriber's rights: `check` says whether `user` may still read the room, or why not. */
export interface RightsCheck {
  user: string;
  check(): Promise<EndReason | null>;
}

const PAGE = 500;
/** Live events held while catching up; a reader this far behind reconnects and resumes instead. */
const MAX_HELD = 10_000;
/** Presence messages held until the stream has sent where it starts from, or while its rights are looked at. */
const MAX_HELD_PRESENCE = 256;

/** A room-destroyed event is the last of a room: its stream ends after it. */
export function isFinal(e: StoredEvent): boolean {
  return isRoomDestroyed(e);
}

/** A resume point: the seq last received and, when the subscriber knows it, the log's epoch. */
export interface ResumePoint {
  seq: number;
  epoch?: string;
}

/**
 * One subscriber's view of a room: every event exactly once, in seq order, with no gaps. Live
 * events come from the store's feed; whenever the next seq is not the one expected (a resume, a
 * feed that lost messages, a subscribe that raced a write) the stream reads the gap from the
 * room's log, and when the log no longer holds it, or holds another history (an epoch that is not
 * the subscriber's, a room behind the subscriber's seq), sends a snapshot instead. So a
 * subscriber is never silently wrong, whichever instance wrote the events.
 *
 * With a rights check, a membership change in the room holds delivery until the check has run:
 * an event written after a member left never reaches that member's stream.
 */
export class RoomStream {
  private last = 0;
  private epoch = '';
  private catchingUp = false;
  private buffered: StoredEvent[] = [];
  private unsubscribe: (() => void) | null = null;
  private closed = false;
  private hold: Promise<void> | null = null;
  /** Whether the subscriber has been told where the stream starts (its snapshot, or the resume point taken). */
  private placed = false;
  private heldPresence: string[] = [];

  constructor(
    private readonly store: EventLog & LiveFeed,
    private readonly appId: string,
    private readonly roomId: string,
    private readonly sink: StreamSink,
    private readonly rights: RightsCheck | null = null,
  ) {}

  /**
   * Subscribes first (buffering), then catches up from `since` (a snapshot when `since` is
   * undefined, older than the log, ahead of the room or of another epoch), then goes live.
   */
  async start(since: ResumePoint | undefined): Promise<void> {
    this.catchingUp = true;
    this.unsubscribe = await this.store.subscribe(this.appId, this.roomId, (e) => this.onLive(e));
    this.epoch = await this.store.logEpoch();
    if (this.closed) return;
    // A rights check under way (a membership message, or presence found the user is no member):
    // its answer comes before the room's state.
    if (this.hold !== null) await this.hold;
    if (this.closed) return;
    if (since === undefined || (since.epoch !== undefined && since.epoch !== this.epoch)) {
      if (!(await this.sendSnapshot())) return;
    } else {
      this.last = since.seq;
    }
    this.placed = true;
    this.flushPresence();
    await this.catchUp();
  }

  /** The feed may have dropped events (Redis reconnect), or rights may have ended: look again. */
  resync(): void {
    if (this.closed) return;
    if (this.rights) this.recheck();
    if (!this.catchingUp && this.hold === null) {
      this.catchingUp = true;
      void this.catchUp();
    }
  }

  /** Ends the stream from outside (a timer, a shutdown); `reason` is told to the subscriber. */
  end(reason?: EndReason): void {
    if (this.closed) return;
    this.stop();
    this.sink.close(reason);
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.buffered = [];
    this.heldPresence = [];
  }

  private onLive(e: StoredEvent): void {
    if (this.closed) return;
    if (isPresenceMessage(e)) {
      this.heldPresence.push(e.body);
      if (this.heldPresence.length > MAX_HELD_PRESENCE) this.heldPresence.shift();
      this.flushPresence();
      return;
    }
    if (isMembershipChange(e)) {
      // The message names the user whose membership ended; other subscribers need not look.
      if (this.rights !== null && e.body === this.rights.user) this.recheck();
      return;
    }
    if (this.catchingUp || this.hold !== null) {
      this.buffered.push(e);
      // No `end`: the subscriber did nothing wrong but read slowly, and resumes from its last id.
      if (this.buffered.length > MAX_HELD) this.end();
      return;
    }
    if (e.seq <= this.last) return;
    if (e.seq === this.last + 1) {
      this.deliver(e);
      return;
    }
    this.buffered.push(e);
    this.catchingUp = true;
    void this.catchUp();
  }

  /**
   * Checks the subscriber's rights again; until the check answers, live events are held (and a
   * catch-up waits), so nothing written after a right ended is delivered.
   */
  private recheck(): void {
    if (this.hold !== null || this.rights === null) return;
    const hold: Promise<void> = this.rights
      .check()
      .then(
        (reason) => {
          if (reason !== null) this.end(reason);
        },
        () => this.end(),
      )
      .finally(() => {
        if (this.hold === hold) this.hold = null;
        this.flushPresence();
        if (!this.closed && !this.catchingUp) {
          this.catchingUp = true;
          void this.catchUp();
        }
      });
    this.hold = hold;
  }

  /** Sends the presence messages held, once the stream is placed and no rights check is under way. */
  private flushPresence(): void {
    if (!this.placed || this.hold !== null) return;
    while (!this.closed && this.heldPresence.length > 0) {
      if (!this.sink.presence(this.heldPresence.shift()!)) {
        this.end();
        return;
      }
    }
  }

  private deliver(e: StoredEvent): void {
    this.last = e.seq;
    if (!this.sink.event(e, this.epoch)) {
      this.end();
      return;
    }
    if (isFinal(e)) this.end('room_destroyed');
  }

  private async sendSnapshot(): Promise<boolean> {
    const snap = await this.store.snapshot(this.appId, this.roomId);
    if (this.closed) return false;
    if (snap === null) {
      this.end('room_destroyed');
      return false;
    }
    this.last = snap.seq;
    if (!this.sink.snapshot(snap, this.epoch)) {
      this.end();
      return false;
    }
    return true;
  }

  private async catchUp(): Promise<void> {
    try {
      for (;;) {
        while (!this.closed) {
          if (this.hold !== null) await this.hold;
          if (this.closed) return;
          const log = await this.store.readEvents(this.appId, this.roomId, this.last, PAGE);
          if (this.closed) return;
          if (log.epoch !== this.epoch || this.last > log.lastSeq) {
            // Another history: the store was wiped or restored, under this stream or before the
            // resume. The log cannot say what the subscriber lacks; a snapshot can.
            this.epoch = log.epoch;
            if (!(await this.sendSnapshot())) return;
            continue;
          }
          if (this.last < log.firstSeq - 1) {
            // the log no longer holds what follows `last`
            if (!(await this.sendSnapshot())) return;
            continue;
          }
          for (const e of log.events) {
            if (e.seq !== this.last + 1) continue;
            this.deliver(e);
            if (this.closed) return;
            const slow = this.sink.drained();
            if (slow) await slow;
            if (this.closed) return;
            if (this.hold !== null) break;
          }
          if (this.hold !== null) continue;
          if (log.events.length < PAGE) {
            if (!log.exists && this.last >= log.lastSeq) {
              // the room is gone and everything it logged was sent
              this.end('room_destroyed');
              return;
            }
            break;
          }
        }
        if (this.closed) return;
        if (this.hold !== null) continue;
        // Live events that arrived meanwhile: in order now, or they reveal another gap.
        const pending = this.buffered.filter((e) => e.seq > this.last).sort((a, b) => a.seq - b.seq);
        this.buffered = [];
        let gap = false;
        for (const e of pending) {
          if (e.seq <= this.last) continue;
          if (e.seq !== this.last + 1 || this.hold !== null) {
            gap = true;
            break;
          }
          this.deliver(e);
          if (this.closed) return;
        }
        if (!gap && this.buffered.length === 0 && this.hold === null) break;
      }
      this.catchingUp = false;
    } catch {
      // the store failed mid-catch-up: close, the client resumes from its last id
      this.end();
    }
  }
}
