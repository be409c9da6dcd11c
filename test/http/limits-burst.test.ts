// The per-app rate limit under attack (issue "Reliability and security"): a burst against one app
// neither exceeds its budget nor slows another app, on SQLite and on two instances sharing a Redis.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, writeAppsFile, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client, type Reply } from '../support/client.js';
import { redisEnv, spawnServer, type ChildServer } from '../support/server.js';
import { json, openStream } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { setupRoom } from './limits-support.js';

const LIMIT = 50;
const BURST = 1000;
/** The burst is spread over about two seconds: one call every 2 ms. */
const BURST_SPACING_MS = 2;
const RATE_LIMITED = ['reach_limit', 'This request has reached api limit'];

/**
 * The room's attributes from the event stream's snapshot. Opening a stream spends a get's budget:
 * after the burst, wait for a window that has some left (a 429 until then).
 */
async function snapshot(url: string, app: TestApp, room: string): Promise<Record<string, string>> {
  const stream = await waitFor('a stream the rate limit lets open', async () => {
    const s = await openStream(`${url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`, { token: appToken(app) });
    if (s.status !== 429) return s;
    s.close();
    return false;
  });
  try {
    assert.equal(stream.status, 200, stream.text);
    const first = await stream.next();
    assert.equal(first.event, 'snapshot');
    return json(first).attributes;
  } finally {
    stream.close();
  }
}

interface BurstResult {
  ok: string[];
  limited: string[];
  /** From the first call sent to the last answer received, in seconds. */
  elapsedS: number;
  /** From the first call sent to the last one sent, in seconds. */
  sendSpanS: number;
}

// The burst runs on a worker thread: its 1,000 calls and their answers would otherwise crowd the
// event loop that times the other app's calls, and measure the test rather than the server.
const BURST_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
(async () => {
  const start = performance.now();
  let lastSent = start;
  const calls = [];
  for (let i = 0; i < w.n; i++) {
    const due = start + i * w.spacingMs;
    calls.push((async () => {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      lastSent = Math.max(lastSent, performance.now());
      const key = 'b' + i;
      const res = await fetch(w.urls[i % w.urls.length] + w.path, {
        method: 'PUT',
        headers: { authorization: 'Bearer ' + w.token, 'content-type': 'application/json' },
        body: JSON.stringify({ metaData: { [key]: 'v' } }),
      });
      return { key, status: res.status, text: await res.text() };
    })());
  }
  const answers = await Promise.all(calls);
  const end = performance.now();
  parentPort.postMessage({ answers, elapsedS: (end - start) / 1000, sendSpanS: (lastSent - start) / 1000 });
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

/**
 * Sends `BURST` set calls as `app`, each with its own key, one every `BURST_SPACING_MS`,
 * round-robin over `urls`; every answer must be 200 or 429 reach_limit.
 */
async function burst(urls: string[], app: TestApp, room: string): Promise<BurstResult> {
  const worker = new Worker(BURST_WORKER, {
    eval: true,
    workerData: {
      urls,
      path: `/${app.org}/${app.app}/metadata/chatroom/${room}/user/ann`,
      token: appToken(app),
      n: BURST,
      spacingMs: BURST_SPACING_MS,
    },
  });
  try {
    const [msg] = (await once(worker, 'message')) as [
      { error?: string; answers: Array<{ key: string; status: number; text: string }>; elapsedS: number; sendSpanS: number },
    ];
    if (msg.error) throw new Error(`burst worker: ${msg.error}`);
    const ok: string[] = [];
    const limited: string[] = [];
    for (const { key, status, text } of msg.answers) {
      const body = JSON.parse(text);
      if (status === 200) {
        assert.deepEqual(body.data, { successKeys: [key], errorKeys: {} });
        ok.push(key);
      } else {
        assert.equal(status, 429, `${key}: ${text}`);
        assert.deepEqual([body.error, body.error_description], RATE_LIMITED, key);
        limited.push(key);
      }
    }
    return { ok, limited, elapsedS: msg.elapsedS, sendSpanS: msg.sendSpanS };
  } finally {
    await worker.terminate();
  }
}

/**
 * Starts a get on `c` every 50 ms, whether the previous one has answered or not (so a slow answer
 * cannot thin out the measurements), until `until` settles; returns every latency.
 */
async function steadyCalls(c: Client, room: string, until: Promise<unknown>): Promise<{ latencies: number[]; failures: Reply[] }> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const calls: Array<Promise<{ ms: number; res: Reply }>> = [];
  while (!done) {
    calls.push(
      (async () => {
        const t0 = performance.now();
        const res = await c.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['calm'] } });
        return { ms: performance.now() - t0, res };
      })(),
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  const answered = await Promise.all(calls);
  return { latencies: answered.map((a) => a.ms), failures: answered.filter((a) => a.res.status !== 200).map((a) => a.res) };
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? NaN;

/** Both halves of the rate-limit check, whatever serves the calls. */
async function checkBurst(
  urls: string[],
  limitedApp: TestApp,
  limitedRoom: string,
  calm: Client,
  calmRoom: string,
  report: (line: string) => void,
): Promise<void> {
  const seeded = await calm.call('PUT', `/metadata/chatroom/${calmRoom}/user/ann`, { body: { metaData: { calm: 'v' } } });
  assert.equal(seeded.status, 200, seeded.text);
  const attack = burst(urls, limitedApp, limitedRoom);
  const [result, steady] = await Promise.all([attack, steadyCalls(calm, calmRoom, attack)]);
  const { ok, limited, elapsedS, sendSpanS } = result;
  report(
    `burst: ${ok.length} x 200, ${limited.length} x 429, sent over ${sendSpanS.toFixed(2)} s, answered within ${elapsedS.toFixed(2)} s; ` +
      `calm app: ${steady.latencies.length} calls, p95 ${Math.round(p95(steady.latencies))} ms, max ${Math.round(Math.max(...steady.latencies))} ms`,
  );
  assert.equal(ok.length + limited.length, BURST);
  // Fixed one-second windows may let twice the limit through across a boundary, never more.
  const ceiling = LIMIT * (Math.ceil(elapsedS) + 1);
  assert.ok(ok.length <= ceiling, `${ok.length} calls succeeded in ${elapsedS.toFixed(2)} s; at most ${ceiling} may`);
  // Calls kept arriving through the send span, so the windows in it let their budgets through. The
  // span is timed where the calls are sent, not where they arrive: on a loaded machine the server
  // can take a second's worth of them in one go (seen: 150 passed over a 4.16 s span, with the other
  // app's p95 at 822 ms), so one window is not counted.
  const floor = LIMIT * Math.max(1, Math.floor(sendSpanS) - 1);
  assert.ok(ok.length >= floor, `only ${ok.length} calls succeeded over ${sendSpanS.toFixed(2)} s of sending; at least ${floor} should`);
  // The other app was not held up: its own budget is untouched, so every call it made was served.
  // (Its latency is reported above; speed is judged by the benchmark, never by a timed assertion.)
  assert.deepEqual(
    steady.failures.map((r) => `${r.status} ${r.text}`),
    [],
    'the calm app got errors',
  );
  assert.ok(steady.latencies.length >= 20, `only ${steady.latencies.length} calm calls were made`);
  // A refused call stored nothing; every accepted one stored its key.
  const stored = await snapshot(at(urls, 0), limitedApp, limitedRoom);
  assert.deepEqual(Object.keys(stored).sort(), [...ok].sort());
}

// The servers run as their own processes, so that the test's 1,000 client calls do not share
// an event loop with the server whose latency is measured.
describe('rate limit under a burst [sqlite]', () => {
  const limited = makeApp({ limits: { rateLimitPerSecond: LIMIT, maxAttributesPerRoom: 10_000 } });
  const calmApp = makeApp({ limits: { rateLimitPerSecond: 1000 } });
  let server: ChildServer;
  before(async () => {
    const dataDir = tempDir();
    // NORMAL: the accepted writes are not fsynced one by one, so the other app's latency measures
    // the rate limiter's isolation rather than the disk.
    server = await spawnServer({
      ROOMKV_STORE: 'sqlite',
      ROOMKV_SQLITE_SYNCHRONOUS: 'NORMAL',
      ROOMKV_DATA_DIR: dataDir,
      ROOMKV_APPS_FILE: writeAppsFile([limited, calmApp], dataDir),
    });
  });
  after(async () => {
    await server.stop();
  });

  it(`1,000 calls in ~2 s against an app limited to ${LIMIT}/s: at most 2 x ${LIMIT} per second pass, the rest are 429; another app is unaffected`, async (t) => {
    const attacker = client(server.url, `/${limited.org}/${limited.app}`, appToken(limited));
    const calm = client(server.url, `/${calmApp.org}/${calmApp.app}`, appToken(calmApp));
    const [room, calmRoom] = await Promise.all([setupRoom(attacker), setupRoom(calm)]);
    await checkBurst([server.url], limited, room, calm, calmRoom, (l) => t.diagnostic(l));
  });
});

const redis = redisEnv('redis');
describe('rate limit under a burst, two instances on one Redis', { skip: 'missing' in redis ? redis.missing : false }, () => {
  const limited = makeApp({ limits: { rateLimitPerSecond: LIMIT, maxAttributesPerRoom: 10_000 } });
  const calmApp = makeApp({ limits: { rateLimitPerSecond: 1000 } });
  let servers: ChildServer[] = [];
  before(async () => {
    if ('missing' in redis) return;
    const common = { ...redis.env, ROOMKV_APPS_FILE: writeAppsFile([limited, calmApp]), ROOMKV_DATA_DIR: tempDir() };
    servers = await Promise.all([spawnServer(common), spawnServer(common)]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it(`the budget of ${LIMIT}/s is shared: a burst split over both instances passes at most 2 x ${LIMIT} per second`, async (t) => {
    const attackers = servers.map((s) => client(s.url, `/${limited.org}/${limited.app}`, appToken(limited)));
    const calm = client(at(servers, 1).url, `/${calmApp.org}/${calmApp.app}`, appToken(calmApp));
    const [room, calmRoom] = await Promise.all([setupRoom(at(attackers, 0)), setupRoom(calm)]);
    await checkBurst(
      servers.map((s) => s.url),
      limited,
      room,
      calm,
      calmRoom,
      (l) => t.diagnostic(l),
    );
  });
});
