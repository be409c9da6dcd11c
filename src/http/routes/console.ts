import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Authenticator } from '../../auth/authenticator.js';
import type { AppRegistry } from '../../config/apps.js';
import { ApiError } from '../../domain/errors.js';
import { CONSOLE_HTML } from '../../console/page.js';

/** The live console page, and the one call it needs beyond the API: which apps a token opens. */
export function consoleRoutes(apps: AppRegistry, auth: Authenticator): FastifyPluginAsync {
  return async (f) => {
    f.get('/console', { schema: { tags: ['operations'], summary: 'the live console (HTML)', response: { 200: Type.String() } } },
      async (_req, reply) => reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
        .header('cache-control', 'no-store')
        .send(CONSOLE_HTML));

    f.get('/console/apps', {
      schema: {
        tags: ['operations'], summary: 'the apps an app token opens (for the console)',
        response: { 200: Type.Object({ apps: Type.Array(Type.Object({ org: Type.String(), app: Type.String(), appId: Type.String() })) }) },
      },
    }, async (req) => {
      const opened = apps.apps.filter((a) => {
        try {
          return auth.authenticate(req.headers.authorization, a).kind === 'app';
        } catch (err) {
          if (err instanceof ApiError) return false;
          throw err;
        }
      });
      return { apps: opened.map((a) => ({ org: a.org, app: a.app, appId: a.appId })) };
    });
  };
}
