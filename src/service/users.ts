import { hashPassword } from '../auth/passwords.js';
import { Errors } from '../domain/errors.js';
import { checkUsername } from '../domain/requests.js';
import type { DataTransfer, RoomStore, UserRecord } from '../store/types.js';
import { requireAppToken, type ServiceContext } from './context.js';
import { afterCursor, cursorOf } from './list-cursor.js';

/** Agora's list of users: 10 a page unless asked, at most 100. */
const LIST_DEFAULT = 10;
const LIST_MAX = 100;

export interface NewUserInput {
  username: string;
  password: string;
}

/** A user as Agora's answers show it. */
export function userEntity(u: UserRecord) {
  return { uuid: u.uuid, type: 'user', created: u.created, modified: u.modified, username: u.username, activated: true } as const;
}

export type UserEntity = ReturnType<typeof userEntity>;

/** A name as the store keeps it (valid, lower-case): what a user list's cursor may name. */
function isStoredUsername(name: string): boolean {
  try {
    return checkUsername(name) === name;
  } catch {
    return false;
  }
}

/** The user calls of spec section 6 (app tokens): register (one or up to 60, all or nothing), list, get, delete. */
export function userService(store: RoomStore & Pick<DataTransfer, 'listUsers'>) {
  return {
    /** One user, or a list of them (its errors name `[i].username`), registered all or none. */
    async register(ctx: ServiceContext, input: NewUserInput | readonly NewUserInput[]): Promise<UserEntity[]> {
      requireAppToken(ctx.principal);
      const { app } = ctx;
      const list: readonly NewUserInput[] = Array.isArray(input) ? input : [input];
      const checked = list.map((u, i) => ({
        username: checkUsername(u.username, Array.isArray(input) ? `[${i}].username` : 'username'),
        password: u.password,
      }));
      const names = checked.map((u) => u.username);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup !== undefined) throw Errors.duplicateUser(app.uuid, dup);
      const users = await Promise.all(checked.map(async (u) => ({ username: u.username, passwordHash: await hashPassword(u.password) })));
      const created = await store.createUsers(app.appId, users);
      return created.map(userEntity);
    },

    /** Users by username (upstream: by creation), a page at a time; `cursor` while more follow, `limit` as applied. */
    async list(
      ctx: ServiceContext,
      page: { limit?: number; cursor?: string },
    ): Promise<{ users: UserEntity[]; cursor: string | undefined; limit: number }> {
      requireAppToken(ctx.principal);
      const limit = Math.min(page.limit ?? LIST_DEFAULT, LIST_MAX);
      const found = await store.listUsers(ctx.app.appId, afterCursor(page.cursor, isStoredUsername), limit + 1);
      const users = found.slice(0, limit);
      const last = users.at(-1);
      const cursor = found.length > limit && last !== undefined ? cursorOf(last.username) : undefined;
      return { users: users.map(userEntity), cursor, limit };
    },

    async get(ctx: ServiceContext, username: string): Promise<UserEntity> {
      requireAppToken(ctx.principal);
      const user = await store.getUser(ctx.app.appId, username.toLowerCase());
      if (!user) throw Errors.userNotFound();
      return userEntity(user);
    },

    /** Deletes a user: it leaves every room, and its autoDelete keys go. */
    async delete(ctx: ServiceContext, username: string): Promise<UserEntity> {
      requireAppToken(ctx.principal);
      const user = await store.deleteUser(ctx.app.appId, username.toLowerCase(), ctx.app.routing);
      if (!user) throw Errors.userNotFound();
      return userEntity(user);
    },
  };
}

export type UserService = ReturnType<typeof userService>;
