/**
 * How much of a room's event log a store keeps for resume: an event is dropped only once it is
 * both older than `minAgeMs` and more than `minEvents` behind the newest.
 */
export interface EventLogLimits {
  minEvents: number;
  minAgeMs: number;
}
