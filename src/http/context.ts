import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppRecord, AppRegistry } from '../config/apps.js';
import type { Authenticator } from '../auth/authenticator.js';
import { Errors } from '../domain/errors.js';
import type { RoomStore } from '../store/types.js';
import { openContext, requireActsAs, requireAppToken, type ServiceContext } from '../service/context.js';
import type { RateLimiter } from './rate-limit.js';

/** What the tenant hook learned of a request, as far as it got. */
export interface RequestContext {
  /** The app the path names: set first, on every tenant route. */
  app?: AppRecord;
  /** Who calls: set once the token is verified and may make the call, on routes that take one. */
  tenant?: ServiceContext;
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

/** The app of a tenant route: the hook resolved it (or answered 404) before any handler runs. */
export function appOf(req: FastifyRequest): AppRecord {
  const app = ctx(req)?.app;
  if (app === undefined)
    throw new Error(`${req.method} ${req.routeOptions.url ?? req.url}: no tenant app (route outside the tenant scope?)`);
  return app;
}

/**
 * The caller of a route that takes a token (auth 'attr', 'admin' or 'stream'): the hook verified
 * it, and who may make the call, before any handler runs.
 */
export function tenant(req: FastifyRequest): ServiceContext {
  const caller = ctx(req)?.tenant;
  if (caller === undefined) throw new Error(`${req.method} ${req.routeOptions.url ?? req.url}: no caller (a route with auth 'none'?)`);
  return caller;
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
    if (kind === 'admin') requireAppToken(principal);
    const caller = await openContext(deps.store, app, principal);
    // The same rules the service applies, here before the body is read (the order of checks).
    if (params.username !== undefined) requireActsAs(caller, params.username);
    c.tenant = caller;
    // Opening an event stream reads the room as a get does, and costs the same.
    if (kind === 'attr' || kind === 'stream') await deps.limiter.consume(app);
  };
}
