import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { UserService } from '../../service/users.js';
import { tenant } from '../context.js';
import { sendOk } from '../envelope.js';
import { ListQuery, RegisterBody, UserEntity, UsersResponse, Envelope } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** The user calls of spec section 6: register (one or up to 60, all or nothing), list, get, delete. */
export function userRoutes(users: UserService): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/users', 'admin', {
      // GET /users?limit=&cursor=, shaped as Agora's: users by username (upstream: by creation), a cursor while more follow.
      GET: {
        schema: { querystring: ListQuery },
        handler: async (req, reply) => {
          const { limit, cursor } = req.query;
          const page = await users.list(tenant(req), { limit: limit === undefined ? undefined : Number(limit), cursor });
          return sendOk(req, reply, 'users', undefined, {
            entities: page.users,
            path: '/users',
            cursor: page.cursor,
            count: page.users.length,
            params: { limit: [String(page.limit)], ...(cursor ? { cursor: [cursor] } : {}) },
          });
        },
        summary: "list the app's users by username, a page at a time (limit 1 to 100, default 10)",
        response: Envelope({
          entities: Type.Array(UserEntity),
          path: Type.String(),
          cursor: Type.Optional(Type.String({ description: 'present while more users follow' })),
          count: Type.Integer(),
          params: Type.Record(Type.String(), Type.Array(Type.String())),
        }),
      },
      POST: {
        schema: { body: RegisterBody },
        handler: async (req, reply) => {
          const entities = await users.register(tenant(req), req.body);
          return sendOk(req, reply, 'users', undefined, { entities, path: '/users' });
        },
        summary: 'register users (one, or up to 60, all or nothing)',
        response: UsersResponse,
      },
    });
    defineRoute(f, '/users/:username', 'admin', {
      GET: {
        schema: {},
        handler: async (req, reply) => {
          const entity = await users.get(tenant(req), req.params.username);
          return sendOk(req, reply, 'users', undefined, { entities: [entity], path: '/users', count: 1 });
        },
        summary: 'get a user',
        response: UsersResponse,
      },
      DELETE: {
        schema: {},
        handler: async (req, reply) => {
          const entity = await users.delete(tenant(req), req.params.username);
          return sendOk(req, reply, 'users', undefined, { entities: [entity], path: '/users' });
        },
        summary: 'delete a user (it leaves every room; autoDelete applies)',
        response: UsersResponse,
      },
    });
  };
}
