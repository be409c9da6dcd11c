// Deeply nested JSON is refused before it is parsed: JSON.parse of `[[[...]]]` 500k levels deep costs
// tens of times what a flat body of the same size costs, and a few such requests stalled every app.
// Every body-reading route kind is checked over real HTTP, on each store.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { appToken, userToken } from '../support/apps.js';
import { startFixture, type Fixture } from '../support/fixture.js';
import { redisTarget, sqliteTarget, type Target } from '../support/server.js';

const MAX_DEPTH = 32;
/** Near the default 1 MiB body limit, as the attack sent. */
const BIG = 1_000_000;
/** Requests of each shape per route in the cost comparison. */
const ROUNDS = 6;
/** Slack for bodies refused in a few ms (a recursive parse of 500k levels would cost far more). */
const SLACK_MS = 10;

/** `{"<field>":[[...]]}` with `levels` arrays inside the object, padded with spaces to `size` bytes when given. */
function deepBody(field: string, levels: number, size?: number): string {
  const text = `{${JSON.stringify(field)}:${'['.repeat(levels)}${']'.repeat(levels)}}`;
  return size === undefined ? text : text + ' '.repeat(Math.max(0, size - text.length));
}

/** A body of exactly `size` bytes that nests two levels: `{"<field>":"aaa..."}`. */
function flatBody(field: string, size: number): string {
  const head = `{${JSON.stringify(field)}:"`;
  return `${head}${'a'.repeat(size - head.length - 2)}"}`;
}

async function send(url: string, body: string, token?: string): Promise<{ status: number; json: any; ms: number }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const t0 = performance.now();
  const res = await fetch(url, { method: url.includes('/user/') ? 'PUT' : 'POST', headers, body });
  const text = await res.text();
  const ms = performance.now() - t0;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, ms };
}

function assertRefused(r: { status: number; json: any }, what: string): void {
  assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json).slice(0, 300)}`);
  assert.equal(r.json.error, 'json_parse', what);
  assert.equal(r.json.exception, 'JsonParseException', what);
  assert.equal(r.json.error_description, `JSON nesting deeper than ${MAX_DEPTH} levels`, what);
  assert.equal(typeof r.json.timestamp, 'number', what);
  assert.equal(typeof r.json.duration, 'number', what);
}

function deepJsonSuite(target: Target): void {
  describe(`deeply nested JSON bodies [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    /** Each body-reading route kind: its URL, token and the top-level field a real body would have. */
    let routes: Array<{ name: string; url: string; token?: string; field: string }>;
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob');
      room = await fx.createRoom('alice', ['bob']);
      const base = `${fx.server.url}/${fx.app.org}/${fx.app.app}`;
      routes = [
        { name: 'token route (no token needed)', url: `${base}/token`, field: 'grant_type' },
        {
          name: 'attribute set',
          url: `${base}/metadata/chatroom/${room}/user/alice`,
          token: userToken(fx.app, 'alice'),
          field: 'metaData',
        },
        { name: 'users', url: `${base}/users`, token: appToken(fx.app), field: 'username' },
      ];
    });
    after(() => fx?.close());

    /** What a deep body must not change: the room's attributes and members, the users. */
    async function state(): Promise<string> {
      const attrs = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} });
      const members = await fx.admin.call('GET', `/chatrooms/${room}/users`);
      const users = await Promise.all(['alice', 'bob'].map((u) => fx.admin.call('GET', `/users/${u}`)));
      return JSON.stringify([attrs.body.data, members.body.data, users.map((u) => u.body.entities)]);
    }

    it(`answers a body ${MAX_DEPTH + 1} levels deep with 400 json_parse on every route kind, and one ${MAX_DEPTH} deep as before`, async () => {
      const before = await state();
      for (const r of routes) {
        // The field's object is level 1: levels - 1 arrays inside it make `levels` in all.
        assertRefused(await send(r.url, deepBody(r.field, MAX_DEPTH), r.token), `${r.name}, ${MAX_DEPTH + 1} levels`);
        const allowed = await send(r.url, deepBody(r.field, MAX_DEPTH - 1), r.token);
        assert.notEqual(allowed.json.error_description, `JSON nesting deeper than ${MAX_DEPTH} levels`, `${r.name}, ${MAX_DEPTH} levels`);
        // Brackets inside strings, escaped quotes included, are not nesting.
        const inString = `{${JSON.stringify(r.field)}:${JSON.stringify(`\\"${'['.repeat(200)}`)}}`;
        const s = await send(r.url, inString, r.token);
        assert.notEqual(s.json.error, 'json_parse', `${r.name}, brackets in a string: ${JSON.stringify(s.json)}`);
      }
      assert.equal(await state(), before);
    });

    it('refuses a 1 MB body 500k levels deep at no more than a small factor of a flat body of the same size, changing nothing', async (t) => {
      const before = await state();
      const problems: string[] = [];
      for (const r of routes) {
        const deep = deepBody(r.field, (BIG - 20) / 2, BIG);
        const flat = flatBody(r.field, BIG);
        assert.equal(deep.length, flat.length);
        // Interleaved, so that both shapes see the same machine load; each shape's fastest round is
        // compared (a busy machine slows single rounds of either, not the fastest of several), with
        // a few ms of slack for bodies that take only a few ms: what this guards against (a parse
        // or check that recurses over 500k levels) costs far more, or crashes.
        const deepMs: number[] = [];
        const flatMs: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const d = await send(r.url, deep, r.token);
          const f = await send(r.url, flat, r.token);
          deepMs.push(d.ms);
          flatMs.push(f.ms);
          // A route with a smaller body limit of its own refuses both before parsing: that is fine too.
          const wrong =
            f.status === 413
              ? d.status !== 413 && `the flat body got 413, the deep one ${d.status}`
              : (d.status !== 400 || d.json?.error_description !== `JSON nesting deeper than ${MAX_DEPTH} levels`) &&
                `a 1 MB deep body got ${d.status} ${JSON.stringify(d.json).slice(0, 200)}`;
          if (wrong && !problems.some((p) => p.startsWith(`${r.name}: `))) problems.push(`${r.name}: ${wrong}`);
          assert.notEqual(f.status, 200, `${r.name}: the flat body is not a valid call either`);
        }
        const fastest = { deep: Math.min(...deepMs), flat: Math.min(...flatMs) };
        const figures = `fastest of ${ROUNDS}: a deep body ${fastest.deep.toFixed(1)} ms, a flat one ${fastest.flat.toFixed(1)} ms`;
        t.diagnostic(`${r.name}: ${figures}`);
        if (fastest.deep > 3 * fastest.flat + SLACK_MS) problems.push(`${r.name}: ${figures}`);
      }
      assert.deepEqual(problems, []);
      assert.equal(await state(), before);
    });
  });
}

deepJsonSuite(sqliteTarget);
for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) describe(`deeply nested JSON bodies [${kind}]`, { skip: target.missing }, () => {});
  else deepJsonSuite(target);
}
