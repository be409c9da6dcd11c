import { Errors } from './errors.js';
import type { Range } from './attributes.js';

/**
 * The room rules (spec section 6), once: who a new room holds, who may join (maxusers), who may be
 * removed (members only, never the owner by the admin route). Each store reads what a rule needs,
 * plans with these, and applies the plan atomically; a store that does not plan under its own
 * write lock applies a plan only while its preconditions still hold.
 */

/** Why one user of a removal was not removed: rendered as Agora's text at the HTTP edge. */
export type LeaveRefusal = 'owner' | 'not_member';

export interface LeaveOutcome {
  user: string;
  result: boolean;
  refusal?: LeaveRefusal;
}

/** Every named user must exist (`exists` answers for one). */
export function requireUsers(usernames: readonly string[], exists: (username: string) => boolean): void {
  const missing = usernames.find((u) => !exists(u));
  if (missing !== undefined) throw Errors.usernameDoesNotExist(missing);
}

/** The members of a new room, owner first, each once; more than maxusers is refused. */
export function newRoomMembers(room: { owner: string; members: readonly string[]; maxusers: number }): string[] {
  const members = [...new Set([room.owner, ...room.members])];
  if (members.length > room.maxusers) throw Errors.roomFull('new', room.maxusers);
  return members;
}

export interface JoinPlan {
  /** The named users who are not members yet, each once, in the order named. */
  fresh: string[];
  /** Every named user, each once, and whether the plan read it as a member. */
  read: Array<[user: string, member: boolean]>;
  /** The member count the plan holds for. */
  memberCount: Range;
}

/** Adds the named users who are not members; refused as a whole if the room would pass maxusers. */
export function planJoin(
  room: { id: string; maxusers: number; memberCount: number },
  usernames: readonly string[],
  isMember: (username: string) => boolean,
): JoinPlan {
  const read = [...new Set(usernames)].map((u): [string, boolean] => [u, isMember(u)]);
  const fresh = read.filter(([, member]) => !member).map(([u]) => u);
  if (room.memberCount + fresh.length > room.maxusers) throw Errors.roomFull(room.id, room.maxusers);
  return { fresh, read, memberCount: { min: null, max: room.maxusers - fresh.length } };
}

export interface LeavePlan {
  outcomes: LeaveOutcome[];
  /** The users who leave, in the order named. */
  leaving: string[];
  /** Every named user and whether the plan read it as a member. */
  read: Array<[user: string, member: boolean]>;
}

/**
 * Removes the named members. The owner stays unless `ownerToo` (a deleted user leaves even the
 * rooms it owns); a user who is not a member is refused. `usernames` are distinct.
 */
export function planLeave(
  room: { owner: string },
  usernames: readonly string[],
  isMember: (username: string) => boolean,
  ownerToo: boolean,
): LeavePlan {
  const outcomes: LeaveOutcome[] = [];
  const leaving: string[] = [];
  const read: Array<[string, boolean]> = [];
  for (const user of usernames) {
    const member = isMember(user);
    read.push([user, member]);
    if (user === room.owner && !ownerToo) outcomes.push({ user, result: false, refusal: 'owner' });
    else if (!member) outcomes.push({ user, result: false, refusal: 'not_member' });
    else {
      leaving.push(user);
      outcomes.push({ user, result: true });
    }
  }
  return { outcomes, leaving, read };
}
