import { pairProblem, planDelete, planSet, type SetInput, type StoredAttr } from '../../src/domain/attributes.js';
import { keyOutcomesBody, refusalText } from '../../src/http/key-reasons.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';

/**
 * What the tests of the rules of spec sections 4 and 5 (rules-*.test.ts) share: plans made without
 * a store, their outcomes as the API's text, and stored attributes to plan against.
 */

export const L: Limits = { ...DEFAULT_LIMITS };

function plain<T extends object>(o: T): T {
  // planSet builds errorKeys with a null prototype; strict deepEqual compares prototypes.
  return { ...o };
}

/** pairProblem's refusal as the API's text (null when the pair passes). */
export function problemText(key: string, value: unknown, limits: Limits): string | null {
  const r = pairProblem(key, value, limits);
  return r === null ? null : refusalText(key, r);
}

export function set(pairs: Array<[string, unknown]>, over: Partial<SetInput> = {}, stored: Record<string, StoredAttr> = {}) {
  const plan = planSet({
    user: 'alice',
    forced: false,
    pairs,
    lookup: (k) => (Object.hasOwn(stored, k) ? stored[k] : undefined),
    roomCount: Object.keys(stored).length,
    appBytes: 0,
    limits: L,
    ...over,
  });
  return { ...plan, outcome: { successKeys: plan.outcome.successKeys, errorKeys: plain(keyOutcomesBody(plan.outcome).errorKeys) } };
}

export function del(keys: string[], user = 'alice', forced = false, stored: Record<string, StoredAttr> = {}) {
  const plan = planDelete({ user, forced, keys, lookup: (k) => (Object.hasOwn(stored, k) ? stored[k] : undefined) });
  return { ...plan, outcome: { successKeys: plan.outcome.successKeys, errorKeys: plain(keyOutcomesBody(plan.outcome).errorKeys) } };
}

export const owned = (owner: string, bytes = 10): StoredAttr => ({ owner, bytes });
