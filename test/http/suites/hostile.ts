import assert from 'node:assert/strict';
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { appToken, userToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import { call } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

/**
 * Hostile input over real HTTP (issue "Reliability and security"): malformed, truncated, wrongly
 * typed, huge, deeply nested, prototype-named and unicode bodies and paths, odd and doubled
 * headers. Every answer is a 4xx with Agora's error envelope, or a 200 where the input is
 * legitimately valid; never a 5xx; and the rooms read back afterwards are exactly what the
 * answers said (a refused call changes nothing). Properties use fast-check with fixed seeds.
 */

interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;
type Kind = 'set' | 'get' | 'delete' | 'other';

interface RouteDef {
  name: string;
  method: string;
  /** Path under the app prefix. */
  path: string;
  kind: Kind;
  /** The room whose model the call may change (attribute calls). */
  room?: RoomModel;
  valid: Json;
}

interface RoomModel {
  id: string;
  attrs: Map<string, string>;
  /** Sorted JSON of the members list: refused calls must leave it as it is. */
  members: string;
}

const MAX_KEY = 128;
const MAX_VALUE = 4086;
const KEY_CHARS = /^[A-Za-z0-9_.-]+$/;
const PASSWORD = 'pw-123456';
const MB = 1024 * 1024;
/** Users that only an accepted (wrongly accepted) users call would create. */
const HOSTILE_USER = 'hostile1';

const seedOf = (n: number) => 0x5eed0000 + n;
const RUNS = 100;

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Every position in a JSON document, the root included. */
function pathsOf(v: Json, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(v)) v.forEach((c, i) => out.push(...pathsOf(c, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) out.push(...pathsOf(c, [...prefix, k]));
  return out;
}

function getAt(root: Json, path: Path): Json {
  let cur: any = root;
  for (const p of path) cur = cur[p];
  return cur as Json;
}

function setAt(root: Json, path: Path, value: Json): Json {
  if (path.length === 0) return value;
  const copy = JSON.parse(JSON.stringify(root)) as any;
  let cur = copy;
  for (const p of path.slice(0, -1)) cur = cur[p];
  cur[path[path.length - 1]!] = value;
  return copy as Json;
}

/** One representative value of each JSON type other than the field's own. */
const WRONG: Record<string, Json[]> = {
  string: [7, 1.5, true, null, [], ['x'], {}, { a: 'x' }],
  integer: ['10', 1.5, false, null, [], {}],
  boolean: ['true', 1, null, [], {}],
  array: ['carol', 1, true, null, {}, { 0: 'carol' }],
  object: ['x', 1, true, null, [], [{}]],
};

/** WRONG's values for the type of `original`. */
function wrongValues(original: Json): Json[] {
  const values = WRONG[jsonType(original)];
  assert.ok(values, `no wrong values listed for type ${jsonType(original)}`);
  return values;
}

const isWrongFor = (original: Json, v: Json) => {
  const t = jsonType(original);
  const u = jsonType(v);
  if (t === 'integer') return u !== 'integer';
  return u !== t && !(t === 'number' && u === 'integer');
};

/** The expected per-key outcome of a set by the only writer of a room with generous limits. */
function expectedReason(k: string, v: unknown): string | null {
  if (k.length === 0 || !KEY_CHARS.test(k)) return `properties key '${k}' is not Legal`;
  if (k.length > MAX_KEY) return `properties key '${k}' is exceeding maximum limit ${MAX_KEY}`;
  if (typeof v !== 'string') return `properties value of '${k}' is not Legal`;
  if (v.length > MAX_VALUE) return `properties value of '${k}' is exceeding maximum limit ${MAX_VALUE}`;
  return null;
}

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);
const sortedEntries = (m: Map<string, string> | Record<string, string>) =>
  (m instanceof Map ? [...m.entries()] : Object.entries(m)).sort(byKey);

/** Per-key outcomes as sorted lists (entries, so that a key named __proto__ stays a key). */
function expectedOutcome(metaData: Record<string, unknown>): { successKeys: string[]; errorKeys: Array<[string, string]> } {
  const successKeys: string[] = [];
  const errorKeys: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(metaData)) {
    const reason = expectedReason(k, v);
    if (reason === null) successKeys.push(k);
    else errorKeys.push([k, reason]);
  }
  return { successKeys: successKeys.sort(), errorKeys: errorKeys.sort(byKey) };
}

/** A string as a path segment; lone surrogates become the bytes of their code point (not UTF-8). */
function encodeSegment(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

const SPECIALS = [
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
const LONE = ['\ud800', '\udbff', '\udc00', '\udfff'];

export function hostileSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    let fx: Fixture;
    let token: string;
    let prefix: string;
    let base: URL;
    // Keep-alive, closing idle sockets before the server's keep-alive timeout does.
    const agent = new Agent({ keepAlive: true, timeout: 2000 });
    let main: RoomModel;
    let uni: RoomModel;
    let proto: RoomModel;
    let routes: RouteDef[];
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

    /**
     * A keep-alive socket the server closed as idle while the client picked it for a request fails
     * that request with ECONNRESET before the server saw it (Node documents this race, and
     * `reusedSocket` to tell it apart): such a request is sent again once, on a new connection. An
     * error on a new connection, or any answer, is never retried.
     */
    async function send(method: string, path: string, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<RawReply> {
      try {
        return await sendOnce(method, path, headers, body, agent);
      } catch (err) {
        if ((err as { code?: string; reused?: boolean }).code !== 'ECONNRESET' || !(err as { reused?: boolean }).reused) throw err;
        return sendOnce(method, path, headers, body, false);
      }
    }

    function sendOnce(
      method: string,
      path: string,
      headers: OutgoingHttpHeaders,
      body: string | Buffer | undefined,
      via: Agent | false,
    ): Promise<RawReply> {
      // node:http frames a DELETE body with neither Content-Length nor chunking unless told.
      if (body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
        headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
      }
      return new Promise((resolve, reject) => {
        const req = request({ host: base.hostname, port: base.port, method, path, headers, agent: via }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode!, headers: res.headers, text, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('error', (err) => reject(Object.assign(err, { reused: req.reusedSocket })));
        req.end(body);
      });
    }

    /** An app-token call with a raw JSON body (headers may override or add). */
    function rawCall(
      method: string,
      path: string,
      body: string | Buffer | undefined,
      headers: OutgoingHttpHeaders = {},
    ): Promise<RawReply> {
      const h: OutgoingHttpHeaders = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (body !== undefined) h['content-type'] = 'application/json';
      // Overrides replace the defaults whatever their casing (two spellings would send two headers).
      for (const name of Object.keys(headers)) delete h[name.toLowerCase()];
      return send(method, `${prefix}${path}`, { ...h, ...headers }, body);
    }

    const label = (what: string, res: RawReply) => `${what} -> ${res.status} ${res.text.slice(0, 300)}`;

    /** Never a 5xx; anything but a 200 carries the full Agora error envelope. */
    function assertSane(res: RawReply, what: string): void {
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

    function assertError(res: RawReply, status: number, error: string, description?: string, what = ''): void {
      assertSane(res, what);
      assert.equal(res.status, status, label(what, res));
      assert.equal(res.body.error, error, label(what, res));
      if (description !== undefined) assert.equal(res.body.error_description, description, label(what, res));
    }

    async function membersOf(room: string): Promise<string> {
      const res = await call(fx.server.url, 'GET', `${prefix}/chatrooms/${room}/users`, { token });
      assert.equal(res.status, 200, `members of ${room}: ${res.text}`);
      return JSON.stringify((res.body.data as Array<Record<string, string>>).map((m) => JSON.stringify(m)).sort());
    }

    /** The room read back equals the model: every attribute, and the members list. */
    async function verifyRoom(room: RoomModel, what: string): Promise<void> {
      const res = await call(fx.server.url, 'POST', `${prefix}/metadata/chatroom/${room.id}`, { token, body: {} });
      assert.equal(res.status, 200, `read back after ${what}: ${res.text}`);
      assert.deepEqual(sortedEntries(res.body.data), sortedEntries(room.attrs), `attributes after ${what}`);
      assert.equal(await membersOf(room.id), room.members, `members after ${what}`);
    }

    async function assertNoHostileUser(what: string): Promise<void> {
      const res = await call(fx.server.url, 'GET', `${prefix}/users/${HOSTILE_USER}`, { token });
      assert.equal(res.status, 404, `${HOSTILE_USER} exists after ${what}`);
    }

    /**
     * Sends one call and checks it against the model: a refused call changes nothing; a 200 set
     * or delete reports every key once, and the room then holds exactly what it reported.
     */
    /** While false (in `batch`), rooms are read back once at the end instead of after each call. */
    let verifyEach = true;

    async function batch(fn: () => Promise<void>): Promise<void> {
      verifyEach = false;
      try {
        await fn();
      } finally {
        verifyEach = true;
      }
      await verifyRoom(main, 'the batch');
      await assertNoHostileUser('the batch');
    }

    interface OracleOptions {
      headers?: OutgoingHttpHeaders;
      /** Another path than the route's (same method and kind). */
      path?: string;
      /** Read the room back after this call even inside a batch. */
      verify?: boolean;
    }

    async function oracle(route: RouteDef, body: string | Buffer | undefined, what: string, opts: OracleOptions = {}): Promise<RawReply> {
      const res = await rawCall(route.method, opts.path ?? route.path, body, opts.headers ?? {});
      const tag = `${route.name} ${what}`;
      assertSane(res, tag);
      const room = route.room;
      if (res.status === 200 && room) {
        const text = body === undefined ? '' : Buffer.from(body).toString('utf8');
        const parsed = text.length > 0 ? JSON.parse(text) : undefined;
        if (route.kind === 'set') {
          const sent = Object.keys(parsed.metaData);
          const { successKeys, errorKeys } = res.body.data as { successKeys: string[]; errorKeys: Record<string, string> };
          assert.deepEqual([...successKeys, ...Object.keys(errorKeys)].sort(), [...sent].sort(), `${tag}: every key reported once`);
          for (const k of successKeys) room.attrs.set(k, parsed.metaData[k]);
        } else if (route.kind === 'delete') {
          const sent = [...new Set(parsed.keys as string[])];
          const { successKeys, errorKeys } = res.body.data as { successKeys: string[]; errorKeys: Record<string, string> };
          assert.deepEqual([...successKeys, ...Object.keys(errorKeys)].sort(), [...sent].sort(), `${tag}: every key reported once`);
          for (const k of successKeys) room.attrs.delete(k);
        } else if (route.kind === 'get') {
          const keys = parsed?.keys as string[] | null | undefined;
          const expected =
            Array.isArray(keys) && keys.length > 0
              ? sortedEntries(room.attrs).filter(([k]) => keys.includes(k))
              : sortedEntries(room.attrs);
          assert.deepEqual(sortedEntries(res.body.data), expected, `${tag}: what get returned`);
        }
      }
      if (!(opts.verify ?? verifyEach)) return res;
      if (room || res.status !== 200) await verifyRoom(room ?? main, tag);
      if (route.name.startsWith('users') && res.status !== 200) await assertNoHostileUser(tag);
      return res;
    }

    async function setup(room: RoomModel, who: string, attrs: Record<string, string>) {
      const res = await call(fx.server.url, 'PUT', `${prefix}/metadata/chatroom/${room.id}/user/${who}`, {
        token,
        body: { metaData: attrs },
      });
      assert.deepEqual(res.body?.data, { successKeys: Object.keys(attrs), errorKeys: {} }, res.text);
      for (const [k, v] of Object.entries(attrs)) room.attrs.set(k, v);
    }

    before(async () => {
      // Durability is not under test here: NORMAL spares the SQLite run an fsync per accepted write.
      fx = await startFixture(
        target,
        { rateLimitPerSecond: 1_000_000, maxAttributesPerRoom: 1_000_000 },
        { env: { ROOMKV_SQLITE_SYNCHRONOUS: 'NORMAL' } },
      );
      token = appToken(fx.app);
      prefix = `/${fx.app.org}/${fx.app.app}`;
      base = new URL(fx.server.url);
      await fx.createUsers('alice', 'bob', 'carol');
      const room = async (owner: string, members: string[]): Promise<RoomModel> => {
        const id = await fx.createRoom(owner, members);
        return { id, attrs: new Map(), members: await membersOf(id) };
      };
      main = await room('alice', ['bob']);
      uni = await room('alice', []);
      await setup(main, 'alice', { k1: 'one', k2: 'two', k3: 'three' });
      await setup(main, 'bob', { bobkey: 'bob' });
      const r = `/metadata/chatroom/${main.id}`;
      routes = [
        {
          name: 'set',
          method: 'PUT',
          path: `${r}/user/alice`,
          kind: 'set',
          room: main,
          valid: { metaData: { k1: 'changed' }, autoDelete: 'NO_DELETE' },
        },
        {
          name: 'forced set',
          method: 'PUT',
          path: `${r}/user/bob/forced`,
          kind: 'set',
          room: main,
          valid: { metaData: { k1: 'forced' }, autoDelete: 'DELETE' },
        },
        { name: 'get', method: 'POST', path: r, kind: 'get', room: main, valid: { keys: ['k1', 'k2'] } },
        { name: 'delete', method: 'DELETE', path: `${r}/user/alice`, kind: 'delete', room: main, valid: { keys: ['k1', 'k2'] } },
        {
          name: 'forced delete',
          method: 'DELETE',
          path: `${r}/user/admin/forced`,
          kind: 'delete',
          room: main,
          valid: { keys: ['bobkey'] },
        },
        {
          name: 'users (one)',
          method: 'POST',
          path: '/users',
          kind: 'other',
          valid: { username: HOSTILE_USER, password: PASSWORD, nickname: 'n' },
        },
        { name: 'users (array)', method: 'POST', path: '/users', kind: 'other', valid: [{ username: HOSTILE_USER, password: PASSWORD }] },
        {
          name: 'chatrooms',
          method: 'POST',
          path: '/chatrooms',
          kind: 'other',
          valid: { name: 'n', description: 'd', maxusers: 10, owner: 'alice', members: ['carol'] },
        },
        { name: 'members', method: 'POST', path: `/chatrooms/${main.id}/users`, kind: 'other', valid: { usernames: ['carol'] } },
        {
          name: 'token (client_credentials)',
          method: 'POST',
          path: '/token',
          kind: 'other',
          valid: { grant_type: 'client_credentials', client_id: fx.app.clientId, client_secret: fx.app.clientSecret, ttl: 60 },
        },
        {
          name: 'token (password)',
          method: 'POST',
          path: '/token',
          kind: 'other',
          valid: { grant_type: 'password', username: 'alice', password: PASSWORD, ttl: 60 },
        },
        {
          name: 'token (inherit)',
          method: 'POST',
          path: '/token',
          kind: 'other',
          valid: { grant_type: 'inherit', username: 'alice', autoCreateUser: false, ttl: 60 },
        },
      ];
    });
    after(async () => {
      agent.destroy();
      await fx.close();
    });

    it('the valid form of every body is accepted (the corpus below is built on working calls)', async () => {
      // Sent to a throwaway room so the main room's reference state stays as set up.
      const spare = await fx.createRoom('alice', ['bob']);
      for (const route of routes) {
        const path = route.path.replace(main.id, spare);
        const res = await rawCall(route.method, path, JSON.stringify(route.valid));
        assert.equal(res.status, 200, label(route.name, res));
        if (route.name.startsWith('users')) {
          assert.equal((await call(fx.server.url, 'DELETE', `${prefix}/users/${HOSTILE_USER}`, { token })).status, 200);
        }
      }
      await verifyRoom(main, 'the valid calls on another room');
    });

    it('every body truncated at every position is 400 json_parse (empty: 400 illegal_argument) and changes nothing', async () => {
      for (const route of routes) {
        const text = JSON.stringify(route.valid);
        await batch(async () => {
          for (let n = 0; n < text.length; n++) {
            const res = await oracle(route, text.slice(0, n), `truncated at ${n}`);
            if (n === 0 && route.kind === 'get') assert.equal(res.status, 200, 'an empty get body means every attribute');
            else if (n === 0) assertError(res, 400, 'illegal_argument', undefined, `${route.name} empty body`);
            else assertError(res, 400, 'json_parse', undefined, `${route.name} truncated at ${n}: ${text.slice(0, n)}`);
          }
        });
      }
    });

    /** What a wrong-typed value at `path` of `route`'s body must produce. */
    async function checkWrongType(route: RouteDef, path: Path, value: Json, naming = false): Promise<void> {
      const body = setAt(route.valid, path, value);
      const what = `${JSON.stringify(path)} = ${JSON.stringify(value)}`;
      const res = await oracle(route, JSON.stringify(body), what);
      const field = [...path].reverse().find((p): p is string => typeof p === 'string');
      if (route.kind === 'set' && path.length === 2 && path[0] === 'metaData') {
        // A value that is not a string is a per-key error, not a 400.
        assert.equal(res.status, 200, label(what, res));
        const k = String(path[1]);
        assert.deepEqual(res.body.data, { successKeys: [], errorKeys: { [k]: `properties value of '${k}' is not Legal` } }, what);
      } else if (route.kind === 'get' && value === null && (path.length === 0 || (path.length === 1 && path[0] === 'keys'))) {
        assert.equal(res.status, 200, label(`${route.name} ${what} means every attribute`, res));
      } else {
        assertError(res, 400, 'illegal_argument', undefined, `${route.name} ${what}`);
        if (naming && field !== undefined) {
          assert.ok(
            res.body.error_description.includes(field),
            `${route.name} ${what}: error_description should name '${field}': ${res.body.error_description}`,
          );
        }
      }
    }

    it('a value of each wrong type at every field of every body is 400 illegal_argument and changes nothing', async () => {
      for (const route of routes) {
        await batch(async () => {
          for (const path of pathsOf(route.valid)) {
            const original = getAt(route.valid, path);
            for (const value of wrongValues(original).filter((v) => isWrongFor(original, v))) await checkWrongType(route, path, value);
          }
        });
      }
    });

    it('the 400 for a wrong type names the field (spec section 3), in every body', async () => {
      await batch(async () => {
        for (const route of routes) {
          for (const path of pathsOf(route.valid)) {
            const original = getAt(route.valid, path);
            await checkWrongType(
              route,
              path,
              wrongValues(original).find((v) => isWrongFor(original, v))!,
              true,
            );
          }
        }
      });
    });

    it('property: a random JSON value of another type at a random field of a random body', async () => {
      await batch(() =>
        fc.assert(
          fc.asyncProperty(fc.nat(), fc.nat(), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, async (r, p, value) => {
            const route = routes[r % routes.length]!;
            const paths = pathsOf(route.valid);
            const path = paths[p % paths.length]!;
            if (!isWrongFor(getAt(route.valid, path), value)) return;
            await checkWrongType(route, path, value);
          }),
          { numRuns: RUNS, seed: seedOf(1) },
        ),
      );
    });

    it('property: text that is not JSON is 400 json_parse on every route, and changes nothing', async () => {
      const notJson = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).filter((s) => {
        try {
          JSON.parse(Buffer.from(s).toString('utf8'));
          return false;
        } catch {
          return true;
        }
      });
      await batch(() =>
        fc.assert(
          fc.asyncProperty(fc.nat(), notJson, async (r, text) => {
            const route = routes[r % routes.length]!;
            assertError(
              await oracle(route, text, `body ${JSON.stringify(text)}`),
              400,
              'json_parse',
              undefined,
              `${route.name} ${JSON.stringify(text)}`,
            );
          }),
          { numRuns: RUNS, seed: seedOf(2) },
        ),
      );
    });

    it('property: one-character edits of valid bodies are 400 json_parse, or answered consistently with what is stored', async () => {
      const ALPHABET = ['{', '}', '[', ']', '"', ':', ',', '\\', ' ', '0', '-', 'e', '.', 'a', 'n', 't', '\u0000', '\u2028', '\ud800'];
      await batch(() =>
        fc.assert(
          fc.asyncProperty(
            fc.nat(),
            fc.nat(),
            fc.constantFrom('insert', 'delete', 'replace'),
            fc.constantFrom(...ALPHABET),
            async (r, at, op, ch) => {
              const route = routes[r % routes.length]!;
              const text = JSON.stringify(route.valid);
              const i = at % text.length;
              const edited =
                op === 'insert'
                  ? text.slice(0, i) + ch + text.slice(i)
                  : op === 'delete'
                    ? text.slice(0, i) + text.slice(i + 1)
                    : text.slice(0, i) + ch + text.slice(i + 1);
              const decoded = Buffer.from(edited).toString('utf8');
              let valid = true;
              try {
                JSON.parse(decoded);
              } catch {
                valid = false;
              }
              // A still-valid edit of a users/chatrooms/members/token body may legitimately create
              // something; only the attribute calls, whose effect the model follows, are sent then.
              if (valid && route.kind === 'other') return;
              // A still-valid edit is followed by a read-back; a refused one is checked at the end.
              const res = await oracle(route, edited, `${op} ${JSON.stringify(ch)} at ${i}: ${JSON.stringify(edited)}`, { verify: valid });
              if (!valid) assertError(res, 400, 'json_parse', undefined, `${route.name} ${JSON.stringify(edited)}`);
            },
          ),
          { numRuns: RUNS, seed: seedOf(3) },
        ),
      );
    });

    it('bodies over the body limit are 413 with the envelope, and 20 x 5 MB do not grow the process by 100 MB', async () => {
      const big = Buffer.alloc(5 * MB, 'x');
      const bigJson = Buffer.concat([Buffer.from('{"metaData":{"big":"'), Buffer.alloc(5 * MB, 'y'), Buffer.from('"}}')]);
      const set = at(routes, 0);
      const sendBig = (body: Buffer, chunked: boolean): Promise<RawReply> =>
        new Promise((resolve, reject) => {
          const headers: OutgoingHttpHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
          if (!chunked) headers['content-length'] = String(body.length);
          const req = request(
            { host: base.hostname, port: base.port, method: set.method, path: `${prefix}${set.path}`, headers, agent: false },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (d: Buffer) => chunks.push(d));
              res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                resolve({ status: res.statusCode!, headers: res.headers, text, body: JSON.parse(text) });
              });
            },
          );
          let answered = false;
          req.on('response', () => {
            answered = true;
          });
          // The server may answer and close before the whole body is written: that is its right.
          req.on('error', (err) => {
            if (!answered) reject(err);
          });
          if (chunked) {
            for (let off = 0; off < body.length; off += 64 * 1024) req.write(body.subarray(off, off + 64 * 1024));
            req.end();
          } else req.end(body);
        });
      const check = (res: RawReply, what: string) => {
        assertError(res, 413, 'request_entity_too_large', undefined, what);
        assert.match(res.body.error_description, /larger than \d+ bytes/, what);
      };
      check(await sendBig(big, false), 'warm-up');
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 20; i++) check(await sendBig(i % 2 === 0 ? big : bigJson, i % 4 === 3), `5 MB body #${i}`);
      const grown = process.memoryUsage().rss - before;
      assert.ok(grown < 100 * MB, `RSS grew by ${Math.round(grown / MB)} MB over 20 x 5 MB refused bodies`);
      await verifyRoom(main, 'the huge bodies');
      assert.equal(main.attrs.has('big'), false);
    });

    it('deeply nested JSON (10,000 and 100,000 levels) in values and as the whole body is refused before parsing', async () => {
      const set = at(routes, 0);
      const tooDeep = 'JSON nesting deeper than 32 levels';
      for (const depth of [10_000, 100_000]) {
        const arrays = '['.repeat(depth) + ']'.repeat(depth);
        const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        for (const [name, deep] of [
          ['arrays', arrays],
          ['objects', objects],
        ] as const) {
          const what = `${depth} levels of ${name}`;
          assertError(
            await oracle(set, `{"metaData":{"deep":${deep},"flat":"v${depth}"}}`, `${what} in a value`),
            400,
            'json_parse',
            tooDeep,
            `${what} in a value`,
          );
          for (const route of routes) {
            // The token route has a small body limit of its own: a body over it is 413 before any parsing.
            const refused = (res: RawReply, tag: string, description?: string) =>
              route.path === '/token' && res.status === 413
                ? assertError(res, 413, 'request_entity_too_large', undefined, tag)
                : assertError(res, 400, 'json_parse', description, tag);
            refused(await oracle(route, deep, `${what} as the body`), `${route.name} ${what} as the body`, tooDeep);
            refused(await oracle(route, deep.slice(0, depth), `${what} unclosed`), `${route.name} ${what} unclosed`);
          }
          assertError(
            await oracle(at(routes, 2), `{"keys":[${deep}]}`, `${what} as a get key`),
            400,
            'json_parse',
            tooDeep,
            `${what} as a get key`,
          );
          assertError(
            await oracle(at(routes, 3), `{"keys":${deep}}`, `${what} as delete keys`),
            400,
            'json_parse',
            tooDeep,
            `${what} as delete keys`,
          );
          assertError(
            await oracle(at(routes, 5), `{"username":"${HOSTILE_USER}","password":"pw","nickname":${deep}}`, `${what} as a nickname`),
            400,
            'json_parse',
            tooDeep,
            `${what} as a nickname`,
          );
        }
      }
      // An object value a few levels deep is still parsed, and still a per-key error.
      const shallow = await oracle(set, '{"metaData":{"deep":[[[{"a":1}]]],"flat":"v-shallow"}}', 'an object value 5 levels deep');
      assert.equal(shallow.status, 200, label('shallow', shallow));
      assert.deepEqual(shallow.body.data, { successKeys: ['flat'], errorKeys: { deep: "properties value of 'deep' is not Legal" } });
    });

    it('__proto__, constructor and prototype at every level are plain data and pollute nothing', async () => {
      const [set, get, del] = [at(routes, 0), at(routes, 2), at(routes, 3)];
      const NAMES = ['__proto__', 'constructor', 'prototype'];
      for (const [i, n] of NAMES.entries()) {
        const q = JSON.stringify(n);
        // At the top level they are extra members: they neither supply nor replace a field.
        assertError(
          await oracle(set, `{${q}:{"metaData":{"polluted":"x"}}}`, `${n} at the top`),
          400,
          'illegal_argument',
          'body.metaData is required',
        );
        const extra = await oracle(
          set,
          `{"metaData":{"extra_${i}":"p"},${q}:{"autoDelete":"BAD","metaData":{"polluted":"x"}}}`,
          `${n} beside metaData`,
        );
        assert.deepEqual(extra.body.data, { successKeys: [`extra_${i}`], errorKeys: {} }, `${n} beside metaData`);
        // As keys they are ordinary legal keys; an object value under them is a per-key error.
        const asKey = await oracle(set, `{"metaData":{${q}:"v-${n}","deep":{${q}:{"polluted":"x"}}}}`, `${n} as a key`);
        assert.deepEqual(
          asKey.body.data,
          { successKeys: [n], errorKeys: { deep: "properties value of 'deep' is not Legal" } },
          `${n} as a key`,
        );
        const objValue = await oracle(set, `{"metaData":{${q}:{"polluted":"x"}}}`, `${n} with an object value`);
        assert.deepEqual(
          sortedEntries(objValue.body.data.errorKeys),
          [[n, `properties value of '${n}' is not Legal`]],
          `${n} object value`,
        );
        const got = await oracle(get, `{"keys":[${q},"toString","hasOwnProperty"]}`, `get ${n}`);
        assert.deepEqual(Object.keys(got.body.data), [n], `get ${n}`);
        const hidden = await oracle(get, `{${q}:{"keys":["k1"]}}`, `get with keys under ${n}`);
        assert.equal(Object.keys(hidden.body.data).length, main.attrs.size, `keys under ${n} are not keys: every attribute`);
        assertError(
          await oracle(del, `{${q}:{"keys":["k1"]}}`, `delete with keys under ${n}`),
          400,
          'illegal_argument',
          'body.keys is required',
        );
        // Every other body, moved under the name, is missing its fields.
        for (const route of routes.filter((x) => x.kind === 'other')) {
          const valid = route.valid as Json[] | Record<string, Json>;
          const body = Array.isArray(valid) ? `[{${q}:${JSON.stringify(valid[0])}}]` : `{${q}:${JSON.stringify(valid)}}`;
          assertError(await oracle(route, body, `body under ${n}`), 400, 'illegal_argument', undefined, `${route.name} under ${n}`);
        }
      }
      const fdel = await oracle(at(routes, 4), JSON.stringify({ keys: NAMES }), 'forced delete of the three');
      assert.deepEqual(fdel.body.data, { successKeys: NAMES, errorKeys: {} });
      // Grant names are looked up as data, never as inherited members of an object.
      for (const g of [...NAMES, 'toString', 'hasOwnProperty', 'valueOf']) {
        assertError(
          await oracle(at(routes, 9), JSON.stringify({ grant_type: g }), `grant ${g}`),
          400,
          'unsupported_grant_type',
          `grant_type ${g} is not supported`,
        );
      }
      // In the path: an unknown app, room or user, named as such.
      for (const n of NAMES) {
        const app = await send(
          'PUT',
          `/${n}/${n}/metadata/chatroom/${main.id}/user/alice`,
          { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          '{"metaData":{"x":"1"}}',
        );
        assertError(
          app,
          404,
          'organization_application_not_found',
          `Could not find application for ${n}/${n} from URI: ${n}/${n}/metadata/chatroom/${main.id}/user/alice`,
        );
        const byId = await send('GET', `/app-id/${n}/users/alice`, { authorization: `Bearer ${token}` });
        assertError(
          byId,
          404,
          'organization_application_not_found',
          `Could not find application for app-id/${n} from URI: app-id/${n}/users/alice`,
        );
        assertError(
          await oracle(set, '{"metaData":{"x":"1"}}', `room ${n}`, { path: `/metadata/chatroom/${n}/user/alice` }),
          404,
          'resource_not_found',
          `grpID ${n} does not exist!`,
        );
        assertError(
          await oracle(set, '{"metaData":{"x":"1"}}', `user ${n}`, { path: `/metadata/chatroom/${main.id}/user/${n}` }),
          401,
          'unauthorized',
          'user is not in chatroom',
        );
      }
      // As usernames they are legal: users, a room, members and attributes under those names work.
      const reg = await rawCall('POST', '/users', JSON.stringify(NAMES.map((username) => ({ username, password: PASSWORD }))));
      assert.equal(reg.status, 200, reg.text);
      assert.deepEqual(
        reg.body.entities.map((e: { username: string }) => e.username),
        NAMES,
      );
      for (const n of NAMES) {
        const u = await rawCall('GET', `/users/${n}`, undefined);
        assert.equal(u.status, 200, u.text);
        assert.equal(u.body.entities[0].username, n);
      }
      const created = await rawCall(
        'POST',
        '/chatrooms',
        JSON.stringify({ name: 'p', description: 'd', owner: '__proto__', members: ['constructor'] }),
      );
      assert.equal(created.status, 200, created.text);
      proto = { id: created.body.data.id, attrs: new Map(), members: '' };
      const added = await rawCall('POST', `/chatrooms/${proto.id}/users`, JSON.stringify({ usernames: ['prototype'] }));
      assert.deepEqual(added.body.data?.newmembers, ['prototype'], added.text);
      proto.members = await membersOf(proto.id);
      assert.deepEqual(
        JSON.parse(proto.members),
        NAMES.map((n) => JSON.stringify(n === '__proto__' ? { owner: n } : { member: n })).sort(),
      );
      const setAs = (who: string): RouteDef => ({
        name: `set as ${who}`,
        method: 'PUT',
        path: `/metadata/chatroom/${proto.id}/user/${who}`,
        kind: 'set',
        room: proto,
        valid: null,
      });
      const mine = await oracle(
        setAs('__proto__'),
        '{"metaData":{"__proto__":"mine","prototype":"p"},"autoDelete":"NO_DELETE"}',
        'set as user __proto__',
      );
      assert.deepEqual(mine.body.data, { successKeys: ['__proto__', 'prototype'], errorKeys: {} });
      const theirs = await oracle(setAs('constructor'), '{"metaData":{"__proto__":"theirs"}}', 'constructor sets a key of __proto__');
      assert.deepEqual(sortedEntries(theirs.body.data.errorKeys), [['__proto__', "key '__proto__' is not part of you"]]);
      const leaving = await oracle(
        setAs('prototype'),
        '{"metaData":{"constructor":"byproto"},"autoDelete":"DELETE"}',
        'set as user prototype',
      );
      assert.deepEqual(leaving.body.data, { successKeys: ['constructor'], errorKeys: {} });
      // Leaving removes the leaver's autoDelete attributes and nobody else's.
      const left = await rawCall('DELETE', `/chatrooms/${proto.id}/users/prototype`, undefined);
      assert.equal(left.status, 200, left.text);
      proto.members = await membersOf(proto.id);
      proto.attrs.delete('constructor');
      await verifyRoom(proto, 'prototype left');
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore, 'Object.prototype gained properties');
      for (const k of ['polluted', 'metaData', 'keys', 'autoDelete', 'x', 'grant_type'])
        assert.equal(({} as Record<string, unknown>)[k], undefined, `({}).${k}`);
    });

    it('property: bodies with __proto__, constructor and prototype at random levels are answered exactly', async () => {
      const route: RouteDef = {
        name: 'set (proto property)',
        method: 'PUT',
        path: `/metadata/chatroom/${uni.id}/user/alice`,
        kind: 'set',
        room: uni,
        valid: null,
      };
      type Node = string | Array<[string, Node]>;
      const keyArb = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'a', 'b.c', 'd-1');
      const { node } = fc.letrec<{ node: Node }>((tie) => ({
        node: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          fc.constantFrom('v', '', 'x'),
          fc.array(fc.tuple(keyArb, tie('node')), { maxLength: 4 }),
        ),
      }));
      const ser = (n: Node): string =>
        typeof n === 'string' ? JSON.stringify(n) : `{${n.map(([k, v]) => `${JSON.stringify(k)}:${ser(v)}`).join(',')}}`;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(keyArb, node), { minLength: 1, maxLength: 8 }),
          fc.array(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), node), { maxLength: 2 }),
          async (pairs, top) => {
            const text = `{${top.map(([k, v]) => `${JSON.stringify(k)}:${ser(v)},`).join('')}"metaData":${ser(pairs)}}`;
            const parsed = JSON.parse(text).metaData as Record<string, unknown>;
            const res = await oracle(route, text, text);
            assert.equal(res.status, 200, label(text, res));
            const expected = expectedOutcome(parsed);
            assert.deepEqual(sortedEntries(res.body.data.errorKeys), expected.errorKeys, text);
            assert.deepEqual([...res.body.data.successKeys].sort(), expected.successKeys, text);
          },
        ),
        { numRuns: RUNS, seed: seedOf(4) },
      );
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore, 'Object.prototype gained properties');
      await verifyRoom(uni, 'the proto property');
    });

    it('property: unicode and control characters in keys and values are stored exactly or refused per key', async () => {
      const route: RouteDef = {
        name: 'set (unicode)',
        method: 'PUT',
        path: `/metadata/chatroom/${uni.id}/user/alice`,
        kind: 'set',
        room: uni,
        valid: null,
      };
      const delRoute: RouteDef = {
        name: 'delete (unicode)',
        method: 'DELETE',
        path: `/metadata/chatroom/${uni.id}/user/alice`,
        kind: 'delete',
        room: uni,
        valid: null,
      };
      const text = (max: number) => fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: max });
      const key = fc.oneof(
        text(8),
        fc.string({ unit: fc.constantFrom(...SPECIALS, ...LONE), minLength: 1, maxLength: 6 }),
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(key, text(12)), { minLength: 1, maxLength: 10 }), fc.boolean(), async (pairs, alsoDelete) => {
          // Written out by hand: JSON.stringify escapes lone surrogates (\udXXX) and keeps the rest raw.
          const body = `{"metaData":{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}}`;
          const parsed = JSON.parse(body).metaData as Record<string, string>;
          const res = await oracle(route, body, body);
          assert.equal(res.status, 200, label(body, res));
          const expected = expectedOutcome(parsed);
          assert.deepEqual(sortedEntries(res.body.data.errorKeys), expected.errorKeys, body);
          assert.deepEqual([...res.body.data.successKeys].sort(), expected.successKeys, body);
          if (alsoDelete) {
            const keys = Object.keys(parsed);
            const missing = keys
              .filter((k) => !uni.attrs.has(k))
              .map((k): [string, string] => [k, `key '${k}' does not exist`])
              .sort(byKey);
            const del = await oracle(delRoute, JSON.stringify({ keys }), `delete ${JSON.stringify(keys)}`);
            assert.equal(del.status, 200, label('delete', del));
            assert.deepEqual(sortedEntries(del.body.data.errorKeys), missing, `delete ${JSON.stringify(keys)}`);
          }
        }),
        { numRuns: RUNS, seed: seedOf(5) },
      );
    });

    it('lone surrogates (\\ud800 escapes) in values are stored exactly as reported, or refused per key', async () => {
      // A room of its own: a mismatch found here must not spill into the other tests' models.
      const id = await fx.createRoom('alice', []);
      const room: RoomModel = { id, attrs: new Map(), members: await membersOf(id) };
      const route: RouteDef = {
        name: 'set (lone surrogates)',
        method: 'PUT',
        path: `/metadata/chatroom/${id}/user/alice`,
        kind: 'set',
        room,
        valid: null,
      };
      for (const lone of ['\\ud800', '\\udfff', 'x\\udbffy', '\\udc00\\ud800']) {
        const res = await oracle(route, `{"metaData":{"lone":"${lone}"}}`, `value "${lone}"`);
        assert.equal(res.status, 200, label(lone, res));
        const { successKeys, errorKeys } = res.body.data;
        if (successKeys.length === 0) assert.deepEqual(errorKeys, { lone: "properties value of 'lone' is not Legal" }, lone);
        // Otherwise the oracle has just read back exactly the value sent.
      }
    });

    it('property: unicode room ids and usernames in the path (percent-encoded) are unknown rooms and non-members', async () => {
      const set = at(routes, 0);
      const memberNames = ['alice', 'bob'];
      const segment = fc.string({ unit: fc.constantFrom(...SPECIALS, '1', '2', '.', '..'), minLength: 1, maxLength: 16 });
      const calls = [
        { method: 'PUT', tail: '/user/alice', body: '{"metaData":{"k1":"path"}}', kind: 'set' as Kind },
        { method: 'PUT', tail: '/user/alice/forced', body: '{"metaData":{"k1":"path"}}', kind: 'set' as Kind },
        { method: 'POST', tail: '', body: '{"keys":["k1"]}', kind: 'get' as Kind },
        { method: 'DELETE', tail: '/user/alice', body: '{"keys":["k1"]}', kind: 'delete' as Kind },
        { method: 'DELETE', tail: '/user/admin/forced', body: '{"keys":["k1"]}', kind: 'delete' as Kind },
      ];
      await fc.assert(
        fc.asyncProperty(segment, fc.nat(), fc.boolean(), async (s, c, asRoom) => {
          const chosen = calls[c % calls.length]!;
          if (asRoom) {
            if (s === main.id || s === uni.id || s === proto?.id) return;
            const route: RouteDef = {
              ...set,
              name: `${chosen.method} room ${JSON.stringify(s)}`,
              method: chosen.method,
              kind: chosen.kind,
            };
            const res = await oracle(route, chosen.body, 'unknown room', { path: `/metadata/chatroom/${encodeSegment(s)}${chosen.tail}` });
            assertError(res, 404, 'resource_not_found', `grpID ${s} does not exist!`, `room ${JSON.stringify(s)}`);
          } else {
            if (memberNames.includes(s.toLowerCase()) || chosen.kind === 'get' || chosen.tail.includes('admin')) return;
            const tail = chosen.tail.replace('alice', encodeSegment(s));
            const route: RouteDef = {
              ...set,
              name: `${chosen.method} user ${JSON.stringify(s)}`,
              method: chosen.method,
              kind: chosen.kind,
            };
            const res = await oracle(route, chosen.body, 'non-member', { path: `/metadata/chatroom/${main.id}${tail}` });
            assertError(res, 401, 'unauthorized', 'user is not in chatroom', `user ${JSON.stringify(s)}`);
          }
        }),
        { numRuns: RUNS, seed: seedOf(6) },
      );
    });

    it('encoded slashes and dots, dot segments and invalid percent-encoding in ids never reach another room', async () => {
      const set = at(routes, 0);
      const body = '{"metaData":{"k1":"traversal"}}';
      const exact: Array<[string, number, string, string]> = [
        [`/metadata/chatroom/%2e%2e/user/alice`, 404, 'resource_not_found', 'grpID .. does not exist!'],
        [`/metadata/chatroom/%2E%2E%2F${main.id}/user/alice`, 404, 'resource_not_found', `grpID ../${main.id} does not exist!`],
        [`/metadata/chatroom/..%2F${main.id}/user/alice`, 404, 'resource_not_found', `grpID ../${main.id} does not exist!`],
        [`/metadata/chatroom/..%5C${main.id}/user/alice`, 404, 'resource_not_found', `grpID ..\\${main.id} does not exist!`],
        [`/metadata/chatroom/${main.id}%2F/user/alice`, 404, 'resource_not_found', `grpID ${main.id}/ does not exist!`],
        [`/metadata/chatroom/%00/user/alice`, 404, 'resource_not_found', 'grpID \u0000 does not exist!'],
        [`/metadata/chatroom/${main.id}/user/..%2Falice`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${main.id}/user/%2e%2e`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${main.id}/user/alice%00`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${main.id}/user/bob%2F..%2Falice`, 401, 'unauthorized', 'user is not in chatroom'],
      ];
      for (const [path, status, error, description] of exact) {
        assertError(await oracle(set, body, path, { path }), status, error, description, path);
      }
      // Literal dot segments and slashes: taken literally, they name no route here.
      const refused = [
        `/metadata/chatroom/x/../${main.id}/user/alice`,
        `/metadata/chatroom/../chatroom/${main.id}/user/alice`,
        `/metadata/./chatroom/${main.id}/user/alice`,
        `/metadata/chatroom/${main.id}/user/bob/../alice`,
        `/metadata/chatroom/${main.id}%2Fuser%2Falice`,
        `/metadata/chatroom/${main.id}/user/alice/..`,
      ];
      for (const path of refused) {
        const res = await oracle(set, body, path, { path });
        assert.ok(res.status >= 400 && res.status < 500, label(path, res));
      }
      const otherApp = await send(
        'PUT',
        `/${fx.app.org}/x/../${fx.app.app}/metadata/chatroom/${main.id}/user/alice`,
        { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      );
      assertError(otherApp, 404, 'organization_application_not_found', undefined, 'dot segment in the app name');
      await verifyRoom(main, 'dot segments');
    });

    it('a path segment that is not valid percent-encoded UTF-8 is a 4xx in the Agora envelope', async () => {
      const set = at(routes, 0);
      const body = '{"metaData":{"k1":"traversal"}}';
      const invalid = [
        `/metadata/chatroom/${encodeSegment('\ud800')}/user/alice`,
        `/metadata/chatroom/${main.id}/user/${encodeSegment('al\udfffice')}`,
        `/metadata/chatroom/%C0%AE%C0%AE/user/alice`,
        `/metadata/chatroom/%/user/alice`,
        `/metadata/chatroom/%zz/user/alice`,
        `/metadata/chatroom/${main.id}/user/%FF`,
      ];
      for (const path of invalid) {
        const res = await oracle(set, body, path, { path });
        assert.ok(res.status === 400 || res.status === 404, label(path, res));
      }
    });

    it('duplicate JSON keys: the last one wins, as JSON.parse does, at every level', async () => {
      const [set, get, del] = [at(routes, 0), at(routes, 2), at(routes, 3)];
      const dup = await oracle(set, '{"metaData":{"dup":"first","dup":"second"}}', 'duplicate key');
      assert.deepEqual(dup.body.data, { successKeys: ['dup'], errorKeys: {} });
      assert.equal(main.attrs.get('dup'), 'second');
      const twice = await oracle(set, '{"metaData":{"m1":"a"},"metaData":{"m2":"b"}}', 'metaData twice');
      assert.deepEqual(twice.body.data, { successKeys: ['m2'], errorKeys: {} });
      assertError(
        await oracle(set, '{"metaData":{"m3":"a"},"autoDelete":"DELETE","autoDelete":"maybe"}', 'autoDelete twice'),
        400,
        'illegal_argument',
        "autoDelete must be DELETE or NO_DELETE, got 'maybe'",
      );
      const keys = await oracle(get, '{"keys":["nothing"],"keys":["dup"]}', 'keys twice');
      assert.deepEqual(keys.body.data, { dup: 'second' });
      const gone = await oracle(del, '{"keys":["m2"],"keys":["dup","dup"]}', 'delete keys twice');
      assert.deepEqual(gone.body.data, { successKeys: ['dup'], errorKeys: {} });
      assert.equal(main.attrs.has('m2'), true);
    });

    it('Content-Type: a charset, odd casing and whitespace are accepted and still validated; anything else is 415', async () => {
      const set = at(routes, 0);
      const accepted = [
        'Application/JSON; charset=UTF-8',
        'APPLICATION/JSON',
        'application/json;charset=utf-8',
        'application/json ; charset=UTF-8',
        'application/json;',
      ];
      for (const ct of accepted) {
        const ok = await oracle(set, `{"metaData":{"ct":"${ct}"}}`, ct, { headers: { 'content-type': ct } });
        assert.deepEqual(ok.body.data, { successKeys: ['ct'], errorKeys: {} }, label(ct, ok));
        // The media type is not a way around the body schema.
        assertError(
          await oracle(set, '{"metaData":5}', `${ct} + wrong type`, { headers: { 'content-type': ct } }),
          400,
          'illegal_argument',
          'body.metaData must be object',
        );
        assertError(await oracle(set, '{"metaData":', `${ct} + truncated`, { headers: { 'content-type': ct } }), 400, 'json_parse');
      }
      const refused = [
        'text/plain',
        'text/json',
        'application/x-www-form-urlencoded',
        'application/jsonp',
        'application/json-patch+json',
        'multipart/form-data; boundary=x',
        'application/xml',
        'json',
        '*/*',
        'application/json, text/plain',
        '',
      ];
      for (const ct of refused) {
        assertError(
          await oracle(set, '{"metaData":{"k1":"ct"}}', `Content-Type ${JSON.stringify(ct)}`, { headers: { 'content-type': ct } }),
          415,
          'web_application',
          'Unsupported Media Type',
          ct,
        );
      }
      const missing = await send(set.method, `${prefix}${set.path}`, { authorization: `Bearer ${token}` }, '{"metaData":{"k1":"ct"}}');
      assertError(missing, 415, 'web_application', 'Unsupported Media Type', 'no Content-Type');
      await verifyRoom(main, 'no Content-Type');
    });

    it('doubled Authorization or Content-Type headers never let a later header override the first', async () => {
      const set = at(routes, 0);
      const body = '{"metaData":{"k1":"doubled"}}';
      const alice = `Bearer ${userToken(fx.app, 'alice')}`;
      const bob = `Bearer ${userToken(fx.app, 'bob')}`;
      const app = `Bearer ${token}`;
      // The first header is not good enough: refused, whatever follows.
      for (const auth of [
        ['garbage', app],
        ['Basic x', app],
        [bob, alice],
        ['', app],
        [bob, app],
      ]) {
        const res = await oracle(set, body, `Authorization ${JSON.stringify(auth)}`, { headers: { Authorization: auth } });
        assert.ok(res.status >= 400 && res.status < 500, label(`Authorization ${JSON.stringify(auth)}`, res));
      }
      const refusedCt = await oracle(set, body, 'Content-Type text/plain then json', {
        headers: { 'Content-Type': ['text/plain', 'application/json'] },
      });
      assert.ok(refusedCt.status >= 400 && refusedCt.status < 500, label('Content-Type text/plain, application/json', refusedCt));
      // The first is good: answered as it says, or refused for the ambiguity (the oracle checks either).
      await oracle(set, body, 'Authorization app then garbage', { headers: { Authorization: [app, 'garbage'] } });
      await oracle(set, body, 'Authorization alice then bob', { headers: { Authorization: [alice, bob] } });
      await oracle(set, body, 'Content-Type json then text/plain', { headers: { 'Content-Type': ['application/json', 'text/plain'] } });
    });

    it('an empty Authorization header, or Bearer alone, is 401 expired and changes nothing', async () => {
      // The client_credentials and password grants take no token at all.
      const needToken = routes.filter((r) => !/client_credentials|password/.test(r.name));
      for (const [i, route] of needToken.entries()) {
        for (const auth of ['', 'Bearer', 'Bearer    ']) {
          const res = await oracle(route, JSON.stringify(route.valid), `Authorization ${JSON.stringify(auth)}`, {
            headers: { Authorization: auth },
          });
          assertError(
            res,
            401,
            'unauthorized',
            'Unable to authenticate due to expired access token',
            `${route.name} #${i} ${JSON.stringify(auth)}`,
          );
        }
      }
    });

    it('the server is still up and every room reads back as the answers said', async () => {
      await verifyRoom(main, 'everything');
      await verifyRoom(uni, 'everything');
      if (proto) await verifyRoom(proto, 'everything');
      await assertNoHostileUser('everything');
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore);
    });
  });
}
