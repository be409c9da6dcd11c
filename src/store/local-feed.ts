import type { StoredEvent } from '../domain/events.js';
import type { EventListener } from './types.js';

/**
 * The live feed of a single-process store: listeners per room, called after the transaction that
 * wrote the event has committed. A listener that throws does not stop the others.
 */
export class LocalFeed {
  private readonly rooms = new Map<string, Set<EventListener>>();

  subscribe(room: string, listener: EventListener): () => void {
    let set = this.rooms.get(room);
    if (!set) {
      set = new Set();
      this.rooms.set(room, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.rooms.get(room) === set) this.rooms.delete(room);
    };
  }

  publish(room: string, event: StoredEvent): void {
    const set = this.rooms.get(room);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch {
        // a subscriber's failure is its own (its stream closes); the writer is not affected
      }
    }
  }
}
