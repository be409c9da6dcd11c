import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { RoomService } from '../../service/rooms.js';
import { tenant } from '../context.js';
import { sendOk } from '../envelope.js';
import { memberOutcomeBody } from '../key-reasons.js';
import { AddMembersBody, CreateRoomBody, Envelope, ListQuery, MembersQuery } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** A query's number (the schemas' patterns admit digits only); absent stays absent. */
const numberOf = (text: string | undefined) => (text === undefined ? undefined : Number(text));

/** The chatroom calls of spec section 6. */
export function chatroomRoutes(rooms: RoomService): FastifyPluginAsync {
  return async (f) => {
    const member = Type.Object({
      result: Type.Boolean(),
      action: Type.String(),
      id: Type.String(),
      user: Type.String(),
      reason: Type.Optional(Type.String()),
    });
    defineRoute(f, '/chatrooms', 'admin', {
      // GET /chatrooms?limit=&cursor=, shaped as Agora's: rooms in id order, a cursor while more follow.
      GET: {
        schema: { querystring: ListQuery },
        handler: async (req, reply) => {
          const { limit, cursor } = req.query;
          const page = await rooms.list(tenant(req), { limit: numberOf(limit), cursor });
          return sendOk(req, reply, 'chatrooms', page.rooms, {
            cursor: page.cursor,
            count: page.rooms.length,
            params: { limit: [String(page.limit)], ...(cursor ? { cursor: [cursor] } : {}) },
          });
        },
        summary:
          "Agora's get all chatrooms: the app's chatrooms by id, a page at a time (limit 1 to 1000, default 10; more is served as 1000)",
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
        schema: { body: CreateRoomBody },
        handler: async (req, reply) => sendOk(req, reply, 'chatrooms', await rooms.create(tenant(req), req.body)),
        summary: 'create a chatroom',
        response: Envelope({ data: Type.Object({ id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id', 'admin', {
      GET: {
        schema: {},
        handler: async (req, reply) => sendOk(req, reply, 'chatrooms', [await rooms.details(tenant(req), req.params.id)]),
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
        schema: {},
        handler: async (req, reply) => sendOk(req, reply, 'chatrooms', await rooms.destroy(tenant(req), req.params.id)),
        summary: 'destroy a chatroom and all its attributes',
        response: Envelope({ data: Type.Object({ success: Type.Boolean(), id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id/users', 'admin', {
      GET: {
        schema: { querystring: MembersQuery },
        handler: async (req, reply) => {
          const { pagesize, pagenum } = req.query;
          const page = await rooms.members(tenant(req), req.params.id, { pagesize: numberOf(pagesize), pagenum: numberOf(pagenum) });
          return sendOk(req, reply, 'chatrooms', page.members, {
            count: page.members.length,
            params: { pagesize: [String(page.pagesize)], pagenum: [String(page.pagenum)] },
          });
        },
        summary: 'list members, owner first',
        response: Envelope({ data: Type.Array(Type.Record(Type.String(), Type.String())), count: Type.Integer() }),
      },
      POST: {
        schema: { body: AddMembersBody },
        handler: async (req, reply) =>
          sendOk(req, reply, 'chatrooms', await rooms.addMembers(tenant(req), req.params.id, req.body.usernames)),
        summary: 'add members (up to 60)',
        response: Envelope({ data: Type.Object({ newmembers: Type.Array(Type.String()), action: Type.String(), id: Type.String() }) }),
      },
    });
    defineRoute(f, '/chatrooms/:id/users/:username', 'admin', {
      POST: {
        schema: {},
        handler: async (req, reply) =>
          sendOk(req, reply, 'chatrooms', await rooms.addMember(tenant(req), req.params.id, req.params.username)),
        summary: 'add a member',
        response: Envelope({ data: member }),
      },
      // One path serves both forms: `u1` removes one member, `u1,u2` several (spec section 6).
      DELETE: {
        schema: {},
        handler: async (req, reply) => {
          const { id, username } = req.params;
          const data = username.includes(',')
            ? (await rooms.removeMembers(tenant(req), id, username.split(','))).map(memberOutcomeBody)
            : await rooms.removeMember(tenant(req), id, username);
          return sendOk(req, reply, 'chatrooms', data);
        },
        summary: 'remove a member, or several as u1,u2 (their autoDelete keys go)',
        response: Envelope({ data: Type.Union([member, Type.Array(member)]) }),
      },
    });
  };
}
