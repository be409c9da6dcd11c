import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { after, before } from 'node:test';
import { appToken } from '../../support/apps.js';
import type { Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { json, openStream, type OpenStreamOptions, type SseMessage, type SseStream } from '../../support/sse.js';

/**
 * What the change-event suites (events-*.ts) share: the exact shape of an event, a snapshot and a
 * refusal, rooms seeded for a test, streams closed after the suite, and a subscriber that stalls.
 */

type Reason = 'set' | 'forced_set' | 'delete' | 'forced_delete' | 'member_left' | 'user_deleted' | 'expired' | 'room_destroyed';

/** What a key was before an event (spec section 10's previous): null when it did not exist. */
export type PreviousValue = { value: string; owner: string } | null;

interface Expected {
  seq: number;
  room: string;
  reason: Reason;
  from: string;
  /** A map for updates; a key list (compared in any order) for removals. */
  attributes: Record<string, string> | string[];
  /** Date.now() before and after the call that caused it. */
  window?: [number, number];
  /** Each touched key as it was; when not given, only checked to name exactly the keys touched. */
  previous?: Record<string, PreviousValue>;
}

export const NO_LIMIT = { rateLimitPerSecond: 100_000 };
export const WAIT_MS = 15_000;

function appKey(fx: Fixture): string {
  return `${fx.app.org}#${fx.app.app}`;
}

export function eventsUrl(fx: Fixture, room: string, byAppId = false): string {
  const prefix = byAppId ? `/app-id/${fx.app.appId}` : `/${fx.app.org}/${fx.app.app}`;
  return `${fx.server.url}${prefix}/metadata/chatroom/${room}/events`;
}

/** A change event exactly as the issue describes it: every field, nothing more. */
export function assertEvent(fx: Fixture, m: SseMessage, want: Expected): void {
  const label = `event ${m.id}: ${m.data.slice(0, 400)}`;
  assert.equal(m.seq, String(want.seq), label);
  assert.equal(m.event, undefined, `a change is an unnamed event: ${label}`);
  const b = json(m);
  assert.equal(typeof b.timestamp, 'number', label);
  if (want.window) {
    assert.ok(
      b.timestamp >= want.window[0] - 5 && b.timestamp <= want.window[1] + 5,
      `timestamp ${b.timestamp} outside the call [${want.window[0]}, ${want.window[1]}]: ${label}`,
    );
  }
  const attributes = Array.isArray(b.attributes) ? [...b.attributes].sort() : b.attributes;
  const update = want.reason === 'set' || want.reason === 'forced_set';
  const touched = Array.isArray(b.attributes) ? b.attributes : Object.keys(b.attributes);
  assert.deepEqual(Object.keys(b.previous ?? {}).sort(), [...touched].sort(), `previous names the keys touched: ${label}`);
  assert.deepEqual(
    { ...b, attributes, previous: want.previous ?? b.previous },
    {
      id: `${want.room}:${want.seq}`,
      seq: want.seq,
      chatroomId: want.room,
      app: appKey(fx),
      timestamp: b.timestamp,
      operation: update ? 'updateChatRoomAttributes' : 'removeChatRoomAttributes',
      from: want.from,
      reason: want.reason,
      attributes: Array.isArray(want.attributes) ? [...want.attributes].sort() : want.attributes,
      previous: want.previous ?? b.previous,
    },
    label,
  );
}

export function assertSnapshot(fx: Fixture, m: SseMessage, room: string, seq: number, attributes: Record<string, string>): void {
  assert.equal(m.event, 'snapshot', m.data);
  assert.equal(m.seq, String(seq), m.data);
  assert.match(m.epoch ?? '', /^[0-9a-z]{1,16}$/, m.data);
  assert.deepEqual(json(m), { seq, epoch: m.epoch, chatroomId: room, app: appKey(fx), attributes });
}

/** The Agora error envelope as JSON, not a stream. */
export function assertErrorStream(s: SseStream, status: number, error: string, description: string): void {
  const label = `${s.status} ${s.text?.slice(0, 300)}`;
  assert.equal(s.status, status, label);
  assert.match(s.headers.get('content-type') ?? '', /^application\/json/, label);
  assert.equal(s.body?.error, error, label);
  assert.equal(s.body?.error_description, description, label);
  assert.equal(typeof s.body?.exception, 'string', label);
  assert.equal(typeof s.body?.timestamp, 'number', label);
  assert.equal(typeof s.body?.duration, 'number', label);
}

export function ok(res: Reply, successKeys: string[]): void {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual([...res.body.data.successKeys].sort(), [...successKeys].sort(), res.text);
}

/** Runs a call and reports the time window it ran in, to check the event's timestamp. */
export async function timed(fn: () => Promise<Reply>): Promise<{ res: Reply; window: [number, number] }> {
  const start = Date.now();
  const res = await fn();
  return { res, window: [start, Date.now()] };
}

/**
 * A room whose owner already set `seed` (NO_DELETE), so its seq is 1 when the test starts. Tests
 * about something else than a room's very first event start here.
 */
export async function seededRoom(fx: Fixture, owner: string, members: string[] = []): Promise<string> {
  const room = await fx.createRoom(owner, members);
  ok(
    await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${owner}`, { body: { metaData: { seed: 's' }, autoDelete: 'NO_DELETE' } }),
    ['seed'],
  );
  return room;
}
export const SEED = { seed: 's' };

/** A token whose base64 holds a '+', which a query string must carry as %2B. */
export function withPlus(mint: (ttl: number) => string): string {
  for (let ttl = 3600; ttl < 3800; ttl++) {
    const token = mint(ttl);
    if (token.includes('+')) return token;
  }
  throw new Error('no token with a + in 200 tries');
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Opens streams and closes them all after the suite, whatever the tests did. */
export function streams() {
  const open: SseStream[] = [];
  return {
    async open(url: string, opts: OpenStreamOptions = {}): Promise<SseStream> {
      const s = await openStream(url, opts);
      open.push(s);
      return s;
    },
    /** A stream that must be a 200 event stream; waits for and returns its snapshot. */
    async fresh(url: string, opts: OpenStreamOptions): Promise<{ s: SseStream; snapshot: SseMessage }> {
      const s = await this.open(url, opts);
      assert.equal(s.status, 200, s.text);
      const snapshot = await s.next(undefined, WAIT_MS);
      assert.equal(snapshot.event, 'snapshot', snapshot.data);
      return { s, snapshot };
    },
    async closeAll(): Promise<void> {
      for (const s of open) s.close();
      await Promise.all(open.map((s) => s.closed));
    },
  };
}

/**
 * Opens a subscriber that never reads (node:http, no 'data' listener: Node, then the kernel, then
 * the server buffer for it), has `owners` each make `calls` sets of 10 values of 4000 characters
 * (~40 KB events, so 160 calls are ~6.5 MB: more than the socket buffers of both ends hold on Linux
 * loopback, ~4 MB), and checks every write answered 200 promptly. Then it reads: what the buffers
 * held arrives and the stream ends before the last event, because the server dropped it. The room
 * is at `seq` before; returns the last seq written.
 */
export async function stallOneSubscriber(fx: Fixture, room: string, seq: number, owners: string[], calls: number): Promise<number> {
  const req = get(eventsUrl(fx, room), { headers: { Authorization: `Bearer ${appToken(fx.app)}`, Accept: 'text/event-stream' } });
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  assert.equal(res.statusCode, 200);
  const ended = new Promise<string>((resolve) => {
    res.once('end', () => resolve('end'));
    res.once('close', () => resolve('close'));
    res.once('error', (e) => resolve(`error ${e.message}`));
  });
  req.on('error', () => {
    /* seen through res */
  });
  try {
    const durations: number[] = [];
    await Promise.all(
      owners.map(async (u) => {
        for (let i = 0; i < calls; i++) {
          const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`${u}${k}`, `${i}`.padEnd(4000, 'abcdefghij'[k])]));
          const started = Date.now();
          const r = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData } });
          durations.push(Date.now() - started);
          assert.equal(r.status, 200, `${u} call ${i}: ${r.text.slice(0, 200)}`);
          assert.equal(r.body.data.successKeys.length, 10);
        }
      }),
    );
    const slowest = Math.max(...durations);
    assert.ok(slowest < 3000, `a write took ${slowest} ms: the stalled subscriber held the writers`);

    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
    });
    const how = await within(ended, 20_000, 'the server to disconnect the stalled subscriber');
    const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
    const ids = [...complete.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1, 'what arrived has no gaps');
    const last = seq + owners.length * calls;
    const lastSeen = ids.length > 0 ? ids[ids.length - 1]! : 0;
    assert.ok(lastSeen < last, `the stalled stream ended (${how}) early: last id ${lastSeen} of ${last}`);
    return last;
  } finally {
    req.destroy();
  }
}

/**
 * A server whose streams send a heartbeat every 200 ms, with the users the change-event tests act
 * as, and the streams they open (closed after the suite). Called inside a describe: it registers
 * the hooks that start the server and close it.
 */
export function eventsFixture(target: Target) {
  let fx: Fixture;
  /** What the before hook set up, for the tests to read. */
  const setUp = {} as { fx: Fixture };
  const sse = streams();
  const path = (room: string, user: string, forced = false) => `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`;
  const writers = Array.from({ length: 20 }, (_, i) => `w${i}`);

  before(async () => {
    fx = await startFixture(target, NO_LIMIT, { env: { ROOMKV_SSE_HEARTBEAT_MS: '200' } });
    await fx.createUsers('alice', 'bob', 'carol', 'dave', 'frank', 'gina', 'erin', 'outsider', ...writers);
    setUp.fx = fx;
  });
  after(async () => {
    await sse.closeAll();
    await fx.close();
  });

  return Object.assign(setUp, {
    sse,
    path,
    writers,
  });
}
