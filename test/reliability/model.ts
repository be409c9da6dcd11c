// A serial model of one room, built on the rules of src/domain/attributes.ts, and a checker that
// looks for a serial order of observed concurrent calls explaining both their answers and the final
// state (linearizability of one room, checked by a small memoized backtracking search).
import { isDeepStrictEqual } from 'node:util';
import { pairBytes, planDelete, planSet, type AutoDelete, type Conditions } from '../../src/domain/attributes.js';
import { keyOutcomesBody, type KeyOutcomesBody as KeyOutcomes } from '../../src/http/key-reasons.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';

export interface Attr {
  value: string;
  owner: string;
  autoDelete: AutoDelete;
}

/** A stored attribute as get with `detail` reports it: its revision is the seq of the event that last wrote it. */
export interface Held extends Attr {
  revision: number;
}

/** A room as the model sees it: its attributes and the seq of its latest event (one per call that wrote a key). */
export interface RoomState {
  attrs: ReadonlyMap<string, Held>;
  seq: number;
}

type Common = { forced: boolean; user: string } & Conditions;
export type AttrRequest =
  | (Common & { op: 'set'; autoDelete: AutoDelete; pairs: Array<[string, string]> })
  /** A counter call: set with `increment` (spec section 10), `min` / `max` optional bounds. */
  | (Common & { op: 'increment'; autoDelete: AutoDelete; deltas: Array<[string, number]>; min?: number; max?: number })
  | (Common & { op: 'delete'; keys: string[] });

/** One call as a client saw it: its request, its real-time interval and the answer it got. */
export interface ObservedCall {
  request: AttrRequest;
  /** Client clock (performance.now()) before the request was sent. */
  startedAt: number;
  /** Client clock once the answer was read; Infinity when no answer came. */
  endedAt: number;
  /** The per-key outcomes answered; null when no answer came (the call may or may not be applied). */
  outcome: KeyOutcomes | null;
}

function conditionsOf(req: AttrRequest): Conditions {
  return {
    ...(req.ifRevision !== undefined ? { ifRevision: req.ifRevision } : {}),
    ...(req.atomic !== undefined ? { atomic: req.atomic } : {}),
  };
}

/** Applies one call to a room state with the domain's rules; the state given is not changed. */
export function applyCall(state: RoomState, req: AttrRequest, limits: Limits = DEFAULT_LIMITS): { state: RoomState; outcome: KeyOutcomes } {
  const next = new Map(state.attrs);
  const lookup = (key: string) => {
    const a = state.attrs.get(key);
    return a === undefined ? undefined : { owner: a.owner, bytes: pairBytes(key, a.value), revision: a.revision, value: a.value };
  };
  // Every call that writes at least one key is one event, and its seq is the revision of what it wrote.
  const seq = state.seq + 1;
  if (req.op === 'set' || req.op === 'increment') {
    let appBytes = 0;
    for (const [k, a] of state.attrs) appBytes += pairBytes(k, a.value);
    const plan = planSet({
      user: req.user,
      forced: req.forced,
      pairs: req.op === 'set' ? req.pairs : req.deltas,
      lookup,
      roomCount: state.attrs.size,
      appBytes,
      limits,
      ...conditionsOf(req),
      ...(req.op === 'increment'
        ? { increment: { ...(req.min !== undefined ? { min: req.min } : {}), ...(req.max !== undefined ? { max: req.max } : {}) } }
        : {}),
    });
    for (const w of plan.writes) next.set(w.key, { value: w.value, owner: req.user, autoDelete: req.autoDelete, revision: seq });
    return { state: { attrs: next, seq: plan.writes.length > 0 ? seq : state.seq }, outcome: keyOutcomesBody(plan.outcome) };
  }
  const plan = planDelete({ user: req.user, forced: req.forced, keys: req.keys, lookup, ...conditionsOf(req) });
  for (const r of plan.removals) next.delete(r.key);
  return { state: { attrs: next, seq: plan.removals.length > 0 ? seq : state.seq }, outcome: keyOutcomesBody(plan.outcome) };
}

/**
 * successKeys in request order, as the API answers them; errorKeys as a map; an increment's values
 * as a map (an increment that wrote nothing may answer `{}` or leave them out).
 */
export function sameOutcome(a: KeyOutcomes, b: KeyOutcomes): boolean {
  return (
    isDeepStrictEqual(a.successKeys, b.successKeys) &&
    isDeepStrictEqual({ ...a.errorKeys }, { ...b.errorKeys }) &&
    isDeepStrictEqual({ ...a.values }, { ...b.values })
  );
}

function stateKey(state: RoomState): string {
  const attrs = [...state.attrs.keys()]
    .sort()
    .map((k) => {
      const a = state.attrs.get(k)!;
      return `${k}\u0000${a.value}\u0000${a.owner}\u0000${a.autoDelete}\u0000${a.revision}`;
    })
    .join('\u0001');
  return `${state.seq}\u0002${attrs}`;
}

export function sameState(a: RoomState, b: RoomState): boolean {
  return stateKey(a) === stateKey(b);
}

/** The attributes without their revisions, as GET .../chatrooms/{id}/attributes reports them. */
export function plainAttrs(state: RoomState): Map<string, Attr> {
  return new Map([...state.attrs].map(([k, a]) => [k, { value: a.value, owner: a.owner, autoDelete: a.autoDelete }]));
}

export type Explanation =
  { ok: true; order: number[]; skipped: number[]; visited: number } | { ok: false; reason: string; visited: number };

const MAX_CALLS = 30;

/**
 * Searches a serial order of `calls`, starting from `initial`, in which every answered call gets
 * exactly the outcome it answered and the room ends as `final` (values, owners, flags, revisions and
 * its seq). A call that finished before another started comes first. Calls that got no answer may be
 * applied at any point or not at all.
 *
 * The search stays small on rounds of a dozen calls (it runs on the test's event loop, so a slow
 * one would stall the test's own connections): it tries calls in the order their answers came, which
 * is close to the order applied; it drops an order as soon as the room's seq passes a key's final
 * revision while the key does not hold its final state (no later call can write it at that revision);
 * and it remembers dead ends by the keys the calls name only (no call changes any other key).
 */
export function explain(
  initial: RoomState,
  calls: readonly ObservedCall[],
  final: RoomState,
  limits: Limits = DEFAULT_LIMITS,
  maxVisits = 2_000_000,
): Explanation {
  if (calls.length > MAX_CALLS) throw new Error(`the checker takes at most ${MAX_CALLS} calls, got ${calls.length}`);
  const n = calls.length;
  const full = n === 0 ? 0 : 2 ** n - 1;
  // before[i]: the calls that must already be placed when i is (they ended before i started).
  const before = calls.map((c) => calls.reduce((mask, d, j) => (d.endedAt < c.startedAt ? mask | (1 << j) : mask), 0));
  const tryOrder = calls
    .map((_, i) => i)
    .sort((a, b) => calls[a]!.endedAt - calls[b]!.endedAt || calls[a]!.startedAt - calls[b]!.startedAt);
  const named = [...new Set(calls.flatMap((c) => keysOf(c.request)))].sort();
  const finalKey = stateKey(final);
  const dead = new Set<string>();
  const order: number[] = [];
  const skipped: number[] = [];
  let visited = 0;

  // A key in the final state was last written at seq `revision`: once the room's seq reaches it,
  // the key must hold its final state already (a later write would carry a later revision).
  const couldEndAsFinal = (state: RoomState): boolean => {
    if (state.seq > final.seq) return false;
    for (const k of named) {
      const want = final.attrs.get(k);
      if (want === undefined || want.revision > state.seq) continue;
      const got = state.attrs.get(k);
      if (got === undefined || !sameHeld(got, want)) return false;
    }
    return true;
  };
  const namedKey = (state: RoomState): string =>
    `${state.seq}\u0002${named
      .map((k) => {
        const a = state.attrs.get(k);
        return a === undefined ? '' : `${a.value}\u0000${a.owner}\u0000${a.autoDelete}\u0000${a.revision}`;
      })
      .join('\u0001')}`;

  const search = (placed: number, state: RoomState): boolean => {
    if (placed === full) return stateKey(state) === finalKey;
    if (!couldEndAsFinal(state)) return false;
    const memo = `${placed}|${namedKey(state)}`;
    if (dead.has(memo)) return false;
    if (++visited > maxVisits) throw new Error(`serial-order search gave up after ${maxVisits} states`);
    for (const i of tryOrder) {
      const bit = 1 << i;
      if ((placed & bit) !== 0 || (before[i]! & placed) !== before[i]) continue;
      const { state: next, outcome } = applyCall(state, calls[i]!.request, limits);
      const answered = calls[i]!.outcome;
      if (answered === null || sameOutcome(outcome, answered)) {
        order.push(i);
        if (search(placed | bit, next)) return true;
        order.pop();
      }
      if (answered === null) {
        skipped.push(i);
        if (search(placed | bit, state)) return true;
        skipped.pop();
      }
    }
    dead.add(memo);
    return false;
  };

  if (search(0, initial)) return { ok: true, order: [...order], skipped: [...skipped], visited };
  return { ok: false, reason: `no serial order of the ${n} calls explains their answers and the final state`, visited };
}

function keysOf(req: AttrRequest): string[] {
  if (req.op === 'set') return req.pairs.map(([k]) => k);
  if (req.op === 'increment') return req.deltas.map(([k]) => k);
  return req.keys;
}

function sameHeld(a: Held, b: Held): boolean {
  return a.value === b.value && a.owner === b.owner && a.autoDelete === b.autoDelete && a.revision === b.revision;
}

function describeRequest(r: AttrRequest): string {
  const cond = `${r.ifRevision !== undefined ? ` ifRevision ${JSON.stringify(r.ifRevision)}` : ''}${r.atomic ? ' atomic' : ''}`;
  const forced = r.forced ? 'forced ' : '';
  if (r.op === 'set') return `${forced}set by ${r.user} (${r.autoDelete}) ${JSON.stringify(Object.fromEntries(r.pairs))}${cond}`;
  if (r.op === 'delete') return `${forced}delete by ${r.user} ${JSON.stringify(r.keys)}${cond}`;
  const bounds = r.min !== undefined || r.max !== undefined ? ` in [${r.min ?? '-inf'}, ${r.max ?? 'inf'}]` : '';
  return `${forced}increment by ${r.user} (${r.autoDelete}) ${JSON.stringify(Object.fromEntries(r.deltas))}${bounds}${cond}`;
}

/** A readable account of a round, for assertion messages. */
export function describeRound(initial: RoomState, calls: readonly ObservedCall[], final: RoomState): string {
  const show = (s: RoomState) => `seq ${s.seq} ${JSON.stringify(Object.fromEntries([...s.attrs].sort(([a], [b]) => (a < b ? -1 : 1))))}`;
  const t0 = Math.min(...calls.map((c) => c.startedAt));
  const lines = calls.map((c, i) => {
    const when = `[${(c.startedAt - t0).toFixed(1)}, ${Number.isFinite(c.endedAt) ? (c.endedAt - t0).toFixed(1) : 'no answer'}] ms`;
    return `  #${i} ${when} ${describeRequest(c.request)} -> ${c.outcome === null ? 'no answer' : JSON.stringify(c.outcome)}`;
  });
  return [`initial: ${show(initial)}`, ...lines, `final:   ${show(final)}`].join('\n');
}
