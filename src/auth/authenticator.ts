import { createHash } from 'node:crypto';
import { ApiError, Errors } from '../domain/errors.js';
import type { AppRecord } from '../config/apps.js';
import { accessToken2AppId, verifyAccessToken2 } from './access-token2.js';
import { isIssuedToken, issuedTokenAppId, verifyIssuedToken } from './issued-tokens.js';
import { MAX_TOKEN_CHARS } from './token-bounds.js';

/** Who a token speaks for. `userId` is the 007 token's user id or an issued token's username. */
export type Principal =
  { kind: 'app'; expiresAt: number } | { kind: 'user'; userId: string; issued: boolean; uuid?: string; expiresAt: number };

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

/** The three token refusals, cached by kind: an entry holds neither the token nor an Error. */
const REFUSALS = { expired: Errors.tokenExpired, corrupt: Errors.tokenCorrupt, rejected: Errors.tokenRejected } as const;
type Refusal = keyof typeof REFUSALS;
const REFUSAL_OF = new Map<string, Refusal>((Object.keys(REFUSALS) as Refusal[]).map((kind) => [REFUSALS[kind]().description, kind]));

interface CacheEntry {
  principal?: Principal;
  refusal?: Refusal;
  until: number;
}

/**
 * Entries held at most. A refusal's key is a digest (~200 bytes an entry whatever the token's
 * size); a verified token's key is the token itself, at most MAX_TOKEN_CHARS (real tokens are a
 * few hundred characters), and only a token the app's certificate signed can make one.
 */
const MAX_ENTRIES = 50_000;
/** A refused token is remembered briefly, so a flood of one forged token costs one HMAC. */
const REFUSAL_TTL_MS = 60_000;
/** Oldest entries looked at per insertion: expired ones leave without a full sweep. */
const SWEEP_STEP = 2;

/** A fixed-size key for a refused token at an app: the cache never holds a string an attacker chose. */
function refusalKey(appId: string, token: string): string {
  return createHash('sha256').update(appId).update('\u0000').update(token).digest('base64');
}

/**
 * The key of a verified token at an app: the token itself, so that a cached call costs no hash
 * (a SHA-256 of every call's token was ~3 µs of a call's CPU). It holds a NUL, which a refusal's
 * base64 key never does.
 */
function grantKey(appId: string, token: string): string {
  return `${appId}\u0000${token}`;
}

/**
 * Turns an Authorization header into a Principal. Verification (inflate + three HMACs for a 007
 * token) runs once per token and app; the outcome is cached until the token expires.
 */
export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  authenticate(header: string | undefined, app: AppRecord): Principal {
    const token = bearerToken(header);
    // Refused before hashing or caching: both verifiers would refuse it as corrupt anyway.
    if (token.length > MAX_TOKEN_CHARS) throw Errors.tokenCorrupt();
    const now = this.clock();
    const grant = grantKey(app.appId, token);
    const granted = this.cache.get(grant);
    if (granted !== undefined) {
      if (now < granted.until) return granted.principal!;
      this.cache.delete(grant);
      throw Errors.tokenExpired();
    }
    const key = refusalKey(app.appId, token);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (now < hit.until) throw REFUSALS[hit.refusal!]();
      this.cache.delete(key);
    }
    try {
      const { principal, until } = this.verify(token, app, now);
      this.remember(grant, { principal, until }, now);
      return principal;
    } catch (err) {
      const refusal = err instanceof ApiError ? REFUSAL_OF.get(err.description) : undefined;
      if (refusal) this.remember(key, { refusal, until: now + REFUSAL_TTL_MS }, now);
      throw err;
    }
  }

  /** The app a header's token names (not verified), for callers that must pick the app from the token. */
  appIdOf(header: string | undefined): string | undefined {
    let token: string;
    try {
      token = bearerToken(header);
    } catch {
      return undefined;
    }
    return isIssuedToken(token) ? issuedTokenAppId(token) : accessToken2AppId(token);
  }

  /** Entries held now (for tests and metrics). */
  get size(): number {
    return this.cache.size;
  }

  private verify(token: string, app: AppRecord, now: number): { principal: Principal; until: number } {
    if (isIssuedToken(token)) {
      const claims = verifyIssuedToken(token, app, now);
      const principal: Principal =
        claims.t === 'a'
          ? { kind: 'app', expiresAt: claims.e }
          : { kind: 'user', userId: claims.u!, issued: true, uuid: claims.id, expiresAt: claims.e };
      return { principal, until: claims.e };
    }
    const claims = verifyAccessToken2(token, app, Math.floor(now / 1000));
    const principal: Principal =
      claims.kind === 'app'
        ? { kind: 'app', expiresAt: claims.expiresAt }
        : { kind: 'user', userId: claims.userId, issued: false, expiresAt: claims.expiresAt };
    return { principal, until: claims.expiresAt };
  }

  private remember(key: string, entry: CacheEntry, now: number): void {
    this.dropExpired(now, SWEEP_STEP);
    if (this.cache.size >= this.maxEntries) {
      this.dropExpired(now, Infinity);
      // Map keeps insertion order: drop the oldest tenth rather than grow without bound.
      let drop = this.cache.size - this.maxEntries * 0.9;
      for (const k of this.cache.keys()) {
        if (drop-- <= 0) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, entry);
  }

  /**
   * Looks at up to `limit` of the oldest entries and drops those that have expired. Refusals, the
   * bulk of a flood, all live REFUSAL_TTL_MS, so for them insertion order is expiry order and a
   * stream of bad tokens keeps the cache near one minute of that stream.
   */
  private dropExpired(now: number, limit: number): void {
    let looked = 0;
    for (const [k, e] of this.cache) {
      if (looked++ >= limit) break;
      if (e.until <= now) this.cache.delete(k);
    }
  }
}
