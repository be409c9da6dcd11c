/**
 * The presence rule (spec section 9), once: a member that was online in a room and has had no
 * live connection to it for the app's grace (`presence.leaveAfterOfflineMs`) leaves the room, as
 * if removed by the admin route, with reason `member_offline`. The owner never leaves this way.
 *
 * A store reads, for each user it looks at, whether the user is a member and since when it has
 * been offline there (null: online, or never seen), plans with this, and applies the plan's
 * leaves as a removal only while what it read still holds: each leaving user is still a member
 * and still offline since the very time read. A reconnect clears the offline-since, so a
 * reconnect that lands before the removal makes it fail (and the member stays), one that lands
 * after it finds no member (and its stream ends): the two are ordered by the store, never both.
 */

/** Presence is on for an app when its grace is positive (absent or 0 in the apps file: off). */
export function presenceOn(graceMs: number): boolean {
  return graceMs > 0;
}

/** When a member offline since `offlineSince` leaves. */
export function leaveAt(offlineSince: number, graceMs: number): number {
  return offlineSince + graceMs;
}

/** What a store read of one user in one room. */
export interface OfflineRead {
  member: boolean;
  /** Since when (ms) the user has had no live connection to the room; null when online or unknown. */
  offlineSince: number | null;
}

export type OfflineDecision =
  /** Leaves now, provided it is still a member offline since exactly this time. */
  | { kind: 'leave'; offlineSince: number }
  /** Offline, leaves at `at` unless it comes back first. */
  | { kind: 'wait'; at: number }
  /** Nothing to do, now or later: online, not offline, not a member, or the owner. */
  | { kind: 'none' };

export function decideOfflineLeave(
  room: { owner: string },
  user: string,
  read: OfflineRead,
  graceMs: number,
  now: number,
): OfflineDecision {
  if (!presenceOn(graceMs) || !read.member || user === room.owner || read.offlineSince === null) return { kind: 'none' };
  const at = leaveAt(read.offlineSince, graceMs);
  return at <= now ? { kind: 'leave', offlineSince: read.offlineSince } : { kind: 'wait', at };
}

export interface OfflineLeavePlan {
  /** The users who leave, in the order read. */
  leaving: string[];
  /** Every user read and whether the plan read it as a member (the removal's precondition). */
  read: Array<[user: string, member: boolean]>;
  /** Each leaving user's offline-since as read: the removal applies only while it is still this. */
  offlineSince: Array<[user: string, since: number]>;
  /** The users with nothing left to do (online, not a member, the owner): their due entries can go. */
  settled: string[];
  /** The earliest time a user read leaves if it does not come back; null when none waits. */
  nextAt: number | null;
}

/** Plans the offline leaves of the users read in one room, at `now`. */
export function planOfflineLeave(
  room: { owner: string },
  reads: ReadonlyMap<string, OfflineRead>,
  graceMs: number,
  now: number,
): OfflineLeavePlan {
  const plan: OfflineLeavePlan = { leaving: [], read: [], offlineSince: [], settled: [], nextAt: null };
  for (const [user, read] of reads) {
    plan.read.push([user, read.member]);
    const d = decideOfflineLeave(room, user, read, graceMs, now);
    if (d.kind === 'leave') {
      plan.leaving.push(user);
      plan.offlineSince.push([user, d.offlineSince]);
    } else if (d.kind === 'wait') {
      plan.nextAt = plan.nextAt === null ? d.at : Math.min(plan.nextAt, d.at);
    } else {
      plan.settled.push(user);
    }
  }
  return plan;
}
