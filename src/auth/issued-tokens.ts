import { createHmac, timingSafeEqual } from 'node:crypto';
import { Errors } from '../domain/errors.js';
import { MAX_TOKEN_CHARS } from './token-bounds.js';

/**
 * Access tokens issued at POST .../token. They are stateless and signed with a key derived from the
 * app's certificate, so every roomkv instance given the same apps accepts them, across restarts.
 * Layout: "YWMt" + base64url(payload JSON) + "." + base64url(HMAC-SHA256). The prefix is the one
 * upstream's app tokens carry, which some client code checks for.
 */
const PREFIX = 'YWMt';

export interface IssuedClaims {
  /** app id */
  a: string;
  /** 'a' app token, 'u' user token */
  t: 'a' | 'u';
  /** username and uuid, for user tokens */
  u?: string;
  id?: string;
  /** expiry, Unix ms */
  e: number;
}

function signingKey(appCertificate: string): Buffer {
  return createHmac('sha256', appCertificate).update('roomkv issued token v1').digest();
}

export function issueToken(claims: IssuedClaims, appCertificate: string): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = createHmac('sha256', signingKey(appCertificate)).update(payload).digest('base64url');
  return `${PREFIX}${payload}.${sig}`;
}

export function isIssuedToken(token: string): boolean {
  return token.startsWith(PREFIX);
}

/** The payload and the claims of a well-formed issued token (unverified), or null. */
function readClaims(token: string): { payload: string; claims: IssuedClaims } | null {
  const dot = token.indexOf('.');
  // Bounded before decoding: the header is attacker-sized, and JSON.parse is linear in it.
  if (token.length > MAX_TOKEN_CHARS || !token.startsWith(PREFIX) || dot < 0) return null;
  const payload = token.slice(PREFIX.length, dot);
  let claims: IssuedClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as IssuedClaims;
  } catch {
    return null;
  }
  if (
    typeof claims !== 'object' ||
    claims === null ||
    typeof claims.a !== 'string' ||
    typeof claims.e !== 'number' ||
    (claims.t !== 'a' && claims.t !== 'u') ||
    (claims.t === 'u' && typeof claims.u !== 'string')
  ) {
    return null;
  }
  return { payload, claims };
}

/** The App ID an issued token names (unverified), or undefined when it is not well-formed. */
export function issuedTokenAppId(token: string): string | undefined {
  return readClaims(token)?.claims.a;
}

/** Throws the catalogue's token errors; checks signature, app and expiry at `nowMs`. */
export function verifyIssuedToken(token: string, app: { appId: string; appCertificate: string }, nowMs: number): IssuedClaims {
  const read = readClaims(token);
  if (read === null) throw Errors.tokenCorrupt();
  const { payload, claims } = read;
  const sig = Buffer.from(token.slice(token.indexOf('.') + 1), 'base64url');
  const expected = createHmac('sha256', signingKey(app.appCertificate)).update(payload).digest();
  if (claims.a.toLowerCase() !== app.appId.toLowerCase() || sig.length !== expected.length || !timingSafeEqual(sig, expected)) {
    throw Errors.tokenRejected();
  }
  if (nowMs >= claims.e) throw Errors.tokenExpired();
  return claims;
}
