// Webhooks end to end: roomkv POSTs each change event to a real local HTTP receiver, signed, in
// seq order per room, retried with backoff, given up after the retry window, never lost across a
// kill -9, and never sent twice at once by two instances sharing a Redis. Every scenario runs on
// SQLite and, where the Redis env is present, on Redis and Redis Cluster.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { verifyWebhook } from '../../src/events/signature.js';
import { appToken, makeApp, tempDir, writeAppsFile, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client } from '../support/client.js';
import { redisEnv, spawnServer, startTarget, type ChildServer, type ServerHandle, type Target } from '../support/server.js';
import { WebhookReceiver, type ReceivedRequest } from '../support/webhook-receiver.js';
import { waitFor as waitUntil } from '../support/wait.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
/** How long a test waits for what a working server does within a second or two. */
const WAIT_MS = 10_000;
const FAST = { ROOMKV_WEBHOOK_BACKOFF_MS: '20', ROOMKV_WEBHOOK_BACKOFF_MAX_MS: '200' };

interface Hook {
  path: string;
  events?: string[];
}

interface AttemptRow {
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
interface EndpointRow {
  id: string;
  url: string;
  events: unknown;
  pending: number;
}
interface WebhooksData {
  endpoints: EndpointRow[];
  attempts: AttemptRow[];
}

/** An app whose apps-file entry declares `hooks` on `receiver`, with a rate limit out of the way. */
function hookedApp(receiver: WebhookReceiver, hooks: Hook[]): TestApp {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const webhooks = hooks.map((h) => ({ url: receiver.url(h.path), secret: SECRET, ...(h.events ? { events: h.events } : {}) }));
  // The apps file takes extra fields; TestApp does not name this one.
  return Object.assign(app, { webhooks });
}

function adminOf(url: string, app: TestApp): Client {
  return client(url, `/${app.org}/${app.app}`, appToken(app));
}

async function ok(c: Client, method: string, path: string, body?: unknown): Promise<any> {
  const res = await c.call(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body;
}

async function createUsers(admin: Client, ...names: string[]): Promise<void> {
  await ok(
    admin,
    'POST',
    '/users',
    names.map((username) => ({ username, password: 'pw-123456' })),
  );
}

async function createRoom(admin: Client, owner: string, members: string[] = []): Promise<string> {
  return (await ok(admin, 'POST', '/chatrooms', { name: 'room', description: 'webhook test', owner, members })).data.id;
}

async function setAttr(admin: Client, room: string, user: string, metaData: Record<string, string>): Promise<void> {
  const res = await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/${user}`, { metaData });
  assert.deepEqual(res.data, { successKeys: Object.keys(metaData), errorKeys: {} });
}

async function webhooksOf(admin: Client): Promise<WebhooksData> {
  return (await ok(admin, 'GET', '/webhooks')).data;
}

/** Polls `check` until it holds; fails with `what` after the webhook tests' wait. */
function waitFor<T>(what: string, check: () => Promise<T | false | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  return waitUntil(what, check, timeoutMs);
}

/**
 * Waits until every endpoint of the app reports nothing pending and at least `delivered`
 * attempts are recorded as delivered (a store may drop the outbox entry a moment before it
 * records the attempt); returns that state.
 */
function drained(admin: Client, delivered: number): Promise<WebhooksData> {
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

function endpointId(data: WebhooksData, url: string): string {
  const ep = data.endpoints.find((e) => e.url === url);
  assert.ok(ep, `endpoint ${url} listed in ${JSON.stringify(data.endpoints)}`);
  return ep.id;
}

const is2xx = (r: ReceivedRequest) => r.status >= 200 && r.status < 300;

/**
 * The deliveries of one room on one path, checked against the events the test caused
 * (`expected[i]` is the attributes of seq i + 1): every request signed and shaped, seq never going
 * back in arrival order, each event acknowledged by exactly one 2xx and that answer its last
 * request, attempts numbered on from 1 (or from later, for events in `attemptedBefore`, whose
 * first attempts were made while nothing listened).
 */
function checkRoom(
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
function assertNoConcurrentDuplicates(reqs: ReceivedRequest[]): void {
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

interface StoreKind {
  name: string;
  env: Record<string, string>;
}
const stores: Array<StoreKind | { name: string; missing: string }> = [
  { name: 'sqlite', env: { ROOMKV_STORE: 'sqlite' } },
  ...(['redis', 'redis-cluster'] as const).map((kind) => {
    const found = redisEnv(kind);
    return 'missing' in found ? { name: kind, missing: found.missing } : { name: kind, env: found.env };
  }),
];

for (const store of stores) {
  if ('missing' in store) {
    describe(`webhooks [${store.name}]`, { skip: store.missing }, () => {});
    continue;
  }
  const target: Target = { name: store.name, env: () => store.env };

  describe(`webhooks [${store.name}]`, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    });

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

    it(
      'POSTs each event once, signed, with its id in a header; each endpoint gets only the events it asked for',
      { timeout: 30_000 },
      async () => {
        const receiver = await receiverUp();
        const app = hookedApp(receiver, [
          { path: '/all' },
          { path: '/destroyed', events: ['room_destroyed'] },
          { path: '/removals', events: ['removeChatRoomAttributes'] },
        ]);
        const server = await serve(app, FAST);
        const admin = adminOf(server.url, app);
        await createUsers(admin, 'alice', 'bob');
        const room = await createRoom(admin, 'alice', ['bob']);

        const before = Date.now();
        await setAttr(admin, room, 'alice', { seat: 'a1', mic: 'on', title: 't', topic: 'x' });
        const forced = await ok(admin, 'PUT', `/metadata/chatroom/${room}/user/bob/forced`, { metaData: { seat: 'b1' } });
        assert.deepEqual(forced.data, { successKeys: ['seat'], errorKeys: {} });
        const del = await ok(admin, 'DELETE', `/metadata/chatroom/${room}/user/alice`, { keys: ['mic'] });
        assert.deepEqual(del.data, { successKeys: ['mic'], errorKeys: {} });
        await ok(admin, 'DELETE', `/chatrooms/${room}/users/bob`);
        await ok(admin, 'DELETE', `/chatrooms/${room}`);
        const afterCalls = Date.now();

        await Promise.all([
          receiver.waitForEvents(5, { path: '/all' }),
          receiver.waitForEvents(1, { path: '/destroyed' }),
          receiver.waitForEvents(3, { path: '/removals' }),
        ]);
        const state = await drained(admin, 9);

        const appKey = `${app.org}#${app.app}`;
        const expected = [
          {
            operation: 'updateChatRoomAttributes',
            from: 'alice',
            reason: 'set',
            attributes: { seat: 'a1', mic: 'on', title: 't', topic: 'x' },
          },
          { operation: 'updateChatRoomAttributes', from: 'bob', reason: 'forced_set', attributes: { seat: 'b1' } },
          { operation: 'removeChatRoomAttributes', from: 'alice', reason: 'delete', attributes: ['mic'] },
          { operation: 'removeChatRoomAttributes', from: 'bob', reason: 'member_left', attributes: ['seat'] },
          { operation: 'removeChatRoomAttributes', from: 'admin', reason: 'room_destroyed', attributes: ['title', 'topic'] },
        ];
        const check = (path: string, seqs: number[]) => {
          const got = receiver.received(path);
          assert.deepEqual(
            got.map((r) => r.eventId),
            seqs.map((s) => `${room}:${s}`),
            `${path}: one POST per event, in order`,
          );
          for (const r of got) {
            assert.equal(r.method, 'POST');
            assert.equal(r.status, 200);
            assert.match(String(r.headers['content-type']), /^application\/json/);
            assert.equal(r.headers['x-roomkv-attempt'], '1');
            const ts = String(r.headers['x-roomkv-timestamp']);
            assert.match(ts, /^\d+$/);
            assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, `x-roomkv-timestamp ${ts} is Unix seconds`);
            assert.match(String(r.headers['x-roomkv-signature']), /^v1=[0-9a-f]{64}$/);
            assert.equal(r.verified, true, `signature of ${r.eventId} on ${path}`);
            const body = JSON.parse(r.body);
            assert.equal(r.headers['x-roomkv-event-id'], body.id);
            assert.equal(typeof body.timestamp, 'number');
            assert.ok(body.timestamp >= before - 1000 && body.timestamp <= afterCalls + 1000, `event timestamp ${body.timestamp} in ms`);
            const e = expected[body.seq - 1];
            const attributes = Array.isArray(body.attributes) ? [...body.attributes].sort() : body.attributes;
            assert.deepEqual(
              { ...body, attributes },
              {
                id: `${room}:${body.seq}`,
                seq: body.seq,
                chatroomId: room,
                app: appKey,
                timestamp: body.timestamp,
                ...e,
              },
            );
          }
          return got;
        };
        const all = check('/all', [1, 2, 3, 4, 5]);
        check('/destroyed', [5]);
        check('/removals', [3, 4, 5]);

        // the verifier refuses what was not signed as sent (checked on the verifier, not on roomkv)
        const r = at(all, 0);
        const ts = String(r.headers['x-roomkv-timestamp']);
        const sig = String(r.headers['x-roomkv-signature']);
        assert.equal(verifyWebhook(SECRET, ts, r.body, sig), true);
        assert.equal(verifyWebhook(SECRET, ts, r.body.replace('"a1"', '"a2"'), sig), false, 'a tampered body');
        assert.equal(verifyWebhook(SECRET, ts, `${r.body} `, sig), false, 'a body with a byte added');
        assert.equal(verifyWebhook(SECRET, String(Number(ts) + 1), r.body, sig), false, 'another timestamp');
        assert.equal(verifyWebhook(`${SECRET}x`, ts, r.body, sig), false, 'another secret');

        // GET /webhooks: the three endpoints, nothing pending, one delivered attempt per request
        assert.equal(state.endpoints.length, 3);
        assert.equal(new Set(state.endpoints.map((e) => e.id)).size, 3, 'each endpoint has its own id');
        assert.deepEqual(state.endpoints.find((e) => e.url === receiver.url('/destroyed'))?.events, ['room_destroyed']);
        assert.deepEqual(state.endpoints.find((e) => e.url === receiver.url('/removals'))?.events, ['removeChatRoomAttributes']);
        assert.equal(state.attempts.length, 9);
        for (const [path, n] of [
          ['/all', 5],
          ['/destroyed', 1],
          ['/removals', 3],
        ] as const) {
          const id = endpointId(state, receiver.url(path));
          const mine = state.attempts.filter((a) => a.endpoint === id);
          assert.equal(mine.length, n, `${path}: attempts recorded`);
          for (const a of mine) {
            assert.equal(a.roomId, room);
            assert.equal(a.attempt, 1);
            assert.equal(a.status, 200);
            assert.equal(a.error, null);
            assert.equal(a.outcome, 'delivered');
            assert.equal(typeof a.at, 'number');
            assert.ok(a.durationMs >= 0);
          }
        }
      },
    );

    it('retries failed deliveries in seq order per room, each event acknowledged exactly once', { timeout: 30_000 }, async () => {
      const receiver = await receiverUp();
      receiver.failFirst(5);
      const app = hookedApp(receiver, [{ path: '/hook' }]);
      const server = await serve(app, FAST);
      const admin = adminOf(server.url, app);
      await createUsers(admin, 'alice');
      const rooms = [await createRoom(admin, 'alice'), await createRoom(admin, 'alice'), await createRoom(admin, 'alice')];
      const PER_ROOM = 7;
      const expected = Array.from({ length: PER_ROOM }, (_, i) => ({ n: String(i) }));
      await Promise.all(
        rooms.map(async (room) => {
          for (const attrs of expected) await setAttr(admin, room, 'alice', attrs);
        }),
      );

      await receiver.waitForEvents(rooms.length * PER_ROOM);
      for (const room of rooms) checkRoom(receiver, '/hook', room, expected);
      const all = receiver.received('/hook');
      const failed = all.filter((r) => r.status === 500);
      assert.equal(failed.length, 5, 'the first five requests were answered 500');
      assert.deepEqual(
        failed.map((r) => r.n),
        [1, 2, 3, 4, 5],
      );
      assert.ok(
        all.some((r) => r.attempt > 1),
        'a retried delivery says so in x-roomkv-attempt',
      );
      assert.equal(all.length, rooms.length * PER_ROOM + 5, 'no request beyond one per failure and one per event');

      const state = await drained(admin, rooms.length * PER_ROOM);
      assert.equal(state.endpoints.length, 1);
      assert.equal(at(state.endpoints, 0).url, receiver.url('/hook'));
      assert.equal(at(state.endpoints, 0).pending, 0);
      const id = at(state.endpoints, 0).id;
      const retries = state.attempts.filter((a) => a.outcome === 'retry');
      const delivered = state.attempts.filter((a) => a.outcome === 'delivered');
      assert.equal(retries.length, 5);
      assert.equal(delivered.length, rooms.length * PER_ROOM);
      assert.equal(state.attempts.length, rooms.length * PER_ROOM + 5, 'nothing else recorded');
      for (const a of retries) assert.deepEqual([a.status, a.error, a.endpoint], [500, 'HTTP 500', id]);
      for (const a of delivered) assert.deepEqual([a.status, a.error, a.endpoint], [200, null, id]);
      // per event, newest first: the delivered attempt, then its failed ones, numbered down to 1
      for (const room of rooms) {
        for (let seq = 1; seq <= PER_ROOM; seq++) {
          const mine = state.attempts.filter((a) => a.roomId === room && a.seq === seq);
          const sent = all.filter((r) => r.eventId === `${room}:${seq}`);
          assert.deepEqual(
            mine.map((a) => a.attempt),
            sent.map((_, i) => sent.length - i),
            `${room}:${seq}: attempts newest first`,
          );
          assert.deepEqual(
            mine.map((a) => a.outcome),
            sent.map((_, i) => (i === 0 ? 'delivered' : 'retry')),
          );
        }
      }
    });

    it('gives an event up after the retry window, records it, then delivers the next event of the room', { timeout: 30_000 }, async () => {
      const receiver = await receiverUp();
      receiver.failAll();
      const app = hookedApp(receiver, [{ path: '/hook' }]);
      const server = await serve(app, { ...FAST, ROOMKV_WEBHOOK_RETRY_MS: '300' });
      const admin = adminOf(server.url, app);
      await createUsers(admin, 'alice');
      const room = await createRoom(admin, 'alice');
      await setAttr(admin, room, 'alice', { n: '1' });

      const state = await waitFor('a gave_up attempt for seq 1', async () => {
        const data = await webhooksOf(admin);
        return data.attempts.some((a) => a.roomId === room && a.seq === 1 && a.outcome === 'gave_up') ? data : false;
      });
      const mine = state.attempts.filter((a) => a.roomId === room && a.seq === 1).reverse();
      assert.ok(mine.length >= 2, `retried before giving up: ${mine.length} attempts`);
      assert.deepEqual(
        mine.map((a) => a.attempt),
        mine.map((_, i) => i + 1),
      );
      assert.deepEqual(
        mine.map((a) => a.outcome),
        mine.map((_, i) => (i === mine.length - 1 ? 'gave_up' : 'retry')),
      );
      for (const a of mine) assert.deepEqual([a.status, a.error], [500, 'HTTP 500']);
      const first = at(mine, 0).at;
      for (const a of mine.slice(0, -1)) assert.ok(a.at + a.durationMs - first < 300, `attempt ${a.attempt} was still inside the window`);
      const last = at(mine, mine.length - 1);
      assert.ok(last.at + last.durationMs - first >= 300, 'given up only once the window was over');
      assert.equal(at(state.endpoints, 0).pending, 0, 'a given-up event leaves the outbox');
      const sent = receiver.received('/hook');
      assert.deepEqual(
        sent.map((r) => r.eventId),
        mine.map(() => `${room}:1`),
      );
      assert.deepEqual(
        sent.map((r) => r.attempt),
        mine.map((a) => a.attempt),
      );
      assert.ok(sent.every((r) => r.status === 500 && r.verified));

      receiver.succeedAll();
      await setAttr(admin, room, 'alice', { n: '2' });
      await receiver.waitForEvents(1);
      const next = receiver.received('/hook').slice(mine.length);
      assert.deepEqual(
        next.map((r) => [r.eventId, r.attempt, r.status]),
        [[`${room}:2`, 1, 200]],
        'seq 1 is not sent again; seq 2 once',
      );
      assert.deepEqual(JSON.parse(at(next, 0).body).attributes, { n: '2' });
      const end = await drained(admin, 1);
      const newest = at(end.attempts, 0);
      assert.deepEqual([newest.roomId, newest.seq, newest.attempt, newest.outcome, newest.status], [room, 2, 1, 'delivered', 200]);
    });

    it('loses no delivery when roomkv is killed -9 while the endpoint is down', { timeout: 45_000 }, async () => {
      const receiver = await WebhookReceiver.reserve(SECRET);
      cleanups.push(() => receiver.close());
      const app = hookedApp(receiver, [{ path: '/hook' }]);
      const dataDir = tempDir();
      const base = { ...store.env, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir) };
      // Before the crash, a failed attempt waits at least 1.5 s for its retry: the kill below is
      // timed between two attempts, so no Redis lease (60 s) is left behind by the dead process.
      const first = await spawnServer({ ...base, ROOMKV_WEBHOOK_BACKOFF_MS: '3000', ROOMKV_WEBHOOK_BACKOFF_MAX_MS: '3000' });
      cleanups.push(() => first.kill9());
      const admin1 = adminOf(first.url, app);
      await createUsers(admin1, 'alice');
      const rooms = [await createRoom(admin1, 'alice'), await createRoom(admin1, 'alice')];
      const expected = new Map(rooms.map((room, r) => [room, Array.from({ length: 10 }, (_, i) => ({ n: `${r}-${i}` }))]));
      await Promise.all(
        rooms.map(async (room) => {
          for (const attrs of expected.get(room)!) await setAttr(admin1, room, 'alice', attrs);
        }),
      );

      await waitFor(
        'a moment between two failed attempts of every room, to kill -9 in',
        async () => {
          const { attempts } = await webhooksOf(admin1);
          const latest = rooms.map((room) => attempts.find((a) => a.roomId === room));
          if (latest.some((a) => a === undefined)) return false;
          for (const a of latest) assert.deepEqual([a!.seq, a!.outcome, a!.status], [1, 'retry', null], 'nothing listens: no status');
          const quietUntil = Math.min(...latest.map((a) => a!.at + a!.durationMs + 1500));
          if (Date.now() + 300 >= quietUntil) return false;
          await first.kill9();
          return true;
        },
        20_000,
      );
      assert.equal(receiver.requests.length, 0);

      const second = await spawnServer({ ...base, ...FAST });
      cleanups.push(() => second.stop());
      await receiver.up();
      await receiver.waitForEvents(20);
      for (const room of rooms) checkRoom(receiver, '/hook', room, expected.get(room)!, new Set([1]));
      assert.equal(receiver.acknowledged('/hook').size, 20);

      const state = await drained(adminOf(second.url, app), 20);
      for (const room of rooms) {
        const delivered = state.attempts
          .filter((a) => a.roomId === room && a.outcome === 'delivered')
          .map((a) => a.seq)
          .sort((x, y) => x - y);
        assert.deepEqual(
          delivered,
          expected.get(room)!.map((_, i) => i + 1),
          `${room}: every event delivered once`,
        );
        assert.ok(
          state.attempts.some((a) => a.roomId === room && a.seq === 1 && a.outcome === 'retry' && a.status === null),
          `${room}: the attempts made before the crash are still listed`,
        );
      }
    });
  });
}

// ---- two instances on one Redis

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = stores.find((s) => s.name === kind)!;
  if ('missing' in found) {
    describe(`webhooks from two instances [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`webhooks from two instances on one ${kind}`, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    });

    it('never sends one event twice at once and keeps per-room order, with every 3rd request failing', { timeout: 45_000 }, async () => {
      const receiver = await WebhookReceiver.start(SECRET);
      cleanups.push(() => receiver.close());
      receiver.failWhen(({ n }) => n % 3 === 0);
      const app = hookedApp(receiver, [{ path: '/hook' }]);
      const common = { ...found.env, ...FAST, ROOMKV_APPS_FILE: writeAppsFile([app]), ROOMKV_DATA_DIR: tempDir() };
      const servers: ChildServer[] = await Promise.all([spawnServer(common), spawnServer(common)]);
      for (const s of servers) cleanups.push(() => s.stop());
      const [a, b] = servers.map((s) => adminOf(s.url, app));
      assert.ok(a && b);
      await createUsers(a, 'alice');
      const rooms = [await createRoom(a, 'alice'), await createRoom(b, 'alice'), await createRoom(a, 'alice')];
      const PER_ROOM = 8;
      const expected = Array.from({ length: PER_ROOM }, (_, i) => ({ n: String(i) }));
      await Promise.all(
        rooms.map(async (room) => {
          for (const [i, attrs] of expected.entries()) await setAttr(i % 2 === 0 ? a : b, room, 'alice', attrs);
        }),
      );

      await receiver.waitForEvents(rooms.length * PER_ROOM);
      const stateA = await drained(a, rooms.length * PER_ROOM);
      const stateB = await webhooksOf(b);
      assert.deepEqual(stateB.endpoints, stateA.endpoints, 'both instances see one outbox');

      const all = receiver.received('/hook');
      assert.ok(
        all.some((r) => r.status === 500),
        'some requests failed',
      );
      assertNoConcurrentDuplicates(all);
      for (const room of rooms) checkRoom(receiver, '/hook', room, expected);
      assert.equal(stateA.attempts.filter((x) => x.outcome === 'delivered').length, rooms.length * PER_ROOM);
      assert.equal(stateA.attempts.filter((x) => x.outcome === 'retry').length, all.filter((r) => r.status === 500).length);
    });
  });
}

// How a delivery's HTTP exchange ends does not depend on the store: these run on SQLite only.
describe('webhook requests', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  /** An endpoint that answers request n (from 1) with `answer(n, req, res)`; it records each event id and attempt. */
  async function endpoint(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
    const seen: Array<{ eventId: string; attempt: string; at: number }> = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({
          eventId: String(req.headers['x-roomkv-event-id']),
          attempt: String(req.headers['x-roomkv-attempt']),
          at: performance.now(),
        });
        answer(seen.length, req, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, seen };
  }

  async function serveWith(url: string, env: Record<string, string>) {
    const app = Object.assign(makeApp({ limits: { rateLimitPerSecond: 100_000 } }), { webhooks: [{ url, secret: SECRET }] });
    const server = await startTarget({ name: 'sqlite', env: () => ({ ROOMKV_STORE: 'sqlite' }) }, [app], { env: { ...FAST, ...env } });
    cleanups.push(() => server.close());
    const admin = adminOf(server.url, app);
    await createUsers(admin, 'alice');
    const room = await createRoom(admin, 'alice');
    await setAttr(admin, room, 'alice', { n: '1' });
    return { admin, room };
  }

  it('an endpoint that does not answer in time is cut off, recorded and retried', { timeout: 30_000 }, async () => {
    // The first request gets no answer at all; later ones are answered at once.
    const ep = await endpoint((n, _req, res) => {
      if (n > 1) res.writeHead(200).end('ok');
    });
    const { admin, room } = await serveWith(ep.url, { ROOMKV_WEBHOOK_TIMEOUT_MS: '300' });
    const state = await drained(admin, 1);
    const mine = state.attempts.filter((a) => a.roomId === room).reverse();
    assert.deepEqual(
      mine.map((a) => [a.seq, a.attempt, a.outcome, a.status, a.error]),
      [
        [1, 1, 'retry', null, 'no answer within 300 ms'],
        [1, 2, 'delivered', 200, null],
      ],
    );
    assert.ok(at(mine, 0).durationMs >= 290 && at(mine, 0).durationMs < 3000, `cut off after about 300 ms: ${at(mine, 0).durationMs}`);
    assert.deepEqual(
      ep.seen.map((s) => [s.eventId, s.attempt]),
      [
        [`${room}:1`, '1'],
        [`${room}:1`, '2'],
      ],
    );
  });

  it('a redirect is a failed attempt, not followed; an answer cut off midway is one too', { timeout: 30_000 }, async () => {
    let elsewhere = 0;
    const other = await endpoint((_n, _req, res) => {
      elsewhere++;
      res.writeHead(200).end('ok');
    });
    const ep = await endpoint((n, _req, res) => {
      if (n === 1) {
        res.writeHead(307, { location: other.url }).end();
      } else if (n === 2) {
        // A promised body that never comes whole: the connection drops after part of it.
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.destroy(), 50);
      } else {
        res.writeHead(204).end();
      }
    });
    const { admin, room } = await serveWith(ep.url, {});
    const state = await drained(admin, 1);
    const mine = state.attempts.filter((a) => a.roomId === room).reverse();
    // A status counts only with the whole answer: the cut-off one has none.
    assert.deepEqual(
      mine.map((a) => [a.attempt, a.outcome, a.status]),
      [
        [1, 'retry', 307],
        [2, 'retry', null],
        [3, 'delivered', 204],
      ],
    );
    assert.equal(at(mine, 0).error, 'HTTP 307');
    assert.ok(
      typeof at(mine, 1).error === 'string' && at(mine, 1).error !== '',
      `the cut-off answer is recorded as an error: ${at(mine, 1).error}`,
    );
    assert.equal(elsewhere, 0, 'the redirect was not followed');
    assert.deepEqual(
      ep.seen.map((s) => s.attempt),
      ['1', '2', '3'],
    );
  });
});
