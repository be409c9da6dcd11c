// The calls of a mixed race round, drawn with the round's dice: set, forced set, increment (forced
// or not, sometimes bounded), delete and forced delete, some with ifRevision conditions or atomic.
import type { Dice } from './harness.js';
import type { Attr, AttrRequest, RoomState } from './model.js';

export interface MixedDraw {
  round: number;
  members: string[];
  keys: string[];
  initial: RoomState;
}

/** A starting value: half of them integers, so that increments of seeded keys both add and refuse. */
export function seedValue(dice: Dice, key: string): string {
  return dice.chance(0.5) ? String(dice.int(-3, 9)) : `init.${key}`;
}

/** The room's starting attributes for a mixed round. */
export function seedAttrs(dice: Dice, d: Omit<MixedDraw, 'initial' | 'round'>): Array<[string, Attr]> {
  return d.keys
    .filter(() => dice.chance(0.6))
    .map((k) => [k, { value: seedValue(dice, k), owner: dice.pick(d.members), autoDelete: dice.autoDelete() }]);
}

/**
 * Revisions a condition may ask for: 0 (absent), the key's revision at the start of the round (so
 * that concurrent writers race on it), or one of the next few seqs (a write during the round).
 */
function drawRevision(dice: Dice, key: string, initial: RoomState): number {
  const roll = dice.float();
  if (roll < 0.3) return 0;
  if (roll < 0.75) return initial.attrs.get(key)?.revision ?? 0;
  return initial.seq + dice.int(1, 4);
}

function drawConditions(dice: Dice, keys: string[], initial: RoomState): Pick<AttrRequest, 'ifRevision' | 'atomic'> {
  const out: Pick<AttrRequest, 'ifRevision' | 'atomic'> = {};
  if (dice.chance(0.35)) {
    const named = dice.shuffle(keys).slice(0, dice.int(1, keys.length));
    out.ifRevision = Object.fromEntries(named.map((k) => [k, drawRevision(dice, k, initial)]));
  }
  if (dice.chance(0.3)) out.atomic = true;
  return out;
}

/** One call of a mixed round: its request and whether it is sent with the app token. */
export function mixedCall(dice: Dice, d: MixedDraw, i: number): { req: AttrRequest; asApp: boolean } {
  const roll = dice.float();
  const subset = dice.shuffle(d.keys).slice(0, dice.int(1, d.keys.length));
  let user = dice.pick(d.members);
  let asApp = dice.chance(0.2);
  const conditions = drawConditions(dice, subset, d.initial);
  if (roll < 0.35) {
    const pairs = subset.map((k): [string, string] => [k, dice.chance(0.5) ? String(dice.int(-3, 9)) : `r${d.round}.c${i}`]);
    return { req: { op: 'set', forced: roll >= 0.18, user, autoDelete: dice.autoDelete(), pairs, ...conditions }, asApp };
  }
  if (roll < 0.62) {
    const deltas = subset.map((k): [string, number] => [k, dice.int(-4, 6)]);
    const bounds = { ...(dice.chance(0.35) ? { min: dice.int(-6, 0) } : {}), ...(dice.chance(0.35) ? { max: dice.int(2, 12) } : {}) };
    return { req: { op: 'increment', forced: roll >= 0.48, user, autoDelete: dice.autoDelete(), deltas, ...bounds, ...conditions }, asApp };
  }
  const forced = roll >= 0.82;
  // The official server SDK force-deletes as the pseudo-user `admin`, with an app token.
  if (forced && dice.chance(0.35)) {
    user = 'admin';
    asApp = true;
  }
  return { req: { op: 'delete', forced, user, keys: subset, ...conditions }, asApp };
}
