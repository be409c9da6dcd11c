import type { FastifyPluginAsync } from 'fastify';
import type { TokenService } from '../../service/tokens.js';
import { appOf } from '../context.js';
import { TokenBody, TokenResponse } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** A token request is a few short fields: a larger body is refused before it is read whole. */
export const TOKEN_BODY_LIMIT = 4096;

/**
 * POST .../token: the four grants of spec section 2. The answers are bare objects, without the
 * envelope, as upstream's are.
 */
export function tokenRoutes(tokens: TokenService): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/token', 'none', {
      POST: {
        schema: { body: TokenBody },
        handler: async (req, reply) => reply.send(await tokens.grant(appOf(req), req.headers.authorization, req.body)),
        bodyLimit: TOKEN_BODY_LIMIT,
        summary: 'get an access token (client_credentials, agora, password or inherit grant)',
        response: TokenResponse,
      },
    });
  };
}
