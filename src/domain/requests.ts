import { Errors } from './errors.js';
import type { AutoDelete, Conditions, Increment } from './attributes.js';
import type { Limits } from './limits.js';

/**
 * The checks on attribute-call bodies that a static schema cannot express: they depend on the
 * app's limits or are case-insensitive. Shape and types are already checked by the route schema.
 */
export function parseAutoDelete(raw: string | undefined): AutoDelete {
  if (raw === undefined) return 'DELETE';
  const upper = raw.toUpperCase();
  if (upper === 'DELETE' || upper === 'NO_DELETE') return upper;
  throw Errors.illegalArgument(`autoDelete must be DELETE or NO_DELETE, got '${raw}'`);
}

export function setPairs(metaData: Record<string, unknown>, limits: Limits, field = 'metaData'): Array<[string, unknown]> {
  const pairs = Object.entries(metaData);
  if (pairs.length === 0) throw Errors.illegalArgument(`${field} must be a non-empty object`);
  if (pairs.length > limits.maxBatchSize) throw Errors.batchTooLarge(limits.maxBatchSize);
  return pairs;
}

export function deleteKeys(keys: readonly string[], limits: Limits): string[] {
  const unique = [...new Set(keys)];
  if (unique.length === 0) throw Errors.illegalArgument('keys must be a non-empty array');
  if (unique.length > limits.maxBatchSize) throw Errors.batchTooLarge(limits.maxBatchSize);
  return unique;
}

/** `undefined` means every attribute: no body, `{}`, `{"keys": null}` and `{"keys": []}` alike. */
export function getKeys(keys: readonly string[] | null | undefined): string[] | undefined {
  if (keys === undefined || keys === null || keys.length === 0) return undefined;
  return [...new Set(keys)];
}

const USERNAME = /^[a-z0-9_.-]{1,64}$/;

/** Usernames are case-insensitive and stored lower-case. */
export function normalizeUsername(raw: string): string {
  return raw.toLowerCase();
}

export function checkUsername(raw: unknown, field = 'username'): string {
  if (typeof raw !== 'string') throw Errors.illegalArgument(`${field} must be a string`);
  const name = normalizeUsername(raw);
  if (!USERNAME.test(name)) {
    throw Errors.illegalArgument(`${field} '${raw}' is not legal: 1 to 64 of a-z 0-9 _ - .`);
  }
  return name;
}

/** ifRevision and atomic as a call gives them: ifRevision may name only keys of the call (spec section 10). */
export function callConditions(
  input: { ifRevision?: Readonly<Record<string, number>>; atomic?: boolean },
  callKeys: readonly string[],
): Conditions | undefined {
  const { ifRevision, atomic } = input;
  if (ifRevision === undefined && atomic === undefined) return undefined;
  if (ifRevision !== undefined) {
    const named = new Set(callKeys);
    const stray = Object.keys(ifRevision).find((k) => !named.has(k));
    if (stray !== undefined) throw Errors.illegalArgument(`ifRevision names key '${stray}', which is not in this call`);
  }
  return { ...(ifRevision !== undefined ? { ifRevision } : {}), ...(atomic !== undefined ? { atomic } : {}) };
}

/**
 * What a set call writes: `metaData` (key -> value) or, for a counter, `increment` (key -> delta,
 * safe integers by the schema) with optional bounds `min` / `max` (spec section 10). One or the
 * other; bounds only with increment, and min not above max.
 */
export function callWrites(input: { metaData?: Record<string, unknown>; increment?: Record<string, number>; min?: number; max?: number }): {
  values: Record<string, unknown>;
  increment?: Increment;
} {
  const { metaData, increment, min, max } = input;
  if (increment === undefined) {
    if (metaData === undefined) throw Errors.illegalArgument('body.metaData is required');
    if (min !== undefined || max !== undefined) throw Errors.illegalArgument('min and max go with increment');
    return { values: metaData };
  }
  if (metaData !== undefined) throw Errors.illegalArgument('increment and metaData: one or the other, not both');
  for (const [key, delta] of Object.entries(increment))
    if (!Number.isSafeInteger(delta)) throw Errors.illegalArgument(`increment of '${key}' must be a safe integer`);
  for (const [name, bound] of [
    ['min', min],
    ['max', max],
  ] as const)
    if (bound !== undefined && !Number.isSafeInteger(bound)) throw Errors.illegalArgument(`${name} must be a safe integer`);
  if (min !== undefined && max !== undefined && min > max) throw Errors.illegalArgument(`min ${min} is above max ${max}`);
  return { values: increment, increment: { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) } };
}

/** The longest `ttl` a key may be given: 30 days, in seconds (spec section 10). */
export const MAX_TTL_S = 2_592_000;

/**
 * A set call's `ttl` (key -> seconds) as the store takes it: each a whole number of seconds from 1 to
 * MAX_TTL_S, naming only keys of the call (spec section 10); undefined when the call gives none.
 */
export function callTtl(
  ttl: Readonly<Record<string, unknown>> | undefined,
  callKeys: readonly string[],
): Record<string, number> | undefined {
  if (ttl === undefined) return undefined;
  const named = new Set(callKeys);
  const out = Object.create(null) as Record<string, number>;
  for (const [key, seconds] of Object.entries(ttl)) {
    if (!named.has(key)) throw Errors.illegalArgument(`ttl names key '${key}', which is not in this call`);
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TTL_S)
      throw Errors.illegalArgument(`ttl of '${key}' must be a whole number of seconds from 1 to ${MAX_TTL_S}`);
    out[key] = seconds;
  }
  return out;
}

/** When a key written at `now` with the call's `ttl` expires (ms since the epoch); null: it does not. */
export function expiresAtOf(ttl: Readonly<Record<string, number>> | undefined, key: string, now: number): number | null {
  return ttl !== undefined && Object.hasOwn(ttl, key) ? now + ttl[key]! * 1000 : null;
}
