import { createHmac, timingSafeEqual } from 'node:crypto';
import { Errors } from '../domain/errors.js';

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

/** Throws the catalogue's token errors; checks signature, app and expiry at `nowMs`. */
export function verifyIssuedToken(token: string, app: { appId: string; appCertificate: string }, nowMs: number): IssuedClaims {
  const dot = token.indexOf('.');
  if (!token.startsWith(PREFIX) || dot < 0) throw Errors.tokenCorrupt();
  const payload = token.slice(PREFIX.length, dot);
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  let claims: IssuedClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as IssuedClaims;
  } catch {
    throw Errors.tokenCorrupt();
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.a !== 'string' || typeof claims.e !== 'number'
    || (claims.t !== 'a' && claims.t !== 'u') || (claims.t === 'u' && typeof claims.u !== 'string')) {
    throw Errors.tokenCorrupt();
  }
  const expected = createHmac('sha256', signingKey(app.appCertificate)).update(payload).digest();
  if (claims.a.toLowerCase() !== app.appId.toLowerCase() || sig.length !== expected.length || !timingSafeEqual(sig, expected)) {
    throw Errors.tokenRejected();
  }
  if (nowMs >= claims.e) throw Errors.tokenExpired();
  return claims;
}
