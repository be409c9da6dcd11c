import type { KeyOutcomes, Refusal } from '../domain/attributes.js';
import { NOT_IN_ROOM } from '../domain/errors.js';
import type { LeaveRefusal } from '../domain/rooms.js';

/** A set or delete call's per-key outcome as the API answers it (`data` of the REST call and the WebSocket reply). */
export interface KeyOutcomesBody {
  successKeys: string[];
  errorKeys: Record<string, string>;
  /** An increment's new values (spec section 10). */
  values?: Record<string, string>;
}

/** Agora's text for each refusal (spec section 5's reason table): the one place these texts are written. */
export function refusalText(key: string, r: Refusal): string {
  switch (r.code) {
    case 'key_illegal':
      return `properties key '${key}' is not Legal`;
    case 'key_too_long':
      return `properties key '${key}' is exceeding maximum limit ${r.max}`;
    case 'value_illegal':
      return `properties value of '${key}' is not Legal`;
    case 'value_too_long':
      return `properties value of '${key}' is exceeding maximum limit ${r.max}`;
    case 'not_yours':
      return `key '${key}' is not part of you`;
    case 'room_full':
      return `size of metadata for this single chatroom exceeds the user defined limit ${r.max}`;
    case 'app_quota':
      return 'total size of chatroom metadata for this app exceeds the user defined limit';
    case 'missing':
      return `key '${key}' does not exist`;
    case 'revision_mismatch':
      return `key '${key}' revision is ${r.current}, not ${r.expected}`;
    case 'atomic_aborted':
      return `key '${key}' not written: the call is atomic and another key failed`;
    case 'not_integer':
      return `properties value of '${key}' is not an integer`;
    case 'out_of_bounds':
      // An open bound (the call gave no min or no max) reads -inf / inf.
      return `properties value of '${key}' would leave [${r.min ?? '-inf'}, ${r.max ?? 'inf'}]`;
  }
}

/** The answer's `data` for a set or delete: every transport renders per-key outcomes through this. */
export function keyOutcomesBody(outcome: KeyOutcomes): KeyOutcomesBody {
  const errorKeys = Object.create(null) as Record<string, string>;
  for (const [key, r] of Object.entries(outcome.errorKeys)) errorKeys[key] = refusalText(key, r);
  return outcome.values === undefined
    ? { successKeys: outcome.successKeys, errorKeys }
    : { successKeys: outcome.successKeys, errorKeys, values: outcome.values };
}

/** The `reason` of a user a batch removal did not remove (spec section 6). */
export function leaveRefusalText(refusal: LeaveRefusal): string {
  return refusal === 'owner' ? 'the owner cannot be removed' : NOT_IN_ROOM;
}

/** A removal's outcome as the API answers it: the refusal code becomes Agora's `reason`. */
export function memberOutcomeBody<T extends { refusal?: LeaveRefusal }>(o: T): Omit<T, 'refusal'> & { reason?: string } {
  const { refusal, ...rest } = o;
  return refusal === undefined ? rest : { ...rest, reason: leaveRefusalText(refusal) };
}
