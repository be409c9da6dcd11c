import type { EventReason, StoredEvent } from '../domain/events.js';

/** The fields a stream acts on, read from the event's JSON: never by searching its text. */
export interface EventFields {
  reason: EventReason;
  from: string;
}

// A live event object reaches every subscriber of its room: parse it once for all of them.
const parsed = new WeakMap<StoredEvent, EventFields>();

export function eventFields(e: StoredEvent): EventFields {
  let f = parsed.get(e);
  if (f === undefined) {
    const body = JSON.parse(e.body) as EventFields;
    f = { reason: body.reason, from: body.from };
    parsed.set(e, f);
  }
  return f;
}
