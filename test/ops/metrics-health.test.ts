// /metrics (Prometheus, behind ROOMKV_METRICS_TOKEN), /healthz and /readyz, against real servers:
// SQLite in this process, and a Redis of the test's own that is paused (SIGSTOP) and resumed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { call, client, type Client } from '../support/client.js';
import { startTarget, sqliteTarget, type ServerHandle } from '../support/server.js';
import { openStream } from '../support/sse.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { ownRedisSkip, parseMetrics, select, startOwnRedis, value, waitFor, type Sample } from './support.js';

const METRICS_TOKEN = `mt-${randomBytes(16).toString('hex')}`;
const HOOK_SECRET = `whsec-${randomBytes(12).toString('hex')}`;

describe('health and metrics without ROOMKV_METRICS_TOKEN (SQLite)', () => {
  let server: ServerHandle;
  before(async () => {
    server = await startTarget(sqliteTarget, [makeApp()]);
  });
  after(() => server.close());

  it('/healthz answers 200 {status: ok}', async () => {
    const res = await call(server.url, 'GET', '/healthz');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.body.status, 'ok');
  });

  it('/readyz answers 200 when the SQLite store answers', async () => {
    const res = await call(server.url, 'GET', '/readyz');
    assert.equal(res.status, 200, res.text);
    assert.ok(['ok', 'ready'].includes(res.body.status), res.text);
  });

  it('/metrics is 404, with or without a token', async () => {
    const bare = await call(server.url, 'GET', '/metrics');
    assert.equal(bare.status, 404);
    const withToken = await call(server.url, 'GET', '/metrics', { token: METRICS_TOKEN });
    assert.equal(withToken.status, 404);
    assert.ok(!withToken.text.includes('roomkv_http_requests_total'));
  });
});

describe('metrics with ROOMKV_METRICS_TOKEN (SQLite)', () => {
  let receiver: WebhookReceiver;
  let server: ServerHandle;
  let main: TestApp;
  let limited: TestApp;
  let admin: Client;
  let room: string;

  async function scrape(): Promise<Sample[]> {
    const res = await call(server.url, 'GET', '/metrics', { token: METRICS_TOKEN, headers: { Accept: 'text/plain' } });
    assert.equal(res.status, 200, res.text);
    return parseMetrics(res.text);
  }

  before(async () => {
    receiver = await WebhookReceiver.start(HOOK_SECRET);
    main = Object.assign(makeApp({ limits: { rateLimitPerSecond: 100_000 } }), {
      webhooks: [{ url: receiver.url('/hook'), secret: HOOK_SECRET }],
    });
    limited = makeApp({ limits: { rateLimitPerSecond: 2 } });
    server = await startTarget(sqliteTarget, [main, limited], { env: { ROOMKV_METRICS_TOKEN: METRICS_TOKEN } });
    admin = client(server.url, `/${main.org}/${main.app}`, appToken(main));
    const users = await admin.call('POST', '/users', {
      body: [
        { username: 'alice', password: 'pw-123456' },
        { username: 'bob', password: 'pw-123456' },
      ],
    });
    assert.equal(users.status, 200, users.text);
    const created = await admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'alice', members: ['bob'] } });
    assert.equal(created.status, 200, created.text);
    room = created.body.data.id;
  });
  after(async () => {
    await server.close();
    await receiver.close();
  });

  it('refuses a scrape without the token or with a wrong one (401)', async () => {
    const bare = await call(server.url, 'GET', '/metrics');
    assert.equal(bare.status, 401);
    const wrong = await call(server.url, 'GET', '/metrics', { token: `${METRICS_TOKEN}x` });
    assert.equal(wrong.status, 401);
    const appTokenInstead = await call(server.url, 'GET', '/metrics', { token: appToken(main) });
    assert.equal(appTokenInstead.status, 401);
    for (const r of [bare, wrong, appTokenInstead]) assert.ok(!r.text.includes('roomkv_'), 'no metrics in a refusal');
  });

  it('serves Prometheus text with the right token', async () => {
    const res = await call(server.url, 'GET', '/metrics', { token: METRICS_TOKEN });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(res.text, /^# HELP roomkv_http_requests_total /m);
    assert.match(res.text, /^# TYPE roomkv_http_requests_total counter$/m);
  });

  it('counts requests and their latency by route, method and status', async () => {
    const set1 = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { m1: 'a' } } });
    const set2 = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { m2: 'a' } } });
    assert.equal(set1.status, 200);
    assert.equal(set2.status, 200);
    const missing = await admin.call('POST', '/metadata/chatroom/999999', { body: {} });
    assert.equal(missing.status, 404);

    const m = await scrape();
    const put = { route: '/:org/:app/metadata/chatroom/:chatroomId/user/:username', method: 'PUT', status: '200' };
    const notFound = { route: '/:org/:app/metadata/chatroom/:chatroomId', method: 'POST', status: '404' };
    assert.equal(value(m, 'roomkv_http_requests_total', put), 2);
    assert.equal(value(m, 'roomkv_http_requests_total', notFound), 1);
    assert.equal(value(m, 'roomkv_http_request_duration_seconds_count', put), 2);
    assert.equal(value(m, 'roomkv_http_request_duration_seconds_count', notFound), 1);
    assert.ok(select(m, 'roomkv_http_request_duration_seconds_bucket', { ...put, le: '+Inf' }).length === 1, 'a histogram with buckets');
    assert.ok((value(m, 'roomkv_http_request_duration_seconds_sum', put) ?? -1) > 0);
  });

  it('counts attribute keys by call and outcome: success, and each error reason', async () => {
    const before = await scrape();
    const base = (outcome: string) => value(before, 'roomkv_attribute_keys_total', { call: 'set', outcome }) ?? 0;
    const [success0, notYours0] = [base('success'), base('not_yours')];

    const mine = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { owned: '1', other: '2' } } });
    assert.deepEqual(mine.body.data, { successKeys: ['owned', 'other'], errorKeys: {} });
    const theirs = await admin.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { owned: 'x', 'bad key': 'y' } } });
    assert.deepEqual(theirs.body.data, {
      successKeys: [],
      errorKeys: { owned: "key 'owned' is not part of you", 'bad key': "properties key 'bad key' is not Legal" },
    });

    const m = await scrape();
    assert.equal(value(m, 'roomkv_attribute_keys_total', { call: 'set', outcome: 'success' }), success0 + 2);
    assert.equal(value(m, 'roomkv_attribute_keys_total', { call: 'set', outcome: 'not_yours' }), notYours0 + 1);
    const illegal = select(m, 'roomkv_attribute_keys_total', { call: 'set' }).filter(
      (s) => s.labels.outcome !== 'success' && s.labels.outcome !== 'not_yours',
    );
    assert.equal(illegal.length, 1, 'the illegal key is counted under its own reason');
    assert.equal(at(illegal, 0).value, 1);
  });

  it('counts calls refused by the rate limit', async () => {
    const token = appToken(limited);
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => call(server.url, 'POST', `/app-id/${limited.appId}/metadata/chatroom/1`, { token, body: {} })),
    );
    const refused = replies.filter((r) => r.status === 429).length;
    assert.ok(refused >= 1, `some of 8 calls at 2 per second were refused: ${replies.map((r) => r.status)}`);
    for (const r of replies) assert.ok(r.status === 429 || r.status === 404, `${r.status}`);

    const m = await scrape();
    assert.equal(value(m, 'roomkv_rate_limited_total', { app: `${limited.org}#${limited.app}` }), refused);
    assert.equal(
      value(m, 'roomkv_http_requests_total', { route: '/app-id/:appId/metadata/chatroom/:chatroomId', method: 'POST', status: '429' }),
      refused,
    );
    assert.equal(value(m, 'roomkv_rate_limited_total', { app: `${main.org}#${main.app}` }) ?? 0, 0);
  });

  it('times store calls by operation and result', async () => {
    const m0 = await scrape();
    const before = value(m0, 'roomkv_store_duration_seconds_count', { op: 'setAttributes', result: 'ok' }) ?? 0;
    const res = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { timed: '1' } } });
    assert.equal(res.status, 200);
    const m = await scrape();
    assert.equal(value(m, 'roomkv_store_duration_seconds_count', { op: 'setAttributes', result: 'ok' }), before + 1);
    assert.ok(select(m, 'roomkv_store_duration_seconds_bucket', { op: 'setAttributes', result: 'ok', le: '+Inf' }).length === 1);
  });

  it('shows an open event stream in roomkv_event_streams_open, and its end', async () => {
    assert.equal(value(await scrape(), 'roomkv_event_streams_open'), 0);
    const stream = await openStream(`${server.url}/${main.org}/${main.app}/metadata/chatroom/${room}/events`, { token: appToken(main) });
    try {
      assert.equal(stream.status, 200, stream.text);
      await stream.next((msg) => msg.event === 'snapshot');
      assert.equal(value(await scrape(), 'roomkv_event_streams_open'), 1);
    } finally {
      stream.close();
    }
    await waitFor('the gauge to drop to 0 after the client left', async () => value(await scrape(), 'roomkv_event_streams_open') === 0);
  });

  it('counts webhook deliveries and shows the queue depth of each endpoint', async () => {
    const res = await admin.call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { hooked: '1' } } });
    assert.deepEqual(res.body.data.successKeys, ['hooked']);
    const hook = (await admin.call('GET', '/webhooks')).body.data.endpoints;
    assert.equal(hook.length, 1);
    await waitFor('the receiver to get the hooked event', () =>
      receiver
        .received('/hook')
        .some((r) => r.status === 200 && r.end !== Number.POSITIVE_INFINITY && JSON.stringify(JSON.parse(r.body)).includes('hooked')),
    );
    const app = `${main.org}#${main.app}`;
    // Once nothing is pending, the counter must equal what the receiver acknowledged.
    let last = '';
    const m = await waitFor('the delivered counter to match the receiver and the queue to be empty', async () => {
      const s = await scrape();
      const delivered = value(s, 'roomkv_webhook_deliveries_total', { app, result: 'delivered' });
      const depth = value(s, 'roomkv_webhook_queue_depth', { app, endpoint: receiver.url('/hook') });
      const acked = receiver.received('/hook').filter((r) => r.status === 200 && r.end !== Number.POSITIVE_INFINITY).length;
      last = `delivered=${delivered} depth=${depth} acknowledged by the receiver=${acked}`;
      return delivered === acked && depth === 0 ? s : false;
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
    assert.ok((value(m, 'roomkv_webhook_deliveries_total', { app, result: 'delivered' }) ?? 0) >= 1);
    assert.equal(select(m, 'roomkv_webhook_queue_depth').length, 1, 'one gauge per endpoint (the limited app has none)');
  });

  it('includes the process metrics', async () => {
    const m = await scrape();
    assert.equal(select(m, 'roomkv_process_cpu_user_seconds_total').length, 1);
    assert.ok((value(m, 'roomkv_process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(select(m, 'roomkv_nodejs_eventloop_lag_seconds').length === 1);
  });
});

const skipRedis = ownRedisSkip();
describe('/readyz on a Redis that pauses and resumes', { skip: skipRedis }, () => {
  let redis: { port: number; child: ChildProcess };
  let server: ServerHandle;
  before(async () => {
    redis = await startOwnRedis();
    server = await startTarget(
      {
        name: 'own-redis',
        env: () => ({
          ROOMKV_STORE: 'redis',
          ROOMKV_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          ROOMKV_REDIS_PREFIX: `ops${randomBytes(4).toString('hex')}:`,
        }),
      },
      [makeApp()],
    );
  });
  after(async () => {
    redis?.child.kill('SIGCONT');
    await server?.close();
    redis?.child.kill('SIGKILL');
  });

  it('is 200, then 503 {status: unavailable} within ~3 s of SIGSTOP, then 200 again after SIGCONT', async () => {
    const ready = await call(server.url, 'GET', '/readyz');
    assert.equal(ready.status, 200, ready.text);
    assert.ok(['ok', 'ready'].includes(ready.body.status), ready.text);

    const stoppedAt = Date.now();
    redis.child.kill('SIGSTOP');
    const down = await waitFor(
      '/readyz to answer 503',
      async () => {
        const res = await call(server.url, 'GET', '/readyz');
        return res.status === 503 ? res : false;
      },
      8000,
    );
    const took = Date.now() - stoppedAt;
    assert.ok(took <= 3500, `503 came ${took} ms after SIGSTOP`);
    assert.match(down.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(down.body.status, 'unavailable');
    // Liveness does not depend on the store.
    const live = await call(server.url, 'GET', '/healthz');
    assert.equal(live.status, 200);
    assert.equal(live.body.status, 'ok');

    redis.child.kill('SIGCONT');
    const back = await waitFor(
      '/readyz to answer 200 again',
      async () => {
        const res = await call(server.url, 'GET', '/readyz');
        return res.status === 200 ? res : false;
      },
      8000,
    );
    assert.ok(['ok', 'ready'].includes(back.body.status), back.text);
  });
});
