// What an open live connection keeps on the server: the fan-out benchmark's memory target (under
// 8 KB per idle connection) depends on it. Streams share their timers, and a WebSocket lets go of
// its upgrade request once it is open.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { heapDiff } from '../../bench/heap-diff.js';
import { AppRegistry, loadAppsFile } from '../../src/config/apps.js';
import { loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/http/app.js';
import { makeLogger } from '../../src/server.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { appToken, makeApp, removeTempDir, tempDir, writeAppsFile } from '../support/apps.js';
import { client } from '../support/client.js';
import { openStream, type SseStream } from '../support/sse.js';
import { connectWs, type WsClient } from './suites/ws-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('what an open live connection keeps', () => {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const dir = tempDir();
  const store = new SqliteStore({ path: join(dir, 'roomkv.sqlite'), synchronous: 'FULL', eventLog: { minEvents: 100, minAgeMs: 60_000 } });
  let f: Awaited<ReturnType<typeof buildApp>>;
  let url = '';
  let room = '';
  const upgrades: Array<WeakRef<IncomingMessage>> = [];

  before(async () => {
    const config = loadConfig({ ROOMKV_DATA_DIR: dir });
    f = await buildApp({ config, apps: new AppRegistry(loadAppsFile(writeAppsFile([app], dir))), store, logger: makeLogger('error') });
    url = await f.listen({ port: 0, host: '127.0.0.1' });
    f.server.on('upgrade', (req: IncomingMessage) => upgrades.push(new WeakRef(req)));
    const c = client(url, `/${app.org}/${app.app}`, appToken(app));
    assert.equal((await c.call('POST', '/users', { body: [{ username: 'owner', password: 'pw-123456' }] })).status, 200);
    room = (await c.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'owner' } })).body.data.id as string;
  });
  after(async () => {
    await f.close();
    await store.close();
    removeTempDir(dir);
  });

  it('streams share their heartbeat and expiry timers: 30 more streams, no timer each', async () => {
    const open = async () => {
      const s = await openStream(`${url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`, { token: appToken(app) });
      assert.equal((await s.next(undefined, 5000)).event, 'snapshot');
      return s;
    };
    const first = await open();
    const before = timers();
    const more: SseStream[] = [];
    for (let i = 0; i < 30; i++) more.push(await open());
    const added = timers() - before;
    for (const s of [first, ...more]) s.close();
    // Before they were shared: a heartbeat interval a stream (30 here; the expiry timers, unref'd, are not counted).
    assert.ok(added < 5, `${added} more timers for 30 more streams`);
  });

  it('an open WebSocket holds nothing of its upgrade request', async () => {
    const ws: WsClient = await connectWs(
      `${url.replace(/^http/, 'ws')}/${app.org}/${app.app}/ws?access_token=${encodeURIComponent(appToken(app))}`,
    );
    try {
      const reply = await ws.request({ op: 'subscribe', room });
      assert.equal(reply.status, 200, JSON.stringify(reply));
      assert.equal((await ws.next((m) => m.type === 'snapshot', 5000)).type, 'snapshot');
      const req = upgrades.at(-1);
      assert.ok(req !== undefined, 'the upgrade was seen');
      for (let i = 0; i < 10 && req.deref() !== undefined; i++) {
        await new Promise((r) => setImmediate(r));
        gc();
      }
      assert.equal(req.deref(), undefined, 'the upgrade request (and with it its response and Fastify request) was collected');
      // And the connection still works.
      assert.equal((await ws.request({ op: 'ping' })).status, 200);
    } finally {
      await ws.close();
    }
  });

  it('an open connection keeps no timer of its first request, and a WebSocket no logger or Map of its own', async (t) => {
    // Heap snapshots of this process (server and clients) around 40 more connections of each
    // kind: what grew, by kind of object, per connection (bench/heap-diff.ts).
    const snaps = mkdtempSync(join(tmpdir(), 'roomkv-footprint-'));
    t.after(() => rmSync(snaps, { recursive: true, force: true }));
    const wsUrl = `${url.replace(/^http/, 'ws')}/${app.org}/${app.app}/ws?access_token=${encodeURIComponent(appToken(app))}`;
    const openWs = async () => {
      const ws = await connectWs(wsUrl);
      assert.equal((await ws.request({ op: 'subscribe', room })).status, 200);
      await ws.next((m) => m.type === 'snapshot', 5000);
      return ws;
    };
    const openSse = async () => {
      const s = await openStream(`${url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`, { token: appToken(app) });
      assert.equal((await s.next(undefined, 5000)).event, 'snapshot');
      return s;
    };
    const grown = async (open: () => Promise<unknown>, n: number) => {
      await open(); // the first of a kind makes what all share
      const beforeFile = writeHeapSnapshot(join(snaps, `${Math.random()}.heapsnapshot`));
      for (let i = 0; i < n; i++) await open();
      const afterFile = writeHeapSnapshot(join(snaps, `${Math.random()}.heapsnapshot`));
      const d = heapDiff(beforeFile, afterFile, n, 100_000);
      return (kind: string) => d.rows.find((r) => r.kind === kind)?.countPer ?? 0;
    };
    const wsClients: WsClient[] = [];
    const streams: SseStream[] = [];
    try {
      const ws = await grown(async () => wsClients.push(await openWs()), 40);
      const sse = await grown(async () => streams.push(await openSse()), 40);
      for (const [name, per] of [
        ['WebSocket', ws],
        ['event stream', sse],
      ] as const) {
        // The first-request timer of the connection (app.ts) was kept, cleared, by its close listener.
        assert.ok(per('object Timeout') < 0.5, `${name}: ${per('object Timeout')} Timeout objects a connection`);
      }
      // A WebSocket keeps its request's id, not its logger (a pino child, with its bindings: made
      // when a line is written), and its subscriptions in a list, not a Map (about 180 bytes
      // empty). Each read 1 a connection before.
      assert.ok(ws('object Pino') < 0.5, `WebSocket: ${ws('object Pino')} loggers a connection`);
      assert.ok(ws('object Map') < 0.5, `WebSocket: ${ws('object Map')} Maps a connection`);
    } finally {
      for (const s of streams) s.close();
      await Promise.all(wsClients.map((w) => w.close()));
    }
  });
});
