import type { Target } from '../../support/server.js';
import { wsCountersSuite } from './ws-counters.js';
import { wsExpirySuite } from './ws-expiry.js';
import { wsLimitsSuite } from './ws-limits.js';
import { wsOpsSuite } from './ws-ops.js';
import { wsSubscriptionsSuite } from './ws-subscriptions.js';

/** Every WebSocket suite (spec section 9), run by one test file per store. */
export function allWsSuites(target: Target): void {
  wsOpsSuite(target);
  wsSubscriptionsSuite(target);
  wsLimitsSuite(target);
  wsExpirySuite(target);
  wsCountersSuite(target);
}
