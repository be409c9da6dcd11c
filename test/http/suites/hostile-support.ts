import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * What the hostile-input suites (hostile-*.ts) share: the shapes of a route and of the model of a
 * room, the per-key outcome a set must report, the unicode corpus, and the checks of an answer.
 */

export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Path = Array<string | number>;
export type Kind = 'set' | 'get' | 'delete' | 'other';

export interface RouteDef {
  name: string;
  method: string;
  /** Path under the app prefix. */
  path: string;
  kind: Kind;
  /** The room whose model the call may change (attribute calls). */
  room?: RoomModel;
  valid: Json;
}

export interface RoomModel {
  id: string;
  attrs: Map<string, string>;
  /** Sorted JSON of the members list: refused calls must leave it as it is. */
  members: string;
}

const MAX_KEY = 128;
const MAX_VALUE = 4086;
const KEY_CHARS = /^[A-Za-z0-9_.-]+$/;
export const PASSWORD = 'pw-123456';
export const MB = 1024 * 1024;
/** Users that only an accepted (wrongly accepted) users call would create. */
export const HOSTILE_USER = 'hostile1';

export const seedOf = (n: number) => 0x5eed0000 + n;
export const RUNS = 100;

/** The expected per-key outcome of a set by the only writer of a room with generous limits. */
export function expectedReason(k: string, v: unknown): string | null {
  if (k.length === 0 || !KEY_CHARS.test(k)) return `properties key '${k}' is not Legal`;
  if (k.length > MAX_KEY) return `properties key '${k}' is exceeding maximum limit ${MAX_KEY}`;
  if (typeof v !== 'string') return `properties value of '${k}' is not Legal`;
  if (v.length > MAX_VALUE) return `properties value of '${k}' is exceeding maximum limit ${MAX_VALUE}`;
  return null;
}

export const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);
export const sortedEntries = (m: Map<string, string> | Record<string, string>) =>
  (m instanceof Map ? [...m.entries()] : Object.entries(m)).sort(byKey);

/** Per-key outcomes as sorted lists (entries, so that a key named __proto__ stays a key). */
export function expectedOutcome(metaData: Record<string, unknown>): { successKeys: string[]; errorKeys: Array<[string, string]> } {
  const successKeys: string[] = [];
  const errorKeys: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(metaData)) {
    const reason = expectedReason(k, v);
    if (reason === null) successKeys.push(k);
    else errorKeys.push([k, reason]);
  }
  return { successKeys: successKeys.sort(), errorKeys: errorKeys.sort(byKey) };
}

export const SPECIALS = [
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\u200b',
  '\u200e',
  '\u200f',
  '\u202e',
  '\u2066',
  '\ufeff',
  '\uffff',
  '\ufffd',
  '😀',
  '👩‍👩‍👧',
  '🇫🇷',
  'é',
  'e\u0301',
  'İ',
  'ß',
  'K',
  'ﬀ',
  '"',
  '\\',
  "'",
  '%',
  '/',
  '?',
  '#',
  '&',
  '=',
  '+',
  ',',
  ';',
  ':',
  '.',
  '-',
  '_',
  ' ',
  '\t',
  '\n',
  '\r',
  'a',
  'Z',
  '0',
  '9',
];
export const LONE = ['\ud800', '\udbff', '\udc00', '\udfff'];

export const label = (what: string, res: RawReply) => `${what} -> ${res.status} ${res.text.slice(0, 300)}`;

/** Never a 5xx; anything but a 200 carries the full Agora error envelope. */
export function assertSane(res: RawReply, what: string): void {
  assert.ok(res.status < 500, label(what, res));
  if (res.status === 200) return;
  assert.ok(res.status >= 400, label(what, res));
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json/, label(what, res));
  const b = res.body;
  assert.ok(b !== null && typeof b === 'object', label(what, res));
  assert.equal(typeof b.error, 'string', label(what, res));
  assert.ok(b.error.length > 0, label(what, res));
  assert.equal(typeof b.exception, 'string', label(what, res));
  assert.ok(b.exception.length > 0, label(what, res));
  assert.equal(typeof b.timestamp, 'number', label(what, res));
  assert.equal(typeof b.duration, 'number', label(what, res));
  assert.equal(typeof b.error_description, 'string', label(what, res));
  assert.ok(b.error_description.length > 0, label(what, res));
}

export function assertError(res: RawReply, status: number, error: string, description?: string, what = ''): void {
  assertSane(res, what);
  assert.equal(res.status, status, label(what, res));
  assert.equal(res.body.error, error, label(what, res));
  if (description !== undefined) assert.equal(res.body.error_description, description, label(what, res));
}
