import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hashPassword } from '../../auth/passwords.js';
import { Errors } from '../../domain/errors.js';
import { checkUsername } from '../../domain/requests.js';
import type { DataTransfer, RoomStore, UserRecord } from '../../store/types.js';
import { ctx } from '../context.js';
import { sendOk } from '../envelope.js';
import { ListQuery, RegisterBody, UserEntity, UsersResponse, Envelope } from '../schemas.js';
import { Type } from '@sinclair/typebox';
import { afterCursor, cursorOf } from '../list-cursor.js';
import { defineRoute } from './define-route.js';

/** A name as the store keeps it (valid, lower-case): what a user list's cursor may name. */
function isStoredUsername(name: string): boolean {
  try {
    return checkUsername(name) === name;
  } catch {
    return false;
  }
}

export function userEntity(u: UserRecord) {
  return { uuid: u.uuid, type: 'user', created: u.created, modified: u.modified, username: u.username, activated: true };
}

/** The user calls of spec section 6: register (one or up to 60, all or nothing), get, delete. */
export function userRoutes(store: RoomStore & Pick<DataTransfer, 'listUsers'>): FastifyPluginAsync {
  return async (f) => {
    const register = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const body = req.body as RegisterBody;
      const list = Array.isArray(body) ? body : [body];
      const names = list.map((u, i) => checkUsername(u.username, Array.isArray(body) ? `[${i}].username` : 'username'));
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup !== undefined) throw Errors.duplicateUser(app!.uuid, dup);
      const hashes = await Promise.all(list.map((u) => hashPassword(u.password)));
      const created = await store.createUsers(
        app!.appId,
        names.map((username, i) => ({ username, passwordHash: hashes[i] })),
      );
      return sendOk(req, reply, 'users', undefined, { entities: created.map(userEntity), path: '/users' });
    };

    // GET /users?limit=&cursor=, shaped as Agora's: users by username (upstream: by creation), a cursor while more follow.
    const list = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const q = req.query as ListQuery;
      const limit = Math.min(Number(q.limit ?? 10), 100);
      const users = await store.listUsers(app!.appId, afterCursor(q.cursor, isStoredUsername), limit + 1);
      const page = users.slice(0, limit);
      const cursor = users.length > limit ? cursorOf(page[page.length - 1].username) : undefined;
      return sendOk(req, reply, 'users', undefined, {
        entities: page.map(userEntity),
        path: '/users',
        cursor,
        count: page.length,
        params: { limit: [String(limit)], ...(q.cursor ? { cursor: [q.cursor] } : {}) },
      });
    };

    const get = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { username } = req.params as { username: string };
      const user = await store.getUser(app!.appId, username.toLowerCase());
      if (!user) throw Errors.userNotFound();
      return sendOk(req, reply, 'users', undefined, { entities: [userEntity(user)], path: '/users', count: 1 });
    };

    const remove = async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { username } = req.params as { username: string };
      const user = await store.deleteUser(app!.appId, username.toLowerCase(), app!.routing);
      if (!user) throw Errors.userNotFound();
      return sendOk(req, reply, 'users', undefined, { entities: [userEntity(user)], path: '/users' });
    };

    defineRoute(f, '/users', 'admin', {
      GET: {
        handler: list,
        querystring: ListQuery,
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
        handler: register,
        body: RegisterBody,
        summary: 'register users (one, or up to 60, all or nothing)',
        response: UsersResponse,
      },
    });
    defineRoute(f, '/users/:username', 'admin', {
      GET: { handler: get, summary: 'get a user', response: UsersResponse },
      DELETE: { handler: remove, summary: 'delete a user (it leaves every room; autoDelete applies)', response: UsersResponse },
    });
  };
}
