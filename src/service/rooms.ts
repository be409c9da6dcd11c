import { Errors } from '../domain/errors.js';
import type { LeaveRefusal } from '../domain/rooms.js';
import { isRoomId } from '../domain/ids.js';
import { checkUsername } from '../domain/requests.js';
import type { DataTransfer, RoomStore } from '../store/types.js';
import { requireAppToken, type ServiceContext } from './context.js';
import { afterCursor, cursorOf } from './list-cursor.js';
import { checkRoomId } from './room-id.js';

const DEFAULT_MAXUSERS = 10_000;
/** Agora's list of all chatrooms: 10 a page unless asked, at most 1000. */
const LIST_DEFAULT = 10;
const LIST_MAX = 1000;
/** Members listed a page at a time: 1000 a page unless asked. */
const MEMBERS_DEFAULT = 1000;
/** Most members one call adds or removes. */
const MEMBERS_BATCH = 60;

export interface NewRoomInput {
  name: string;
  description: string;
  maxusers?: number;
  owner: string;
  members?: readonly string[];
}

export interface RoomSummary {
  id: string;
  name: string;
  owner: string;
  affiliations_count: number;
}

export interface RoomDetails extends RoomSummary {
  description: string;
  maxusers: number;
  created: number;
}

export interface MemberOutcome {
  result: boolean;
  action: 'remove_member';
  /** Why the user was not removed; the HTTP edge renders it as Agora's `reason` text. */
  refusal?: LeaveRefusal;
  user: string;
  id: string;
}

/** Usernames a removal names: blanks skipped, each checked and once, 1 to 60 of them. */
function removalNames(raw: readonly string[]): string[] {
  const names = [...new Set(raw.filter((u) => u !== '').map((u) => checkUsername(u)))];
  if (names.length === 0) throw Errors.illegalArgument('username must name at least one user');
  if (names.length > MEMBERS_BATCH) throw Errors.batchTooLarge(MEMBERS_BATCH);
  return names;
}

/** The chatroom calls of spec section 6 (app tokens). Membership changes apply autoDelete inside the store. */
export function roomService(store: RoomStore & Pick<DataTransfer, 'listRooms'>) {
  return {
    async create(ctx: ServiceContext, input: NewRoomInput): Promise<{ id: string }> {
      requireAppToken(ctx.principal);
      const owner = checkUsername(input.owner, 'owner');
      const members = (input.members ?? []).map((m, i) => checkUsername(m, `members[${i}]`));
      const room = await store.createRoom(ctx.app.appId, {
        name: input.name,
        description: input.description,
        owner,
        members,
        maxusers: input.maxusers ?? DEFAULT_MAXUSERS,
      });
      return { id: room.id };
    },

    /** Rooms in id order, a page at a time; `cursor` while more follow, `limit` as applied. */
    async list(
      ctx: ServiceContext,
      page: { limit?: number; cursor?: string },
    ): Promise<{ rooms: RoomSummary[]; cursor: string | undefined; limit: number }> {
      requireAppToken(ctx.principal);
      const limit = Math.min(page.limit ?? LIST_DEFAULT, LIST_MAX);
      const found = await store.listRooms(ctx.app.appId, afterCursor(page.cursor, isRoomId), limit + 1);
      const rooms = found.slice(0, limit);
      const last = rooms.at(-1);
      const cursor = found.length > limit && last !== undefined ? cursorOf(last.id) : undefined;
      return { rooms: rooms.map((r) => ({ id: r.id, name: r.name, owner: r.owner, affiliations_count: r.memberCount })), cursor, limit };
    },

    async details(ctx: ServiceContext, roomId: string): Promise<RoomDetails> {
      requireAppToken(ctx.principal);
      const room = await store.getRoom(ctx.app.appId, checkRoomId(roomId));
      if (!room) throw Errors.roomNotFound(roomId);
      return {
        id: room.id,
        name: room.name,
        description: room.description,
        owner: room.owner,
        maxusers: room.maxusers,
        affiliations_count: room.memberCount,
        created: room.created,
      };
    },

    async destroy(ctx: ServiceContext, roomId: string): Promise<{ success: true; id: string }> {
      requireAppToken(ctx.principal);
      if (!(await store.destroyRoom(ctx.app.appId, checkRoomId(roomId), ctx.app.routing))) throw Errors.roomNotFound(roomId);
      return { success: true, id: roomId };
    },

    async addMember(ctx: ServiceContext, roomId: string, username: string) {
      requireAppToken(ctx.principal);
      const user = checkUsername(username);
      await store.addMembers(ctx.app.appId, checkRoomId(roomId), [user]);
      return { result: true, action: 'add_member', id: roomId, user } as const;
    },

    async addMembers(ctx: ServiceContext, roomId: string, usernames: readonly string[]) {
      requireAppToken(ctx.principal);
      const names = usernames.map((u, i) => checkUsername(u, `usernames[${i}]`));
      const added = await store.addMembers(ctx.app.appId, checkRoomId(roomId), names);
      return { newmembers: added, action: 'add_member', id: roomId } as const;
    },

    /** Removes one member; one that is not a member, or the owner, is refused. */
    async removeMember(ctx: ServiceContext, roomId: string, username: string): Promise<MemberOutcome> {
      requireAppToken(ctx.principal);
      const names = removalNames([username]);
      const [r] = await store.removeMembers(ctx.app.appId, checkRoomId(roomId), names, ctx.app.routing);
      if (r === undefined) throw new Error('removeMembers answered no outcome for one user');
      if (!r.result) {
        if (r.refusal === 'not_member') throw Errors.notMembers([r.user]);
        throw Errors.ownerCannotLeave(roomId);
      }
      return { result: true, action: 'remove_member', user: r.user, id: roomId };
    },

    /** Removes several members (each once, up to 60), with an outcome for each. */
    async removeMembers(ctx: ServiceContext, roomId: string, usernames: readonly string[]): Promise<MemberOutcome[]> {
      requireAppToken(ctx.principal);
      const names = removalNames(usernames);
      const results = await store.removeMembers(ctx.app.appId, checkRoomId(roomId), names, ctx.app.routing);
      return results.map((r) => ({
        result: r.result,
        action: 'remove_member',
        ...(r.refusal ? { refusal: r.refusal } : {}),
        user: r.user,
        id: roomId,
      }));
    },

    /** A page of members, owner first; `pagesize` and `pagenum` as applied. */
    async members(ctx: ServiceContext, roomId: string, page: { pagesize?: number; pagenum?: number }) {
      requireAppToken(ctx.principal);
      const room = await store.getRoom(ctx.app.appId, checkRoomId(roomId));
      if (!room) throw Errors.roomNotFound(roomId);
      const pagesize = page.pagesize ?? MEMBERS_DEFAULT;
      const pagenum = page.pagenum ?? 1;
      const names = await store.listMembers(ctx.app.appId, roomId, (pagenum - 1) * pagesize, pagesize);
      const members: Array<{ owner: string } | { member: string }> = names.map((u) => (u === room.owner ? { owner: u } : { member: u }));
      return { members, pagesize, pagenum };
    },
  };
}

export type RoomService = ReturnType<typeof roomService>;
