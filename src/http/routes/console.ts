import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Authenticator } from '../../auth/authenticator.js';
import type { AppRecord, AppRegistry } from '../../config/apps.js';
import { ApiError } from '../../domain/errors.js';
import { CONSOLE_HTML } from '../../console/page.js';

/**
 * The app an app token opens. A token names its app (a 007 token its App ID, an issued token its
 * claim `a`), so it is verified against that one app only: the cost of a bad token does not grow
 * with the number of apps.
 */
function openedApp(apps: AppRegistry, auth: Authenticator, header: string | undefined): AppRecord | undefined {
  const appId = auth.appIdOf(header);
  const app = appId === undefined ? undefined : apps.byAppId(appId);
  if (!app) return undefined;
  try {
    return auth.authenticate(header, app).kind === 'app' ? app : undefined;
  } catch (err) {
    if (err instanceof ApiError) return undefined;
    throw err;
  }
}

/** The live console page, and the one call it needs beyond the API: which apps a token opens. */
export function consoleRoutes(apps: AppRegistry, auth: Authenticator): FastifyPluginAsync {
  return async (f) => {
    f.get(
      '/console',
      { schema: { tags: ['operations'], summary: 'the live console (HTML)', response: { 200: Type.String() } } },
      async (_req, reply) =>
        reply
          .type('text/html; charset=utf-8')
          .header(
            'content-security-policy',
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
          )
          .header('cache-control', 'no-store')
          .send(CONSOLE_HTML),
    );

    f.get(
      '/console/apps',
      {
        schema: {
          tags: ['operations'],
          summary: 'the apps an app token opens (for the console)',
          response: {
            200: Type.Object({ apps: Type.Array(Type.Object({ org: Type.String(), app: Type.String(), appId: Type.String() })) }),
          },
        },
      },
      async (req) => {
        const app = openedApp(apps, auth, req.headers.authorization);
        return { apps: app ? [{ org: app.org, app: app.app, appId: app.appId }] : [] };
      },
    );
  };
}
