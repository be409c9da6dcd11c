import type { StoredEvent } from '../domain/events.js';
import type { EventStore, Snapshot } from '../store/types.js';

/** Where a RoomStream writes. `event` and `snapshot` return false when the sink is gone or overflowing. */
export interface StreamSink {
  event(e: StoredEvent): boolean;
  snapshot(s: Snapshot): boolean;
  /** The room is gone (its final event was sent) or the sink failed: close. */
  close(): void;
  /** A promise when the reader is behind: replay waits for it instead of piling up output. */
  drained(): Promise<void> | null;
}

const PAGE = 500;
/** Live events held while catching up; a reader this far behind reconnects and resumes instead. */
const MAX_HELD = 10_000;

/** A room-destroyed event is the last of a room: its stream ends after it. */
export function isFinal(e: StoredEvent): boolean {
  return e.body.includes('"reason":"room_destroyed"');
}

/**
 * One subscriber's view of a room: every event exactly once, in seq order, with no gaps. Live
 * events come from the store's feed; whenever the next seq is not the one expected (a resume, a
 * feed that lost messages, a subscribe that raced a write) the stream reads the gap from the
 * room's log, and when the log no longer holds it, sends a snapshot instead. So a subscriber is
 * never silently wrong, whichever instance wrote the events.
 */
export class RoomStream {
  private last = 0;
  private catchingUp = false;
  private buffered: StoredEvent[] = [];
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly store: EventStore,
    private readonly appId: string,
    private readonly roomId: string,
    private readonly sink: StreamSink,
  ) {}

  /**
   * Subscribes first (buffering), then catches up from `since` (a snapshot when `since` is
   * undefined or older than the log), then goes live.
   */
  async start(since: number | undefined): Promise<void> {
    this.catchingUp = true;
    this.unsubscribe = await this.store.subscribe(this.appId, this.roomId, (e) => this.onLive(e));
    if (since === undefined) {
      if (!(await this.sendSnapshot())) return;
    } else {
      this.last = since;
    }
    await this.catchUp();
  }

  /** The feed may have dropped events (Redis reconnect): look at the log again. */
  resync(): void {
    if (!this.catchingUp && !this.closed) {
      this.catchingUp = true;
      void this.catchUp();
    }
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.buffered = [];
  }

  private onLive(e: StoredEvent): void {
    if (this.closed) return;
    if (this.catchingUp) {
      this.buffered.push(e);
      if (this.buffered.length > MAX_HELD) this.finish();
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

  private deliver(e: StoredEvent): void {
    this.last = e.seq;
    if (!this.sink.event(e) || isFinal(e)) this.finish();
  }

  private finish(): void {
    this.stop();
    this.sink.close();
  }

  private async sendSnapshot(): Promise<boolean> {
    const snap = await this.store.snapshot(this.appId, this.roomId);
    if (this.closed) return false;
    if (snap === null) {
      this.finish();
      return false;
    }
    this.last = snap.seq;
    if (!this.sink.snapshot(snap)) {
      this.finish();
      return false;
    }
    return true;
  }

  private async catchUp(): Promise<void> {
    try {
      for (;;) {
        while (!this.closed) {
          const log = await this.store.readEvents(this.appId, this.roomId, this.last, PAGE);
          if (this.closed) return;
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
          }
          if (log.events.length < PAGE) {
            if (!log.exists && this.last >= log.lastSeq) {
              // the room is gone and everything it logged was sent
              this.finish();
              return;
            }
            break;
          }
        }
        if (this.closed) return;
        // Live events that arrived meanwhile: in order now, or they reveal another gap.
        const pending = this.buffered.filter((e) => e.seq > this.last).sort((a, b) => a.seq - b.seq);
        this.buffered = [];
        let gap = false;
        for (const e of pending) {
          if (e.seq <= this.last) continue;
          if (e.seq !== this.last + 1) {
            gap = true;
            break;
          }
          this.deliver(e);
          if (this.closed) return;
        }
        if (!gap && this.buffered.length === 0) break;
      }
      this.catchingUp = false;
    } catch {
      // the store failed mid-catch-up: close, the client resumes from its last id
      this.finish();
    }
  }
}
