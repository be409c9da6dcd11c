import { timingSafeEqual } from 'node:crypto';
import { bearerToken, type Authenticator } from '../auth/authenticator.js';
import { issueToken } from '../auth/issued-tokens.js';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import type { LoginGuard } from '../auth/login-guard.js';
import { verifyAccessToken2 } from '../auth/access-token2.js';
import type { AppRecord } from '../config/apps.js';
import { Errors } from '../domain/errors.js';
import { checkUsername } from '../domain/requests.js';
import type { RoomStore, UserRecord } from '../store/types.js';
import { requireAppToken } from './context.js';
import { userEntity, type UserEntity } from './users.js';

const DEFAULT_TTL_S = 60 * 24 * 3600;
/** Longest piece of the request an error description repeats. */
const ECHO_MAX = 64;

/** `text`, cut to ECHO_MAX characters: an answer never grows with what the caller sent. */
function echo(text: string): string {
  return text.length > ECHO_MAX ? `${text.slice(0, ECHO_MAX)}...` : text;
}

/** checkUsername repeats the name it refuses: an over-long one is refused here, shortened. */
function usernameOf(raw: unknown): string {
  if (typeof raw === 'string' && raw.length > ECHO_MAX) {
    throw Errors.illegalArgument(`username '${echo(raw)}' is not legal: 1 to 64 of a-z 0-9 _ - .`);
  }
  return checkUsername(raw);
}

/** A hash of a random password, checked when the user does not exist, so that costs the same as a wrong password. */
let dummyHash: Promise<string> | undefined;
const unknownUserHash = () => (dummyHash ??= hashPassword(crypto.randomUUID()));

export interface TokenOptions {
  /** The login limits (failed attempts, scrypt concurrency). */
  guard: LoginGuard;
  /** Longest ttl accepted, seconds. */
  maxTtlS: number;
  clock?: () => number;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A token request's fields, as the grants read them. */
export interface TokenRequest {
  grant_type: string;
  client_id?: string;
  client_secret?: string;
  username?: string;
  password?: string;
  autoCreateUser?: boolean;
  ttl?: number;
}

/** A grant's answer: a bare object, without the envelope, as upstream's are. */
export interface TokenAnswer {
  access_token: string;
  expires_in?: number;
  expire_timestamp?: number;
  application?: string;
  user?: UserEntity;
}

/**
 * The four grants of spec section 2 for one app. Only `agora` and `inherit` read a token (the
 * request's Authorization header); no call needs one before.
 */
export function tokenService(store: RoomStore, auth: Authenticator, options: TokenOptions) {
  const { guard, maxTtlS } = options;
  const clock = options.clock ?? Date.now;
  // Made now, so that the first unknown user does not pay for it.
  void unknownUserHash();
  const ttlOf = (body: TokenRequest): number => {
    const { ttl } = body;
    if (ttl === undefined || ttl === 0) return DEFAULT_TTL_S;
    // The schema's integer admits 1e308: bound it, or the expiry overflows into a token refused on use.
    if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > maxTtlS) {
      throw Errors.illegalArgument(`ttl must be an integer from 0 to ${maxTtlS} seconds`);
    }
    return ttl;
  };
  const userToken = (app: AppRecord, user: UserRecord, ttl: number) => ({
    access_token: issueToken({ a: app.appId, t: 'u', u: user.username, id: user.uuid, e: clock() + ttl * 1000 }, app.appCertificate),
    expires_in: ttl,
    user: userEntity(user),
  });

  return {
    async grant(app: AppRecord, authorization: string | undefined, body: TokenRequest): Promise<TokenAnswer> {
      switch (body.grant_type) {
        case 'client_credentials': {
          if (
            typeof body.client_id !== 'string' ||
            typeof body.client_secret !== 'string' ||
            !sameSecret(body.client_id, app.clientId) ||
            !sameSecret(body.client_secret, app.clientSecret)
          ) {
            throw Errors.invalidGrant(400, 'invalid client credentials');
          }
          const ttl = ttlOf(body);
          const token = issueToken({ a: app.appId, t: 'a', e: clock() + ttl * 1000 }, app.appCertificate);
          return { access_token: token, expires_in: ttl, application: app.uuid };
        }
        case 'agora': {
          const claims = verifyAccessToken2(bearerToken(authorization), app, Math.floor(clock() / 1000));
          if (claims.kind !== 'app') throw Errors.appTokenRequired();
          const token = issueToken({ a: app.appId, t: 'a', e: claims.expiresAt }, app.appCertificate);
          return { access_token: token, expire_timestamp: claims.expiresAt };
        }
        case 'password': {
          const username = usernameOf(body.username);
          const password = body.password;
          if (typeof password !== 'string') throw Errors.illegalArgument('password must be a string');
          const ttl = ttlOf(body);
          const [user, hash] = await Promise.all([store.getUser(app.appId, username), store.getPasswordHash(app.appId, username)]);
          // An unknown user is checked against a dummy hash and answered as a wrong password: the
          // answer and its time do not tell which usernames exist.
          const known = user !== null && hash !== null;
          const stored = known ? hash : await unknownUserHash();
          const right = await guard.attempt(app.appId, username, async () => (await verifyPassword(password, stored)) && known);
          // A right password implies a known user.
          if (!right || user === null) throw Errors.invalidGrant(400, 'invalid password');
          return userToken(app, user, ttl);
        }
        case 'inherit': {
          requireAppToken(auth.authenticate(authorization, app));
          const username = usernameOf(body.username);
          const ttl = ttlOf(body);
          let user: UserRecord | null | undefined = await store.getUser(app.appId, username);
          if (!user && body.autoCreateUser === true) {
            // An inherited user gets an unusable random password: it signs in only through inherit.
            const passwordHash = await hashPassword(crypto.randomUUID());
            [user] = await store.createUsers(app.appId, [{ username, passwordHash }]);
          }
          if (!user) throw Errors.invalidGrant(404, 'user not found');
          return userToken(app, user, ttl);
        }
        default:
          throw Errors.unsupportedGrant(echo(String(body.grant_type)));
      }
    },
  };
}

export type TokenService = ReturnType<typeof tokenService>;
