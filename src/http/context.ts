import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppRecord, AppRegistry } from '../config/apps.js';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import { Errors } from '../domain/errors.js';
import type { RoomStore } from '../store/types.js';
import type { RateLimiter } from './rate-limit.js';

export interface RequestContext {
  app?: AppRecord;
  principal?: Principal;
  /** For user tokens: the username the token acts as (a 007 user id may be the user's uuid). */
  actor?: string;
}

/**
 * How a route authenticates: attribute calls take user tokens too; admin calls take app tokens
 * only; event streams take both, also as `?access_token=`, and spend no rate-limit budget.
 */
export type AuthKind = 'attr' | 'admin' | 'stream' | 'none';

export interface RouteConfig {
  auth: AuthKind;
}

/** The per-request context lives on a decorated field; this is its one typed accessor. */
export function ctx(req: FastifyRequest): RequestContext {
  return (req as unknown as { rk: RequestContext }).rk;
}

export interface HookDeps {
  apps: AppRegistry;
  auth: Authenticator;
  store: RoomStore;
  limiter: RateLimiter;
}

interface TenantParams {
  org?: string;
  app?: string;
  appId?: string;
  username?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The URI named in organization_application_not_found: the path without its leading slash. */
export function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return (q < 0 ? req.url : req.url.slice(0, q)).replace(/^\/+/, '');
}

/**
 * onRequest for every tenant route, in the spec's order of checks: unknown app, then the token,
 * then who-may-do-what, then the rate limit. Runs before the body is read, so a refused call
 * costs no parsing.
 */
export function tenantHook(deps: HookDeps) {
  return async function onRequest(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const c: RequestContext = {};
    (req as unknown as { rk: RequestContext }).rk = c;
    const params = req.params as TenantParams;
    const app = params.appId !== undefined ? deps.apps.byAppId(params.appId) : deps.apps.byOrgApp(params.org ?? '', params.app ?? '');
    if (!app) {
      const name = params.appId !== undefined ? `app-id/${params.appId}` : `${params.org}/${params.app}`;
      throw Errors.orgAppNotFound(name, pathOf(req));
    }
    c.app = app;
    const kind = (req.routeOptions.config as Partial<RouteConfig>).auth ?? 'none';
    if (kind === 'none') return;
    let header = req.headers.authorization;
    if (kind === 'stream' && header === undefined) {
      const token = (req.query as { access_token?: string }).access_token;
      // Tokens have no spaces: a '+' of a 007 token sent unencoded arrives as one.
      if (typeof token === 'string') header = `Bearer ${token.replace(/ /g, '+')}`;
    }
    const principal = deps.auth.authenticate(header, app);
    c.principal = principal;
    if (principal.kind === 'user') {
      if (kind === 'admin') throw Errors.appTokenRequired();
      c.actor = await actingUser(deps.store, app, principal);
      if (params.username !== undefined && params.username.toLowerCase() !== c.actor) throw Errors.othersNotAllowed();
    }
    // Opening an event stream reads the room as a get does, and costs the same.
    if (kind === 'attr' || kind === 'stream') await deps.limiter.consume(app);
  };
}

/**
 * A 007 user token names the user by username or by uuid; issued tokens always by username, and
 * carry the uuid of the user they were issued to: a user deleted and made again under the same
 * name is another user, whom the old token must not open (401 OAuth).
 */
async function actingUser(store: RoomStore, app: AppRecord, p: Extract<Principal, { kind: 'user' }>): Promise<string> {
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
