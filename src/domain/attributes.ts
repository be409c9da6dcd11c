import type { Limits } from './limits.js';

/** Per-key result of a set or delete call, exactly as the API reports it. */
export interface KeyOutcomes {
  successKeys: string[];
  errorKeys: Record<string, string>;
}

export type AutoDelete = 'DELETE' | 'NO_DELETE';

/** What a store knows of one stored attribute when it plans a call. */
export interface StoredAttr {
  owner: string;
  bytes: number;
}

export interface AttrWrite {
  key: string;
  value: string;
  bytes: number;
  /** null when the key is new to the room. */
  previous: StoredAttr | null;
}

export interface SetPlan {
  outcome: KeyOutcomes;
  writes: AttrWrite[];
  newKeys: number;
  bytesDelta: number;
}

export interface SetInput {
  user: string;
  forced: boolean;
  pairs: ReadonlyArray<readonly [string, unknown]>;
  /** Current state of a key in the room, read inside the same transaction as the write. */
  lookup: (key: string) => StoredAttr | undefined;
  /** Keys in the room, or a function that reads it; called at most once, and only if a key is new. */
  roomCount: number | (() => number);
  /** Bytes the app stores, or a function that reads it; called at most once, and only if a pair grows. */
  appBytes: number | (() => number);
  limits: Limits;
}

const KEY_CHARS = /^[A-Za-z0-9_.-]+$/;

export const reasons = {
  keyIllegal: (k: string) => `properties key '${k}' is not Legal`,
  keyTooLong: (k: string, max: number) => `properties key '${k}' is exceeding maximum limit ${max}`,
  valueIllegal: (k: string) => `properties value of '${k}' is not Legal`,
  valueTooLong: (k: string, max: number) => `properties value of '${k}' is exceeding maximum limit ${max}`,
  notYours: (k: string) => `key '${k}' is not part of you`,
  roomFull: (max: number) => `size of metadata for this single chatroom exceeds the user defined limit ${max}`,
  appQuota: () => 'total size of chatroom metadata for this app exceeds the user defined limit',
  missing: (k: string) => `key '${k}' does not exist`,
} as const;

/** A stable name for each reason, for metrics (the reason texts carry the key). */
export function reasonKind(reason: string): string {
  if (reason.endsWith('is not Legal')) return reason.startsWith('properties key') ? 'key_illegal' : 'value_illegal';
  if (reason.includes('is exceeding maximum limit')) return reason.startsWith('properties key') ? 'key_too_long' : 'value_too_long';
  if (reason.endsWith('is not part of you')) return 'not_yours';
  if (reason.startsWith('size of metadata')) return 'room_full';
  if (reason.startsWith('total size')) return 'app_quota';
  if (reason.endsWith('does not exist')) return 'missing';
  return 'other';
}

/** UTF-8 size of a stored pair: what the app byte quota counts. */
export function pairBytes(key: string, value: string): number {
  return Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
}

/** The checks that need no stored state, in the order of the reason table. */
export function pairProblem(key: string, value: unknown, limits: Limits): string | null {
  if (key.length === 0 || !KEY_CHARS.test(key)) return reasons.keyIllegal(key);
  if (key.length > limits.maxKeyLength) return reasons.keyTooLong(key, limits.maxKeyLength);
  // A lone surrogate cannot be stored as UTF-8: it would come back changed.
  if (typeof value !== 'string' || !value.isWellFormed()) return reasons.valueIllegal(key);
  if (value.length > limits.maxValueLength) return reasons.valueTooLong(key, limits.maxValueLength);
  return null;
}

/**
 * Decides every pair of a set or forced set against the room's state. Pure: the store calls it
 * inside its transaction with a lookup over the same snapshot, then applies `writes` as a whole.
 */
export function planSet(input: SetInput): SetPlan {
  const { user, forced, limits } = input;
  const outcome: KeyOutcomes = { successKeys: [], errorKeys: Object.create(null) as Record<string, string> };
  const writes: AttrWrite[] = [];
  // The stored counts, read when first needed; what this call adds is newKeys and bytesDelta.
  let roomCount = typeof input.roomCount === 'number' ? input.roomCount : undefined;
  let appBytes = typeof input.appBytes === 'number' ? input.appBytes : undefined;
  let newKeys = 0;
  let bytesDelta = 0;
  for (const [key, value] of input.pairs) {
    const problem = pairProblem(key, value, limits);
    if (problem !== null) {
      outcome.errorKeys[key] = problem;
      continue;
    }
    const text = value as string;
    const previous = input.lookup(key) ?? null;
    if (previous !== null && previous.owner !== user && !forced) {
      outcome.errorKeys[key] = reasons.notYours(key);
      continue;
    }
    if (previous === null && (roomCount ??= (input.roomCount as () => number)()) + newKeys >= limits.maxAttributesPerRoom) {
      outcome.errorKeys[key] = reasons.roomFull(limits.maxAttributesPerRoom);
      continue;
    }
    const size = pairBytes(key, text);
    const delta = size - (previous?.bytes ?? 0);
    if (delta > 0 && (appBytes ??= (input.appBytes as () => number)()) + bytesDelta + delta > limits.maxAppBytes) {
      outcome.errorKeys[key] = reasons.appQuota();
      continue;
    }
    if (previous === null) newKeys += 1;
    bytesDelta += delta;
    writes.push({ key, value: text, bytes: size, previous });
    outcome.successKeys.push(key);
  }
  return { outcome, writes, newKeys, bytesDelta };
}

export interface DeleteInput {
  user: string;
  forced: boolean;
  keys: readonly string[];
  lookup: (key: string) => StoredAttr | undefined;
}

export interface DeletePlan {
  outcome: KeyOutcomes;
  removals: Array<{ key: string; bytes: number }>;
  bytesDelta: number;
}

/** Decides every key of a delete or forced delete; keys must already be de-duplicated. */
export function planDelete(input: DeleteInput): DeletePlan {
  const outcome: KeyOutcomes = { successKeys: [], errorKeys: Object.create(null) as Record<string, string> };
  const removals: DeletePlan['removals'] = [];
  let bytesDelta = 0;
  for (const key of input.keys) {
    const stored = input.lookup(key);
    if (stored === undefined) {
      outcome.errorKeys[key] = reasons.missing(key);
    } else if (stored.owner !== input.user && !input.forced) {
      outcome.errorKeys[key] = reasons.notYours(key);
    } else {
      removals.push({ key, bytes: stored.bytes });
      bytesDelta -= stored.bytes;
      outcome.successKeys.push(key);
    }
  }
  return { outcome, removals, bytesDelta };
}
