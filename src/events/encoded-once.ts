import type { StoredEvent } from '../domain/events.js';

/**
 * A live event's bytes for one transport (an SSE chunk, a WebSocket frame), made the first time a
 * subscriber of its room sends it and reused by every other: the feed hands the same event object
 * to all the listeners of a room, so a room of 10,000 makes one buffer an event, not 10,000 strings.
 * Keyed by the event object (held weakly) and the log epoch the stream sends it in.
 */
export class EncodedOnce<T> {
  private readonly made = new WeakMap<StoredEvent, { epoch: string; value: T }>();

  constructor(private readonly encode: (e: StoredEvent, epoch: string) => T) {}

  get(e: StoredEvent, epoch: string): T {
    const hit = this.made.get(e);
    if (hit !== undefined && hit.epoch === epoch) return hit.value;
    const value = this.encode(e, epoch);
    this.made.set(e, { epoch, value });
    return value;
  }
}
