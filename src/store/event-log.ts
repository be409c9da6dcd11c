/**
 * How much of a room's event log a store keeps for resume: an event is dropped only once it is
 * both older than `minAgeMs` and more than `minEvents` behind the newest. `minEvents` is at least
 * 1: the newest event is always kept (the SQLite store numbers the next one from it).
 */
export interface EventLogLimits {
  minEvents: number;
  minAgeMs: number;
}
