import type { Limits } from './limits.js';

/**
 * Why one key of a set or delete was not written. A code inside roomkv; each transport renders it
 * as Agora's text (http/key-reasons.ts), and metrics label by the code.
 */
export type Refusal =
  | { code: 'key_illegal' }
  | { code: 'key_too_long'; max: number }
  | { code: 'value_illegal' }
  | { code: 'value_too_long'; max: number }
  | { code: 'not_yours' }
  | { code: 'room_full'; max: number }
  | { code: 'app_quota' }
  | { code: 'missing' }
  /** The call's `ifRevision` for the key did not hold (0: the key must not exist). */
  | { code: 'revision_mismatch'; current: number; expected: number }
  /** An `atomic` call in which another key failed. */
  | { code: 'atomic_aborted' }
  /** An increment of a key whose stored value is not a decimal integer. */
  | { code: 'not_integer' }
  /** An increment whose result would leave the call's bounds (null: open). */
  | { code: 'out_of_bounds'; min: number | null; max: number | null };

export type RefusalCode = Refusal['code'];

/** Per-key result of a set or delete call: the keys written, in call order, and a refusal for each other key. */
export interface KeyOutcomes {
  successKeys: string[];
  errorKeys: Record<string, Refusal>;
  /** An increment's new value of each key written (spec section 10, counters). */
  values?: Record<string, string>;
}

export type AutoDelete = 'DELETE' | 'NO_DELETE';

/** What a store knows of one stored attribute when it plans a call. */
export interface StoredAttr {
  owner: string;
  bytes: number;
  /** The seq of the event that last wrote the key; absent or 0 when written before revisions existed. */
  revision?: number;
  /** The stored value: given by a store's lookup when the call is an increment. */
  value?: string;
}

/** An increment call (spec section 10): the pairs' values are deltas (safe integers), bounds inclusive. */
export interface Increment {
  min?: number;
  max?: number;
}

/** A stored value an increment can add to. */
const DECIMAL = /^-?(0|[1-9][0-9]*)$/;

/** What a lookup must give for `planSet` of this call: the value too when it increments. */
export const needsValues = (input: { increment?: Increment }): boolean => input.increment !== undefined;

/** What a call may make its writes depend on (spec section 10). */
export interface Conditions {
  /** key -> the revision the key must have; 0: it must not exist. Keys are ones the call names. */
  ifRevision?: Readonly<Record<string, number>>;
  /** Write every key or none. */
  atomic?: boolean;
}

/** Whether `stored` meets the call's condition on its key; the refusal when not. */
function revisionProblem(key: string, stored: StoredAttr | null, conditions: Conditions): Refusal | null {
  const wanted = conditions.ifRevision;
  // Own keys only: a key named 'constructor' must not read the prototype's.
  if (wanted === undefined || !Object.hasOwn(wanted, key)) return null;
  const expected = wanted[key]!;
  const current = stored?.revision ?? 0;
  const holds = expected === 0 ? stored === null : stored !== null && current === expected;
  return holds ? null : { code: 'revision_mismatch', current, expected };
}

/** An atomic call with any refusal writes nothing: each key it would have written is refused too. */
function allOrNothing(outcome: KeyOutcomes, conditions: Conditions): boolean {
  if (!conditions.atomic || outcome.successKeys.length === 0 || Object.keys(outcome.errorKeys).length === 0) return false;
  for (const key of outcome.successKeys) outcome.errorKeys[key] = { code: 'atomic_aborted' };
  outcome.successKeys = [];
  return true;
}

export interface AttrWrite {
  key: string;
  value: string;
  bytes: number;
  /** null when the key is new to the room. */
  previous: StoredAttr | null;
}

/** An inclusive range of a stored count; null bounds are open. */
export interface Range {
  min: number | null;
  max: number | null;
}

/**
 * What a plan's outcome depends on, beyond the caller's membership: the stored state of `keys`
 * (exactly as the plan's lookup saw it), and the room's key count and the app's stored bytes within
 * a range (null: the plan did not depend on it). A store that did not plan under its own write lock
 * applies a plan only while all of these still hold, and plans again otherwise.
 */
export interface Preconditions {
  keys: string[];
  roomCount: Range | null;
  appBytes: Range | null;
}

export interface SetPlan {
  outcome: KeyOutcomes;
  writes: AttrWrite[];
  newKeys: number;
  bytesDelta: number;
  preconditions: Preconditions;
}

export interface SetInput extends Conditions {
  user: string;
  forced: boolean;
  pairs: ReadonlyArray<readonly [string, unknown]>;
  /** The state of a key in the room the plan is made from. */
  lookup: (key: string) => StoredAttr | undefined;
  /** Keys in the room, or a function that reads it; called at most once, and only if a key is new. */
  roomCount: number | (() => number);
  /** Bytes the app stores, or a function that reads it; called at most once, and only if a pair grows. */
  appBytes: number | (() => number);
  limits: Limits;
  /** Present: the pairs' values are deltas to add to the stored values (a missing key is "0"). */
  increment?: Increment;
}

const KEY_CHARS = /^[A-Za-z0-9_.-]+$/;

/** UTF-8 size of a stored pair: what the app byte quota counts. */
export function pairBytes(key: string, value: string): number {
  return Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
}

/** The checks that need no stored state, in the order of the reason table. */
export function pairProblem(key: string, value: unknown, limits: Limits): Refusal | null {
  if (key.length === 0 || !KEY_CHARS.test(key)) return { code: 'key_illegal' };
  if (key.length > limits.maxKeyLength) return { code: 'key_too_long', max: limits.maxKeyLength };
  // A lone surrogate cannot be stored as UTF-8: it would come back changed.
  if (typeof value !== 'string' || !value.isWellFormed()) return { code: 'value_illegal' };
  if (value.length > limits.maxValueLength) return { code: 'value_too_long', max: limits.maxValueLength };
  return null;
}

/** Narrows `range` so that it also demands `min <= n` (or `n <= max`). */
function atLeast(range: Range | null, min: number): Range {
  return { min: Math.max(range?.min ?? min, min), max: range?.max ?? null };
}
function atMost(range: Range | null, max: number): Range {
  return { min: range?.min ?? null, max: Math.min(range?.max ?? max, max) };
}

/**
 * Decides every pair of a set or forced set against the room's state as `lookup` gives it, and
 * states what that decision depends on. Pure: the store applies `writes` as a whole.
 */
export function planSet(input: SetInput): SetPlan {
  const { user, forced, limits } = input;
  const outcome: KeyOutcomes = { successKeys: [], errorKeys: Object.create(null) as Record<string, Refusal> };
  const writes: AttrWrite[] = [];
  const read: string[] = [];
  // The stored counts, read when first needed; what this call adds is newKeys and bytesDelta.
  let roomCount = typeof input.roomCount === 'number' ? input.roomCount : undefined;
  let appBytes = typeof input.appBytes === 'number' ? input.appBytes : undefined;
  let countRange: Range | null = null;
  let bytesRange: Range | null = null;
  let newKeys = 0;
  let bytesDelta = 0;
  const inc = input.increment;
  for (const [key, value] of input.pairs) {
    // An increment's delta was checked with the call's shape; its key is checked here like a set's.
    const problem = pairProblem(key, inc === undefined ? value : '', limits);
    if (problem !== null) {
      outcome.errorKeys[key] = problem;
      continue;
    }
    read.push(key);
    const previous = input.lookup(key) ?? null;
    if (previous !== null && previous.owner !== user && !forced) {
      outcome.errorKeys[key] = { code: 'not_yours' };
      continue;
    }
    let text = value as string;
    if (inc !== undefined) {
      const sum = added(previous, value as number, inc);
      if (typeof sum !== 'string') {
        outcome.errorKeys[key] = sum;
        continue;
      }
      if (sum.length > limits.maxValueLength) {
        outcome.errorKeys[key] = { code: 'value_too_long', max: limits.maxValueLength };
        continue;
      }
      text = sum;
    }
    if (previous === null) {
      // Room for one more key while the stored count plus this call's new keys is under the limit.
      const room = limits.maxAttributesPerRoom - newKeys;
      if ((roomCount ??= (input.roomCount as () => number)()) >= room) {
        countRange = atLeast(countRange, room);
        outcome.errorKeys[key] = { code: 'room_full', max: limits.maxAttributesPerRoom };
        continue;
      }
      countRange = atMost(countRange, room - 1);
    }
    const size = pairBytes(key, text);
    const delta = size - (previous?.bytes ?? 0);
    if (delta > 0) {
      const room = limits.maxAppBytes - bytesDelta - delta;
      if ((appBytes ??= (input.appBytes as () => number)()) > room) {
        bytesRange = atLeast(bytesRange, room + 1);
        outcome.errorKeys[key] = { code: 'app_quota' };
        continue;
      }
      bytesRange = atMost(bytesRange, room);
    }
    const condition = revisionProblem(key, previous, input);
    if (condition !== null) {
      outcome.errorKeys[key] = condition;
      continue;
    }
    if (previous === null) newKeys += 1;
    bytesDelta += delta;
    writes.push({ key, value: text, bytes: size, previous });
    outcome.successKeys.push(key);
  }
  const preconditions = { keys: read, roomCount: countRange, appBytes: bytesRange };
  if (allOrNothing(outcome, input)) return { outcome, writes: [], newKeys: 0, bytesDelta: 0, preconditions };
  if (inc !== undefined) {
    outcome.values = Object.create(null) as Record<string, string>;
    for (const w of writes) outcome.values[w.key] = w.value;
  }
  return { outcome, writes, newKeys, bytesDelta, preconditions };
}

/** The stored value plus `delta` as a decimal string, or why not (exact: BigInt, whatever the stored size). */
function added(stored: StoredAttr | null, delta: number, inc: Increment): string | Refusal {
  const current = stored === null ? '0' : stored.value;
  if (current === undefined) throw new Error('planSet: an increment needs the stored values (needsValues)');
  if (!DECIMAL.test(current)) return { code: 'not_integer' };
  const sum = BigInt(current) + BigInt(delta);
  if ((inc.min !== undefined && sum < BigInt(inc.min)) || (inc.max !== undefined && sum > BigInt(inc.max)))
    return { code: 'out_of_bounds', min: inc.min ?? null, max: inc.max ?? null };
  return sum.toString();
}

export interface DeleteInput extends Conditions {
  user: string;
  forced: boolean;
  keys: readonly string[];
  lookup: (key: string) => StoredAttr | undefined;
}

export interface DeletePlan {
  outcome: KeyOutcomes;
  removals: Array<{ key: string; bytes: number; owner: string }>;
  bytesDelta: number;
  preconditions: Preconditions;
}

/** Decides every key of a delete or forced delete; keys must already be de-duplicated. */
export function planDelete(input: DeleteInput): DeletePlan {
  const outcome: KeyOutcomes = { successKeys: [], errorKeys: Object.create(null) as Record<string, Refusal> };
  const removals: DeletePlan['removals'] = [];
  let bytesDelta = 0;
  let condition: Refusal | null;
  for (const key of input.keys) {
    const stored = input.lookup(key);
    if (stored === undefined) {
      outcome.errorKeys[key] = { code: 'missing' };
    } else if (stored.owner !== input.user && !input.forced) {
      outcome.errorKeys[key] = { code: 'not_yours' };
    } else if ((condition = revisionProblem(key, stored, input)) !== null) {
      outcome.errorKeys[key] = condition;
    } else {
      removals.push({ key, bytes: stored.bytes, owner: stored.owner });
      bytesDelta -= stored.bytes;
      outcome.successKeys.push(key);
    }
  }
  const preconditions = { keys: [...input.keys], roomCount: null, appBytes: null };
  if (allOrNothing(outcome, input)) return { outcome, removals: [], bytesDelta: 0, preconditions };
  return { outcome, removals, bytesDelta, preconditions };
}
