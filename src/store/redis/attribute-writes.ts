import { planDelete, planSet, type KeyOutcomes, type Preconditions, type Range, type StoredAttr } from '../../domain/attributes.js';
import { Errors } from '../../domain/errors.js';
import type { EventReason, EventRouting } from '../../domain/events.js';
import type { DeleteCall, SetCall } from '../types.js';

/** What the writer needs of the store: its keys, its event blocks and its script runners. */
export interface WriterDeps {
  roomKeys(appId: string, roomId: string): { room: string; members: string; attrs: string; meta: string };
  usageKey(appId: string): string;
  eventBlock(
    appId: string,
    roomId: string,
    routing: EventRouting,
    reason: EventReason,
    ts: number,
    from: string,
  ): { args: Array<string | number>; endpoints: readonly string[]; post: string };
  now(): number;
  applySet(...args: Array<string | number>): Promise<Array<string | number>>;
  applyDelete(...args: Array<string | number>): Promise<Array<string | number>>;
  addUsage(key: string, delta: number): Promise<number>;
  indexOutbox(appId: string, roomId: string, endpoints: readonly string[]): Promise<void>;
  /** Whether the app's usage counter can sit beside the room in one script (a single Redis). */
  usageInScript(): Promise<boolean>;
}

/** How often a write plans again when another call changed what its plan was made from. */
const MAX_ATTEMPTS = 200;
const MAX_ROOMS = 10_000;
const MAX_KEYS_PER_ROOM = 512;

/** What this instance last saw of a room: the key count and B:meta entries ('' = absent). */
interface RoomView {
  count: number | null;
  metas: Map<string, string>;
}

/** A B:meta entry "owner|auto|bytes|revision" as the domain's StoredAttr ('' = absent). */
function storedOf(meta: string | undefined): StoredAttr | undefined {
  if (meta === undefined || meta === '') return undefined;
  const [owner = '', , bytes, revision] = meta.split('|'); // split gives the first part always
  return { owner, bytes: Number(bytes), revision: Number(revision ?? 0) };
}

const inRange = (n: number, r: Range) => (r.min === null || n >= r.min) && (r.max === null || n <= r.max);

/** A bound for plan-check.lua: '' is open. */
const bound = (n: number | null | undefined): string | number => (n === null || n === undefined ? '' : n);

/**
 * The one write path of attributes on Redis and Redis Cluster. Each call is planned by domain/
 * from what this instance last saw of the room (a bounded cache, refreshed by every reply), and
 * sent with the plan's preconditions to APPLY_SET or APPLY_DELETE, which apply it only while they
 * hold: one round trip when the instance's view is current. When it is not, the script answers
 * the room's current state and the call is planned again from that. No rule is decided in Lua.
 *
 * On a single Redis the app's usage counter is in the script too. On a cluster it is in another
 * slot: a plan whose outcome depends on the usage reserves its bytes first and goes on only if the
 * usage it found is in the plan's range (two round trips); any other plan moves the counter beside
 * the script. Either way no set takes the app past its byte quota.
 */
export class AttributeWrites {
  private readonly views = new Map<string, RoomView>();
  private readonly usage = new Map<string, number>();
  /** Calls applied, and the plans made again because the room had moved (bench/hot-key.ts reads these). */
  readonly stats = { calls: 0, replans: 0 };

  constructor(private readonly d: WriterDeps) {}

  async set(call: SetCall): Promise<KeyOutcomes> {
    const inScript = await this.d.usageInScript();
    const reason: EventReason = call.forced ? 'forced_set' : 'set';
    const auto = call.autoDelete === 'DELETE' ? '1' : '0';
    return this.untilApplied(call, call.user, true, inScript, (view) => {
      const plan = planSet({
        ...call.conditions,
        user: call.user,
        forced: call.forced,
        pairs: call.pairs,
        limits: call.limits,
        lookup: (key) => storedOf(view.metas.get(key)),
        // Unknown to this instance: planned as empty, and the script's check says if it was not.
        roomCount: view.count ?? 0,
        appBytes: () => this.usage.get(call.appId) ?? 0,
      });
      const tail: Array<string | number> = [auto, plan.bytesDelta, plan.writes.length];
      for (const w of plan.writes)
        tail.push(w.key, w.value, w.bytes, `${JSON.stringify(w.key)}:${JSON.stringify(w.value)}`, w.previous?.owner ?? '');
      return {
        plan,
        reason,
        tail,
        run: (args) => this.d.applySet(...args),
        written: (seq) => plan.writes.map((w) => [w.key, `${call.user}|${auto}|${w.bytes}|${seq}`] as const),
      };
    });
  }

  async delete(call: DeleteCall): Promise<KeyOutcomes> {
    const inScript = await this.d.usageInScript();
    const reason: EventReason = call.forced ? 'forced_delete' : 'delete';
    return this.untilApplied(call, call.user, call.checkMembership, inScript, (view) => {
      const plan = planDelete({
        ...call.conditions,
        user: call.user,
        forced: call.forced,
        keys: call.keys,
        lookup: (key) => storedOf(view.metas.get(key)),
      });
      const tail: Array<string | number> = [plan.bytesDelta, plan.removals.length];
      for (const r of plan.removals) tail.push(r.key, r.owner);
      return {
        plan: { ...plan, writes: plan.removals },
        reason,
        tail,
        run: (args) => this.d.applyDelete(...args),
        written: () => plan.removals.map((r) => [r.key, ''] as const),
      };
    });
  }

  /** Forgets what this instance saw of a room (it was destroyed or restored). */
  forget(appId: string, roomId: string): void {
    this.views.delete(`${appId}\u0000${roomId}`);
  }

  private async untilApplied(
    call: { appId: string; roomId: string; routing: EventRouting },
    user: string,
    checkMember: boolean,
    inScript: boolean,
    planFrom: (view: RoomView) => {
      plan: { outcome: KeyOutcomes; writes: readonly unknown[]; bytesDelta: number; preconditions: Preconditions };
      reason: EventReason;
      tail: Array<string | number>;
      run: (args: Array<string | number>) => Promise<Array<string | number>>;
      written: (seq: number) => ReadonlyArray<readonly [string, string]>;
    },
  ): Promise<KeyOutcomes> {
    const { appId, roomId } = call;
    const k = this.d.roomKeys(appId, roomId);
    const keys = inScript ? [5, k.room, k.members, k.attrs, k.meta, this.d.usageKey(appId)] : [4, k.room, k.members, k.attrs, k.meta];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const view = this.view(appId, roomId);
      const step = planFrom(view);
      const { plan } = step;
      const pre = plan.preconditions;
      const block: Array<string | number> = [
        user,
        checkMember ? '1' : '0',
        bound(pre.roomCount?.min),
        bound(pre.roomCount?.max),
        bound(pre.appBytes?.min),
        bound(pre.appBytes?.max),
        pre.keys.length,
      ];
      for (const key of pre.keys) block.push(key, view.metas.get(key) ?? '');
      const usageKey = this.d.usageKey(appId);
      let reserved = false;
      if (!inScript && pre.appBytes !== null) {
        // The plan depends on the app's usage, in another slot: its bytes are reserved first, and
        // the plan goes on only if the usage it found is one the plan holds for (an exact quota).
        const total = await this.d.addUsage(usageKey, plan.bytesDelta);
        const found = total - plan.bytesDelta;
        this.noteUsage(appId, found);
        if (!inRange(found, pre.appBytes)) {
          if (plan.bytesDelta !== 0) await this.d.addUsage(usageKey, -plan.bytesDelta);
          this.stats.replans += 1;
          continue;
        }
        reserved = true;
      }
      const ev = this.d.eventBlock(appId, roomId, call.routing, step.reason, this.d.now(), user);
      const apply = step.run([...keys, ...ev.args, ev.post, ...block, ...step.tail]);
      // A plan that does not depend on the usage moves it beside the script, in the same round trip.
      const beside = !inScript && !reserved && plan.writes.length > 0 && plan.bytesDelta !== 0;
      const [res, usage] = await Promise.allSettled([apply, beside ? this.d.addUsage(usageKey, plan.bytesDelta) : null]);
      const status = res.status === 'fulfilled' ? Number(res.value[0]) : -1;
      if (status !== 2 && plan.bytesDelta !== 0 && (reserved || (beside && usage.status === 'fulfilled'))) {
        // Moved for a script that did not apply: moved back.
        await this.d.addUsage(usageKey, -plan.bytesDelta);
      } else if (status === 2 && beside && usage.status === 'fulfilled') this.noteUsage(appId, usage.value as number);
      else if (status === 2 && reserved) this.noteUsage(appId, (this.usage.get(appId) ?? 0) + plan.bytesDelta);
      if (res.status === 'rejected') throw res.reason;
      if (usage.status === 'rejected') throw usage.reason;
      const reply = res.value;
      if (status === 0) {
        this.forget(appId, roomId);
        throw Errors.roomNotFound(roomId);
      }
      if (status === 1) throw Errors.notInRoom();
      if (status === 2) {
        this.stats.calls += 1;
        const seq = Number(reply[1]);
        view.count = Number(reply[2]);
        if (seq !== 0) {
          for (const [key, meta] of step.written(seq)) this.note(view, key, meta);
          if (inScript && plan.bytesDelta !== 0) this.noteUsage(appId, (this.usage.get(appId) ?? 0) + plan.bytesDelta);
          await this.d.indexOutbox(appId, roomId, ev.endpoints);
        }
        return plan.outcome;
      }
      // status 3: the room moved since this instance saw it; plan again from what it is now.
      this.stats.replans += 1;
      view.count = Number(reply[1]);
      if (reply[2] !== '') this.noteUsage(appId, Number(reply[2]));
      pre.keys.forEach((key, i) => this.note(view, key, String(reply[3 + i] ?? '')));
      await backoff(attempt);
    }
    throw Errors.storeUnavailable('too many concurrent writes to this chatroom, try again');
  }

  private noteUsage(appId: string, bytes: number): void {
    this.usage.set(appId, bytes);
    if (this.usage.size > MAX_ROOMS) this.usage.delete(this.usage.keys().next().value as string);
  }

  /** The room's view, most recently used last; the least recently used is dropped past MAX_ROOMS. */
  private view(appId: string, roomId: string): RoomView {
    const id = `${appId}\u0000${roomId}`;
    let view = this.views.get(id);
    if (view !== undefined) this.views.delete(id);
    else view = { count: null, metas: new Map() };
    this.views.set(id, view);
    if (this.views.size > MAX_ROOMS) this.views.delete(this.views.keys().next().value as string);
    return view;
  }

  private note(view: RoomView, key: string, meta: string): void {
    // Past the bound the view starts again: a view is only a guess, and a wrong guess costs a replan.
    if (!view.metas.has(key) && view.metas.size >= MAX_KEYS_PER_ROOM) view.metas.clear();
    view.metas.set(key, meta);
  }
}

/** Spreads the calls that keep meeting each other on a hot room, so that one of them applies each round. */
export function backoff(attempt: number): Promise<void> {
  if (attempt < 2) return new Promise((resolve) => setImmediate(resolve));
  const ms = Math.random() * Math.min(20, attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
