import type { EventRouting } from '../../src/domain/events.js';

/** Routing for store-level tests: events are logged, no webhook wants them. */
export const NO_WEBHOOKS: EventRouting = { appKey: 'test#test', endpointsFor: () => [] };

export const LOG_LIMITS = { minEvents: 1000, minAgeMs: 600_000 };
