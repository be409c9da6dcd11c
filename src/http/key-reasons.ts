import type { KeyOutcomes } from '../domain/attributes.js';

/** A set or delete call's per-key outcome as the API answers it (`data` of the REST call and the WebSocket reply). */
export interface KeyOutcomesBody {
  successKeys: string[];
  errorKeys: Record<string, string>;
}

/** The answer's `data` for a set or delete: every transport renders per-key outcomes through this. */
export function keyOutcomesBody(outcome: KeyOutcomes): KeyOutcomesBody {
  return { successKeys: outcome.successKeys, errorKeys: outcome.errorKeys };
}
