import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import { Errors } from '../domain/errors.js';
import { MAX_INFLATED_BYTES, MAX_TOKEN_CHARS } from './token-bounds.js';

// agora-token is CommonJS without types; its AccessToken2 parser knows every service layout.
const require = createRequire(import.meta.url);
const { AccessToken2, kChatServiceType } = require('agora-token/src/AccessToken2.js') as {
  AccessToken2: new () => ParsedToken;
  kChatServiceType: number;
};

// The package's reader returns byte strings as Buffers.
interface ParsedService {
  service_type(): number;
  __privileges: Record<string, number>;
  __user_id?: Buffer | string;
}

interface ParsedToken {
  appId: Buffer | string;
  issueTs: number;
  expire: number;
  services: ParsedService[];
  __signing_info: Buffer;
  from_string(token: string): boolean;
  verifySignature(appCertificate: string): boolean;
}

const PRIVILEGE_USER = 1;
const PRIVILEGE_APP = 2;

export type TokenClaims = { kind: 'app'; expiresAt: number } | { kind: 'user'; userId: string; expiresAt: number };

export interface TokenApp {
  appId: string;
  appCertificate: string;
}

/** Number of services the token declares, read from its signing info (appId str, 3 x u32, u16). */
function declaredServices(signingInfo: Buffer): number {
  const idLength = signingInfo.readUInt16LE(0);
  return signingInfo.readUInt16LE(2 + idLength + 12);
}

/**
 * The token's content, inflated with a bound on its length and on what it inflates to, or null.
 * The package inflates without a bound, so it may only see a token that passed this.
 */
function boundedContent(token: string): Buffer | null {
  if (token.length > MAX_TOKEN_CHARS || !token.startsWith('007')) return null;
  try {
    return inflateSync(Buffer.from(token.slice(3), 'base64'), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch {
    return null;
  }
}

/** The App ID a 007 token names (unverified), or undefined when it is not a readable token. */
export function accessToken2AppId(token: string): string | undefined {
  const content = boundedContent(token);
  if (content === null) return undefined;
  try {
    const signatureLength = content.readUInt16LE(0);
    const idLength = content.readUInt16LE(2 + signatureLength);
    const start = 4 + signatureLength;
    if (start + idLength > content.length) return undefined;
    return content.toString('latin1', start, start + idLength);
  } catch {
    return undefined;
  }
}

/**
 * Verifies an Agora AccessToken2 ("007...") for `app` at `nowSec`, as spec section 2 describes.
 * Throws the catalogue's token errors; returns what the Chat service grants and until when (ms).
 */
export function verifyAccessToken2(token: string, app: TokenApp, nowSec: number): TokenClaims {
  const parsed = new AccessToken2();
  if (boundedContent(token) === null || !parsed.from_string(token)) throw Errors.tokenCorrupt();
  // The package stops quietly at a service type it does not know: treat that as corrupt.
  if (parsed.services.length !== declaredServices(parsed.__signing_info)) throw Errors.tokenCorrupt();
  if (parsed.appId.toString().toLowerCase() !== app.appId.toLowerCase()) throw Errors.tokenRejected();
  if (!parsed.verifySignature(app.appCertificate)) throw Errors.tokenRejected();
  if (nowSec >= parsed.issueTs + parsed.expire) throw Errors.tokenExpired();
  const chat = parsed.services.find((s) => s.service_type() === kChatServiceType);
  if (!chat) throw Errors.tokenRejected();
  const appExpire = chat.__privileges[PRIVILEGE_APP];
  const userExpire = chat.__privileges[PRIVILEGE_USER];
  const until = (privilegeExpire: number) => Math.min(parsed.issueTs + parsed.expire, parsed.issueTs + privilegeExpire) * 1000;
  if (appExpire !== undefined) {
    if (appExpire === 0 || nowSec >= parsed.issueTs + appExpire) throw Errors.tokenExpired();
    return { kind: 'app', expiresAt: until(appExpire) };
  }
  if (userExpire !== undefined) {
    if (userExpire === 0 || nowSec >= parsed.issueTs + userExpire) throw Errors.tokenExpired();
    const userId = (chat.__user_id ?? '').toString();
    if (userId === '') throw Errors.tokenRejected();
    return { kind: 'user', userId, expiresAt: until(userExpire) };
  }
  throw Errors.tokenRejected();
}
