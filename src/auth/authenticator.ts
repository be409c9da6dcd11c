import { ApiError, Errors } from '../domain/errors.js';
import type { AppRecord } from '../config/apps.js';
import { verifyAccessToken2 } from './access-token2.js';
import { isIssuedToken, verifyIssuedToken } from './issued-tokens.js';

/** Who a token speaks for. `userId` is the 007 token's user id or an issued token's username. */
export type Principal =
  | { kind: 'app' }
  | { kind: 'user'; userId: string; issued: boolean; uuid?: string };

/**
 * The token of an Authorization header. No header, or `Bearer` with nothing after it (HTTP strips
 * the trailing space), is upstream's "expired"; any other scheme is "corrupt".
 */
export function bearerToken(header: string | undefined): string {
  const h = (header ?? '').trim();
  if (h === '' || h === 'Bearer') throw Errors.tokenExpired();
  if (!h.startsWith('Bearer ')) throw Errors.tokenCorrupt();
  return h.slice(7).trim();
}

interface CacheEntry {
  principal?: Principal;
  error?: ApiError;
  until: number;
}

const MAX_ENTRIES = 50_000;
/** A refused token is remembered briefly, so a flood of one forged token costs one HMAC. */
const REFUSAL_TTL_MS = 60_000;

/**
 * Turns an Authorization header into a Principal. Verification (inflate + three HMACs for a 007
 * token) runs once per token string and app; the outcome is cached until the token expires.
 */
export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(private readonly clock: () => number = Date.now) {}

  authenticate(header: string | undefined, app: AppRecord): Principal {
    const token = bearerToken(header);
    const now = this.clock();
    const cacheKey = `${app.appId}\u0000${token}`;
    const hit = this.cache.get(cacheKey);
    if (hit !== undefined) {
      if (now < hit.until) {
        if (hit.error) throw hit.error;
        return hit.principal!;
      }
      this.cache.delete(cacheKey);
      if (hit.principal) throw Errors.tokenExpired();
    }
    try {
      const { principal, until } = this.verify(token, app, now);
      this.remember(cacheKey, { principal, until });
      return principal;
    } catch (err) {
      if (err instanceof ApiError) this.remember(cacheKey, { error: err, until: now + REFUSAL_TTL_MS });
      throw err;
    }
  }

  private verify(token: string, app: AppRecord, now: number): { principal: Principal; until: number } {
    if (isIssuedToken(token)) {
      const claims = verifyIssuedToken(token, app, now);
      const principal: Principal = claims.t === 'a'
        ? { kind: 'app' }
        : { kind: 'user', userId: claims.u!, issued: true, uuid: claims.id };
      return { principal, until: claims.e };
    }
    const claims = verifyAccessToken2(token, app, Math.floor(now / 1000));
    const principal: Principal = claims.kind === 'app' ? { kind: 'app' } : { kind: 'user', userId: claims.userId, issued: false };
    return { principal, until: claims.expiresAt };
  }

  private remember(key: string, entry: CacheEntry): void {
    if (this.cache.size >= MAX_ENTRIES) {
      // Map keeps insertion order: drop the oldest tenth rather than grow without bound.
      let drop = MAX_ENTRIES / 10;
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--drop === 0) break;
      }
    }
    this.cache.set(key, entry);
  }
}
