// What the webhook tests (webhooks-*.test.ts) share: apps whose apps-file entry declares webhooks
// on a local receiver, the calls that cause events, GET /webhooks, the checks of what a receiver
// got, and a describe per store (SQLite and, where the Redis env is present, Redis and Redis Cluster).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe } from 'node:test';
import { appToken, makeApp, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client } from '../support/client.js';
import { redisEnv, startTarget, type ServerHandle, type Target } from '../support/server.js';
import { WebhookReceiver, type ReceivedRequest } from '../support/webhook-receiver.js';
import { waitFor as waitUntil } from '../support/wait.js';

export const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
/** How long a test waits for what a working server does within a second or two. */
export const WAIT_MS = 10_000;
export const FAST = { ROOMKV_WEBHOOK_BACKOFF_MS: '20', ROOMKV_WEBHOOK_BACKOFF_MAX_MS: '200' };

export interface Hook {
  path: string;
  events?: string[];
}

export interface AttemptRow {
  endpoint: string;
  roomId: string;
  seq: number;
  attempt: number;
  at: number;
  status: number | null;
  error: string | null;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'gave_up';
}
export interface EndpointRow {
  id: string;
  url: string;
  events: unknown;
  batch: { maxEvents: number; maxDelayMs: number } | null;
  pending: number;
}
export interface WebhooksData {
  endpoints: EndpointRow[];
  attempts: AttemptRow[];
}

/** An app whose apps-file entry declares `hooks` on `receiver`, with a rate limit out of the way. */
export function hookedApp(receiver: WebhookReceiver, hooks: Hook[]): TestApp {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const webhooks = hooks.map((h) => ({ url: receiver.url(h.path), secret: SECRET, ...(h.events ? { events: h.events } : {}) }));
  // The apps file takes extra fields; TestApp does not name this one.
  return Object.assign(app, { webhooks });
}

export function adminOf(url: string, app: TestApp): Client {
  return client(url, `/${app.org}/${app.app}`, appToken(app));
}

export async function ok(c: Client, method: string, path: string, body?: unknown): Promise<any> {
  const res = await c.call(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body;
}

export async function createUsers(admin: Client, ...names: string[]): Promise<void> {
  await ok(
    admin,
    'POST',
    '/users',
    names.map((username) => ({ username, password: 'pw-123456' })),
  );
}

export async function createRoom(admin: Client, owner: string, members: string[] = []): Promise<string> {
  return (await ok(admin, 'POST', '/chatrooms', { name: 'room', description: 'webhook test', owner, members })).data.id;
}

export async function setAttr(admin: Client, room: string, user: string, metaData: Record<string, string>): Promise<void> {
  const res = await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/${user}`, { metaData });
  assert.deepEqual(res.data, { successKeys: Object.keys(metaData), errorKeys: {} });
}

export async function webhooksOf(admin: Client): Promise<WebhooksData> {
  return (await ok(admin, 'GET', '/webhooks')).data;
}

/** Polls `check` until it holds; fails with `what` after the webhook tests' wait. */
export function waitFor<T>(what: string, check: () => Promise<T | false | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  return waitUntil(what, check, timeoutMs);
}

/**
 * Waits until every endpoint of the app reports nothing pending and at least `delivered`
 * attempts are recorded as delivered (a store may drop the outbox entry a moment before it
 * records the attempt); returns that state.
 */
export function drained(admin: Client, delivered: number): Promise<WebhooksData> {
  return waitFor(
    `every endpoint to report pending 0 and ${delivered} delivered attempts`,
    async () => {
      const data = await webhooksOf(admin);
      const done = data.attempts.filter((a) => a.outcome === 'delivered').length >= delivered;
      return data.endpoints.every((e) => e.pending === 0) && done ? data : false;
    },
    WAIT_MS,
  );
}

export function endpointId(data: WebhooksData, url: string): string {
  const ep = data.endpoints.find((e) => e.url === url);
  assert.ok(ep, `endpoint ${url} listed in ${JSON.stringify(data.endpoints)}`);
  return ep.id;
}

export const is2xx = (r: ReceivedRequest) => r.status >= 200 && r.status < 300;

/**
 * The deliveries of one room on one path, checked against the events the test caused
 * (`expected[i]` is the attributes of seq i + 1): every request signed and shaped, seq never going
 * back in arrival order, each event acknowledged by exactly one 2xx and that answer its last
 * request, attempts numbered on from 1 (or from later, for events in `attemptedBefore`, whose
 * first attempts were made while nothing listened).
 */
export function checkRoom(
  receiver: WebhookReceiver,
  path: string,
  room: string,
  expected: Array<Record<string, string>>,
  attemptedBefore = new Set<number>(),
): ReceivedRequest[] {
  const reqs = receiver.received(path).filter((r) => r.eventId.startsWith(`${room}:`));
  let lastSeq = 0;
  const bySeq = new Map<number, ReceivedRequest[]>();
  for (const r of reqs) {
    assert.equal(r.verified, true, `signature of ${r.eventId} attempt ${r.attempt}`);
    assert.equal(r.method, 'POST');
    const body = JSON.parse(r.body);
    assert.equal(r.eventId, `${room}:${body.seq}`);
    assert.equal(body.id, r.eventId);
    assert.equal(body.chatroomId, room);
    assert.ok(body.seq >= lastSeq, `room ${room}: seq ${body.seq} arrived after seq ${lastSeq}`);
    lastSeq = body.seq;
    bySeq.set(body.seq, [...(bySeq.get(body.seq) ?? []), r]);
  }
  const acked = reqs.filter(is2xx).map((r) => JSON.parse(r.body).seq);
  assert.deepEqual(
    acked,
    expected.map((_, i) => i + 1),
    `room ${room}: each event acknowledged once, in seq order`,
  );
  for (const [seq, tries] of bySeq) {
    assert.deepEqual(JSON.parse(at(tries, 0).body).attributes, expected[seq - 1], `attributes of ${room}:${seq}`);
    for (const t of tries) assert.equal(t.body, at(tries, 0).body, 'every attempt sends the same body');
    assert.ok(is2xx(at(tries, tries.length - 1)), `${room}:${seq}: the 2xx is the last request`);
    const first = at(tries, 0).attempt;
    if (attemptedBefore.has(seq)) assert.ok(first > 1, `${room}:${seq} was attempted before the crash, first attempt seen: ${first}`);
    else assert.equal(first, 1, `${room}:${seq}: first attempt`);
    assert.deepEqual(
      tries.map((t) => t.attempt),
      tries.map((_, i) => first + i),
      `${room}:${seq}: attempts count on`,
    );
  }
  return reqs;
}

/** For each event id, no two requests overlap in [arrival, answer sent]. */
export function assertNoConcurrentDuplicates(reqs: ReceivedRequest[]): void {
  const byId = new Map<string, ReceivedRequest[]>();
  for (const r of reqs) byId.set(r.eventId, [...(byId.get(r.eventId) ?? []), r]);
  for (const [id, list] of byId) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      assert.ok(
        prev.end <= cur.start,
        `${id}: attempt ${cur.attempt} started at ${cur.start.toFixed(2)} while attempt ${prev.attempt} was open until ${prev.end.toFixed(2)}`,
      );
    }
  }
}

// ---- the stores

export interface StoreKind {
  name: string;
  env: Record<string, string>;
}
export const stores: Array<StoreKind | { name: string; missing: string }> = [
  { name: 'sqlite', env: { ROOMKV_STORE: 'sqlite' } },
  ...(['redis', 'redis-cluster'] as const).map((kind) => {
    const found = redisEnv(kind);
    return 'missing' in found ? { name: kind, missing: found.missing } : { name: kind, env: found.env };
  }),
];

/** A list of clean-ups that run, newest first, after each test of the describe this is called in. */
export function cleanupAfterEach(): Array<() => Promise<unknown>> {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  return cleanups;
}

/** What a `webhooks [store]` describe gives its tests. */
export interface StoreSuite {
  store: StoreKind;
  /** Run, newest first, after each test. */
  cleanups: Array<() => Promise<unknown>>;
  /** A server on the store for `app`, closed after the test. */
  serve(app: TestApp, env: Record<string, string>): Promise<ServerHandle>;
  /** A receiver that answers, closed after the test. */
  receiverUp(): Promise<WebhookReceiver>;
}

/** Registers `tests` in a describe `webhooks [store]` for every store; a store whose env is missing gets a skipped one. */
export function forEachStore(tests: (suite: StoreSuite) => void): void {
  for (const store of stores) {
    if ('missing' in store) {
      describe(`webhooks [${store.name}]`, { skip: store.missing }, () => {});
      continue;
    }
    const target: Target = { name: store.name, env: () => store.env };

    describe(`webhooks [${store.name}]`, () => {
      const cleanups = cleanupAfterEach();

      async function serve(app: TestApp, env: Record<string, string>): Promise<ServerHandle> {
        const server = await startTarget(target, [app], { env });
        cleanups.push(() => server.close());
        return server;
      }

      async function receiverUp(): Promise<WebhookReceiver> {
        const r = await WebhookReceiver.start(SECRET);
        cleanups.push(() => r.close());
        return r;
      }

      tests({ store, cleanups, serve, receiverUp });
    });
  }
}
