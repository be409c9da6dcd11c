import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../domain/errors.js';
import { checkUsername } from '../../domain/requests.js';
import type { DataTransfer, RoomStore } from '../../store/types.js';
import { ctx } from '../context.js';
import { roomParam } from '../room-param.js';
import { sendOk } from '../envelope.js';
import { AddMembersBody, CreateRoomBody, Envelope, ListQuery, MembersQuery } from '../schemas.js';
import { isRoomId } from '../../domain/ids.js';
import { afterCursor, cursorOf } from '../list-cursor.js';
import { Type } from '@sinclair/typebox';
import { defineRoute } from './define-route.js';

const DEFAULT_MAXUSERS = 10_000;
/** Agora's list of all chatrooms: 10 a page unless asked, at most 1000. */
const LIST_DEFAULT = 10;
const LIST_MAX = 1000;

interface RoomParams {
  id: string;
}
interface MemberParams extends RoomParams {
  username: string;
}

/** The chatroom calls of spec section 6. Membership changes apply autoDelete inside the store. */
export function chatroomRoutes(store: RoomStore & Pick<DataTransfer, 'listRooms'>): FastifyPluginAsync {
  return async (f) => {
    const create = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const body = req.body as CreateRoomBody;
      const owner = checkUsername(body.owner, 'owner');
      const members = (body.members ?? []).map((m, i) => checkUsername(m, `members[${i}]`));
      const room = await store.createRoom(app!.appId, {
        name: body.name,
        description: body.description,
        owner,
        members,
        maxusers: body.maxusers ?? DEFAULT_MAXUSERS,
      });
      return sendOk(req, reply, 'chatrooms', { id: room.id });
    };

    // GET /chatrooms?limit=&cursor=, shaped as Agora's: rooms in id order, a cursor while more follow.
    const listAll = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const q = req.query as ListQuery;
      const limit = Math.min(Number(q.limit ?? LIST_DEFAULT), LIST_MAX);
      const rooms = await store.listRooms(app!.appId, afterCursor(q.cursor, isRoomId), limit + 1);
      const page = rooms.slice(0, limit);
      const data = page.map((r) => ({ id: r.id, name: r.name, owner: r.owner, affiliations_count: r.memberCount }));
      const cursor = rooms.length > limit ? cursorOf(page[page.length - 1].id) : undefined;
      return sendOk(req, reply, 'chatrooms', data, {
        cursor,
        count: data.length,
        params: { limit: [String(limit)], ...(q.cursor ? { cursor: [q.cursor] } : {}) },
      });
    };

    const details = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id } = req.params as RoomParams;
      const room = await store.getRoom(app!.appId, roomParam(id));
      if (!room) throw Errors.roomNotFound(id);
      return sendOk(req, reply, 'chatrooms', [
        {
          id: room.id,
          name: room.name,
          description: room.description,
          owner: room.owner,
          maxusers: room.maxusers,
          affiliations_count: room.memberCount,
          created: room.created,
        },
      ]);
    };

    const destroy = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id } = req.params as RoomParams;
      if (!(await store.destroyRoom(app!.appId, roomParam(id), app!.routing))) throw Errors.roomNotFound(id);
      return sendOk(req, reply, 'chatrooms', { success: true, id });
    };

    const addOne = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id, username } = req.params as MemberParams;
      const user = checkUsername(username);
      await store.addMembers(app!.appId, roomParam(id), [user]);
      return sendOk(req, reply, 'chatrooms', { result: true, action: 'add_member', id, user });
    };

    const addMany = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id } = req.params as RoomParams;
      const names = (req.body as AddMembersBody).usernames.map((u, i) => checkUsername(u, `usernames[${i}]`));
      const added = await store.addMembers(app!.appId, roomParam(id), names);
      return sendOk(req, reply, 'chatrooms', { newmembers: added, action: 'add_member', id });
    };

    // One path serves both forms: `u1` removes one member, `u1,u2` several (spec section 6).
    const remove = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id, username } = req.params as MemberParams;
      const several = username.includes(',');
      const names = [
        ...new Set(
          username
            .split(',')
            .filter((u) => u !== '')
            .map((u) => checkUsername(u)),
        ),
      ];
      if (names.length === 0) throw Errors.illegalArgument('username must name at least one user');
      if (names.length > 60) throw Errors.batchTooLarge(60);
      const results = await store.removeMembers(app!.appId, roomParam(id), names, app!.routing);
      if (!several) {
        const [r] = results;
        if (!r.result) {
          if (r.reason === 'user is not in chatroom') throw Errors.notMembers([r.user]);
          throw Errors.ownerCannotLeave(id);
        }
        return sendOk(req, reply, 'chatrooms', { result: true, action: 'remove_member', user: r.user, id });
      }
      return sendOk(
        req,
        reply,
        'chatrooms',
        results.map((r) => ({
          result: r.result,
          action: 'remove_member',
          ...(r.reason ? { reason: r.reason } : {}),
          user: r.user,
          id,
        })),
      );
    };

    const list = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { id } = req.params as RoomParams;
      const q = req.query as MembersQuery;
      const room = await store.getRoom(app!.appId, roomParam(id));
      if (!room) throw Errors.roomNotFound(id);
      const pagesize = Number(q.pagesize ?? 1000);
      const pagenum = Number(q.pagenum ?? 1);
      const names = await store.listMembers(app!.appId, id, (pagenum - 1) * pagesize, pagesize);
      const data = names.map((u) => (u === room.owner ? { owner: u } : { member: u }));
      return sendOk(req, reply, 'chatrooms', data, {
        count: data.length,
        params: { pagesize: [String(pagesize)], pagenum: [String(pagenum)] },
      });
    };

    const member = Type.Object({
      result: Type.Boolean(),
      action: Type.String(),
      id: Type.String(),
      user: Type.String(),
      reason: Type.Optional(Type.String()),
    });
    defineRoute(f, '/chatrooms', 'admin', {
      GET: {
        handler: listAll,
        querystring: ListQuery,
        summary: 'list every chatroom of the app, by id, a page at a time (limit 1 to 1000, default 10)',
        response: Envelope({
          data: Type.Array(
            Type.Object({ id: Type.String(), name: Type.String(), owner: Type.String(), affiliations_count: Type.Integer() }),
          ),
          cursor: Type.Optional(Type.String({ description: 'present while more chatrooms follow: pass it as ?cursor=' })),
          count: Type.Integer(),
          params: Type.Record(Type.String(), Type.Array(Type.String())),
        }),
      },
      POST: {
        handler: create,
        body: CreateRoomBody,
        summary: 'create a chatroom',
        response: Envelope({ data: Type.Object({ id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id', 'admin', {
      GET: {
        handler: details,
        summary: 'chatroom details',
        response: Envelope({
          data: Type.Array(
            Type.Object({
              id: Type.String(),
              name: Type.String(),
              description: Type.String(),
              owner: Type.String(),
              maxusers: Type.Integer(),
              affiliations_count: Type.Integer(),
              created: Type.Integer(),
            }),
          ),
        }),
      },
      DELETE: {
        handler: destroy,
        summary: 'destroy a chatroom and all its attributes',
        response: Envelope({ data: Type.Object({ success: Type.Boolean(), id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id/users', 'admin', {
      GET: {
        handler: list,
        querystring: MembersQuery,
        summary: 'list members, owner first',
        response: Envelope({ data: Type.Array(Type.Record(Type.String(), Type.String())), count: Type.Integer() }),
      },
      POST: {
        handler: addMany,
        body: AddMembersBody,
        summary: 'add members (up to 60)',
        response: Envelope({ data: Type.Object({ newmembers: Type.Array(Type.String()), action: Type.String(), id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id/users/:username', 'admin', {
      POST: { handler: addOne, summary: 'add a member', response: Envelope({ data: member }) },
      DELETE: {
        handler: remove,
        summary: 'remove a member, or several as u1,u2 (their autoDelete keys go)',
        response: Envelope({ data: Type.Union([member, Type.Array(member)]) }),
      },
    });
  };
}
