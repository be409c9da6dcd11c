import type { Principal } from '../auth/authenticator.js';
import type { AppRecord } from '../config/apps.js';
import { Errors } from '../domain/errors.js';
import type { RoomStore } from '../store/types.js';

export type AppPrincipal = Extract<Principal, { kind: 'app' }>;
export type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/**
 * Who makes a call, as every transport (HTTP, event streams, WebSocket) hands it to the service:
 * the app, the verified token, and for a user token the username it acts as.
 */
export type ServiceContext =
  | { readonly app: AppRecord; readonly principal: AppPrincipal; readonly actor?: undefined }
  | { readonly app: AppRecord; readonly principal: UserPrincipal; readonly actor: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The context of a verified token: for a user token, the user it acts as is looked up. */
export async function openContext(
  store: Pick<RoomStore, 'getUser' | 'getUserByUuid'>,
  app: AppRecord,
  principal: Principal,
): Promise<ServiceContext> {
  if (principal.kind === 'app') return { app, principal };
  return { app, principal, actor: await actingUser(store, app, principal) };
}

/**
 * A 007 user token names the user by username or by uuid; issued tokens always by username, and
 * carry the uuid of the user they were issued to: a user deleted and made again under the same
 * name is another user, whom the old token must not open (401 OAuth).
 */
async function actingUser(store: Pick<RoomStore, 'getUser' | 'getUserByUuid'>, app: AppRecord, p: UserPrincipal): Promise<string> {
  const id = p.userId.toLowerCase();
  if (p.issued) {
    const user = await store.getUser(app.appId, id);
    if (!user || p.uuid === undefined || user.uuid !== p.uuid) throw Errors.tokenRejected();
    return id;
  }
  if (!UUID.test(id)) return id;
  if (await store.getUser(app.appId, id)) return id;
  return (await store.getUserByUuid(app.appId, id))?.username ?? id;
}

/**
 * Administration (users, rooms, webhooks, attribute records) takes app tokens only. Takes the
 * principal, not the context: a user token is refused here before its user is looked up.
 */
export function requireAppToken(principal: Principal): void {
  if (principal.kind !== 'app') throw Errors.appTokenRequired();
}

/** A user token sets and deletes as its own user only; an app token as anyone (the server SDK says `admin`). */
export function requireActsAs(ctx: ServiceContext, username: string): void {
  if (ctx.principal.kind === 'user' && username.toLowerCase() !== ctx.actor) throw Errors.othersNotAllowed();
}

/** The member a call reads as: a user token's user, whose membership is checked; none for an app token. */
export function memberOf(ctx: ServiceContext): string | undefined {
  return ctx.principal.kind === 'user' ? ctx.actor : undefined;
}
