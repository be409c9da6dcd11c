import type { EventReason, StoredEvent } from '../domain/events.js';

// A live event object reaches every subscriber of its room: parse it once for all of them.
const reasons = new WeakMap<StoredEvent, EventReason>();

/**
 * Whether `e` is a room's last event (its reason `room_destroyed`), read from the event's JSON,
 * never by trusting a search of its text: a value may hold any text. A body without the words at
 * all cannot be one, so most events are passed without parsing them.
 */
export function isRoomDestroyed(e: StoredEvent): boolean {
  if (!e.body.includes('room_destroyed')) return false;
  let reason = reasons.get(e);
  if (reason === undefined) {
    reason = (JSON.parse(e.body) as { reason: EventReason }).reason;
    reasons.set(e, reason);
  }
  return reason === 'room_destroyed';
}
