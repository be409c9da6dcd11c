import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { bearerToken, type Authenticator } from '../../auth/authenticator.js';
import { issueToken } from '../../auth/issued-tokens.js';
import { hashPassword, verifyPassword } from '../../auth/passwords.js';
import { verifyAccessToken2 } from '../../auth/access-token2.js';
import type { AppRecord } from '../../config/apps.js';
import { Errors } from '../../domain/errors.js';
import { checkUsername } from '../../domain/requests.js';
import type { Store, UserRecord } from '../../store/types.js';
import { ctx } from '../context.js';
import { TokenBody, TokenResponse } from '../schemas.js';
import { userEntity } from './users.js';
import { defineRoute } from './define-route.js';

const DEFAULT_TTL_S = 60 * 24 * 3600;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * POST .../token: the four grants of spec section 2. Only `agora` and `inherit` read a token. The
 * answers are bare objects, without the envelope, as upstream's are.
 */
export function tokenRoutes(store: Store, auth: Authenticator, clock: () => number = Date.now): FastifyPluginAsync {
  return async (f) => {
    const requireAppToken = (req: FastifyRequest, app: AppRecord) => {
      if (auth.authenticate(req.headers.authorization, app).kind !== 'app') throw Errors.appTokenRequired();
    };
    const ttlOf = (body: TokenBody) => (body.ttl === undefined || body.ttl === 0 ? DEFAULT_TTL_S : body.ttl);
    const userToken = (app: AppRecord, user: UserRecord, ttl: number) => ({
      access_token: issueToken({ a: app.appId, t: 'u', u: user.username, id: user.uuid, e: clock() + ttl * 1000 }, app.appCertificate),
      expires_in: ttl,
      user: userEntity(user),
    });

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const app = ctx(req).app!;
      const body = req.body as TokenBody;
      switch (body.grant_type) {
        case 'client_credentials': {
          if (typeof body.client_id !== 'string' || typeof body.client_secret !== 'string'
            || !sameSecret(body.client_id, app.clientId) || !sameSecret(body.client_secret, app.clientSecret)) {
            throw Errors.invalidGrant(400, 'invalid client credentials');
          }
          const ttl = ttlOf(body);
          const token = issueToken({ a: app.appId, t: 'a', e: clock() + ttl * 1000 }, app.appCertificate);
          return reply.send({ access_token: token, expires_in: ttl, application: app.uuid });
        }
        case 'agora': {
          const claims = verifyAccessToken2(bearerToken(req.headers.authorization), app, Math.floor(clock() / 1000));
          if (claims.kind !== 'app') throw Errors.appTokenRequired();
          const token = issueToken({ a: app.appId, t: 'a', e: claims.expiresAt }, app.appCertificate);
          return reply.send({ access_token: token, expire_timestamp: claims.expiresAt });
        }
        case 'password': {
          const username = checkUsername(body.username);
          if (typeof body.password !== 'string') throw Errors.illegalArgument('password must be a string');
          const user = await store.getUser(app.appId, username);
          const hash = user ? await store.getPasswordHash(app.appId, username) : null;
          if (!user || hash === null) throw Errors.invalidGrant(404, 'user not found');
          if (!(await verifyPassword(body.password, hash))) throw Errors.invalidGrant(400, 'invalid password');
          return reply.send(userToken(app, user, ttlOf(body)));
        }
        case 'inherit': {
          requireAppToken(req, app);
          const username = checkUsername(body.username);
          let user = await store.getUser(app.appId, username);
          if (!user && body.autoCreateUser === true) {
            // An inherited user gets an unusable random password: it signs in only through inherit.
            const passwordHash = await hashPassword(crypto.randomUUID());
            [user] = await store.createUsers(app.appId, [{ username, passwordHash }]);
          }
          if (!user) throw Errors.invalidGrant(404, 'user not found');
          return reply.send(userToken(app, user, ttlOf(body)));
        }
        default:
          throw Errors.unsupportedGrant(String(body.grant_type));
      }
    };

    defineRoute(f, '/token', 'none', { POST: { handler, body: TokenBody, summary: 'get an access token (client_credentials, agora, password or inherit grant)', response: TokenResponse } });
  };
}
