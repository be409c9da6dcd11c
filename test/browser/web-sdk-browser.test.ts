// The official web SDK (agora-chat@1.4.0) in a real browser: a page served from another origin
// loads the SDK's browser build and drives roomkv's attribute calls over XHR, cross-origin, with
// the CORS preflights that implies. SQLite only: this checks the browser path, not the store.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { appToken, makeApp, userToken, type TestApp } from '../support/apps.js';
import { client, type Client } from '../support/client.js';
import { sqliteTarget, startTarget, type ServerHandle } from '../support/server.js';
import { browserSkip, launchChromium } from './chromium.js';

// Callbacks passed to page.evaluate run in the page; the project compiles without the DOM lib.
declare const window: any;
declare const location: any;

// The package's `main` ("Agora-chat") is its UMD browser build: in a page it sets `self.websdk`.
const require = createRequire(import.meta.url);
const SDK_DIR = dirname(require.resolve('agora-chat/package.json'));
const SDK_MAIN = (JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')) as { main: string }).main;
const SDK_FILE = join(SDK_DIR, SDK_MAIN.endsWith('.js') ? SDK_MAIN : `${SDK_MAIN}.js`);

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>a chat app</title>
<script src="/vendor/agora-chat.js"></script>
</head><body><p id="ready">app page</p></body></html>`;

/** The app's own web server: another port, so another origin than roomkv. */
async function startAppSite(): Promise<{ url: string; close(): Promise<void> }> {
  const sdk = readFileSync(SDK_FILE);
  const server: Server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE_HTML);
    } else if (req.url === '/vendor/agora-chat.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(sdk);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One request as the browser's network stack saw it (Chrome DevTools Protocol). */
interface Seen {
  method: string;
  url: string;
  /** 'preflight' for a CORS preflight, 'script' for the SDK's own XHRs, 'parser' for the page's. */
  initiator: string;
  status: number | null;
  headers: Record<string, string>;
  failure: string | null;
  done: boolean;
}

/**
 * Playwright reports no CORS preflight as a page 'request' event (it has no frame), and when routing
 * is on it answers preflights itself; so the network log comes from the DevTools protocol, with no
 * routing, and every preflight really went to roomkv.
 */
async function networkLog(page: Page) {
  const byId = new Map<string, Seen>();
  const all: Seen[] = [];
  const changed = new EventEmitter();
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Network.requestWillBeSent', (e) => {
    const seen: Seen = {
      method: e.request.method,
      url: e.request.url,
      initiator: e.initiator.type,
      status: null,
      headers: {},
      failure: null,
      done: false,
    };
    byId.set(e.requestId, seen);
    all.push(seen);
    changed.emit('change');
  });
  cdp.on('Network.responseReceived', (e) => {
    const seen = byId.get(e.requestId);
    if (!seen) return;
    seen.status = e.response.status;
    seen.headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  });
  cdp.on('Network.loadingFinished', (e) => {
    const seen = byId.get(e.requestId);
    if (!seen) return;
    seen.done = true;
    changed.emit('change');
  });
  cdp.on('Network.loadingFailed', (e) => {
    const seen = byId.get(e.requestId);
    if (!seen) return;
    seen.failure = e.errorText;
    seen.done = true;
    changed.emit('change');
  });
  await cdp.send('Network.enable');
  return {
    all,
    /** The completed requests matching `match`, once there are at least `count` of them. */
    async wait(match: (s: Seen) => boolean, count = 1, timeoutMs = 10_000): Promise<Seen[]> {
      const found = () => all.filter((s) => s.done && match(s));
      if (found().length >= count) return found();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (found().length < count) return;
          cleanup();
          resolve(found());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `expected ${count} matching requests within ${timeoutMs} ms; saw ${JSON.stringify(all.map((s) => `${s.method} ${s.url} ${s.initiator} ${s.status ?? s.failure}`))}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          changed.off('change', check);
        };
        changed.on('change', check);
      });
    },
  };
}

const skip = browserSkip('the web SDK browser tests');

describe('official web SDK agora-chat@1.4.0 in Chromium, cross-origin [sqlite]', { skip }, () => {
  let app: TestApp;
  let server: ServerHandle;
  let admin: Client;
  let site: { url: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let room: string;
  let net: Awaited<ReturnType<typeof networkLog>>;
  /** What the page itself reported as requests (preflights are never among them). */
  const pageRequests: string[] = [];
  const pageErrors: string[] = [];

  /** Runs `fn(conn, arg)` in the page; resolves to the SDK's resolved value or its rejection. */
  async function inPage(body: string, arg: unknown): Promise<{ result?: any; error?: any }> {
    return page.evaluate(
      async ([src, a]) => {
        const run = new Function('conn', 'arg', `return (async () => { ${src} })();`) as (c: unknown, x: unknown) => Promise<unknown>;
        try {
          return { result: await run((window as any).conn, a) };
        } catch (e: any) {
          return { error: { type: e?.type, message: e?.message ?? String(e) } };
        }
      },
      [body, arg] as const,
    );
  }

  async function records(): Promise<Array<{ key: string; value: string; owner: string; autoDelete: string }>> {
    const res = await admin.call('GET', `/chatrooms/${room}/attributes`);
    assert.equal(res.status, 200, res.text);
    return [...res.body.data].sort((a, b) => a.key.localeCompare(b.key));
  }

  before(async () => {
    app = makeApp({ limits: { rateLimitPerSecond: 10_000 } });
    server = await startTarget(sqliteTarget, [app]);
    admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
    const users = await admin.call('POST', '/users', {
      body: [
        { username: 'alice', password: 'pw-123456' },
        { username: 'bob', password: 'pw-123456' },
      ],
    });
    assert.equal(users.status, 200, users.text);
    const made = await admin.call('POST', '/chatrooms', {
      body: { name: 'stage', description: 'browser test', owner: 'alice', members: ['bob'] },
    });
    assert.equal(made.status, 200, made.text);
    room = made.body.data.id;

    site = await startAppSite();
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('request', (r) => pageRequests.push(`${r.method()} ${r.url()}`));
    net = await networkLog(page);

    await page.goto(`${site.url}/`);
    assert.notEqual(new URL(site.url).origin, new URL(server.url).origin);
    await page.evaluate(
      ([apiUrl, org, appName, userId, accessToken]) => {
        const w = window as any;
        const SDK = w.websdk.default ?? w.websdk;
        SDK.logger?.setConsoleLogVisibility?.(false);
        const appKey = `${org}#${appName}`;
        const conn = new SDK.connection({ appKey, apiUrl, isHttpDNS: false });
        // What a websocket login would have filled in (see test/support/web-sdk.ts).
        Object.assign(conn.context, { orgName: org, appName, appKey, userId, accessToken });
        Object.assign(conn.context.jid, { appKey, name: userId });
        w.conn = conn;
      },
      [server.url, app.org, app.app, 'alice', userToken(app, 'alice')] as const,
    );
  });

  after(async () => {
    await browser?.close();
    await site?.close();
    await server?.close();
  });

  it("loads the SDK's browser build as a global, and the page has a WebSocket (so REST goes over XHR)", async () => {
    const facts = await page.evaluate(() => {
      const w = window as any;
      const SDK = w.websdk.default ?? w.websdk;
      return { connection: typeof SDK.connection, webSocket: typeof w.WebSocket, origin: location.origin };
    });
    assert.deepEqual(facts, { connection: 'function', webSocket: 'function', origin: site.url });
    assert.deepEqual(pageErrors, []);
  });

  const urlOf = (user?: string) => `${server.url}/${app.org}/${app.app}/metadata/chatroom/${room}${user ? `/user/${user}` : ''}`;

  /** The preflight(s) roomkv answered for `url` before a `method` call: 204 with its CORS headers. */
  async function assertPreflighted(url: string, method: string): Promise<void> {
    const preflights = await net.wait((s) => s.method === 'OPTIONS' && s.url === url && s.initiator === 'preflight');
    for (const p of preflights) {
      assert.equal(p.failure, null, JSON.stringify(p));
      assert.equal(p.status, 204, JSON.stringify(p));
      assert.equal(p.headers['access-control-allow-origin'], '*');
      assert.match(p.headers['access-control-allow-headers'] ?? '', /\bAuthorization\b/i);
      assert.match(p.headers['access-control-allow-headers'] ?? '', /\bContent-Type\b/i);
      // Playwright's own preflight answers carry no max-age: this one came from roomkv.
      assert.equal(p.headers['access-control-max-age'], '86400');
    }
    // Chromium caches a preflight per URL for max-age, so a later method may reuse an earlier one:
    // some preflight to this URL must have allowed it.
    assert.ok(
      preflights.some((p) => new RegExp(`\\b${method}\\b`).test(p.headers['access-control-allow-methods'] ?? '')),
      JSON.stringify(preflights),
    );
  }

  /** The `method` calls to `url` the browser completed: 200, readable cross-origin. */
  async function assertCalled(url: string, method: string, count: number): Promise<void> {
    const calls = await net.wait((s) => s.method === method && s.url === url && s.initiator === 'script', count);
    assert.equal(calls.length, count, JSON.stringify(calls));
    for (const c of calls) {
      assert.equal(c.failure, null, JSON.stringify(c));
      assert.equal(c.status, 200, JSON.stringify(c));
      assert.equal(c.headers['access-control-allow-origin'], '*');
    }
    assert.equal(pageRequests.filter((r) => r === `${method} ${url}`).length, count);
  }

  it('setChatRoomAttributes stores the keys with the user as owner, after a CORS preflight roomkv answered', async () => {
    const out = await inPage(
      'return conn.setChatRoomAttributes({ chatRoomId: arg.room, attributes: { seat1: "alice", topic: "jazz" }, autoDelete: false });',
      { room },
    );
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assert.deepEqual(out.result, { data: { status: 'success', errorKeys: {}, successKeys: ['seat1', 'topic'] }, type: 0 });

    assert.deepEqual(await records(), [
      { key: 'seat1', value: 'alice', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
    ]);
    await assertPreflighted(urlOf('alice'), 'PUT');
    await assertCalled(urlOf('alice'), 'PUT', 1);
  });

  it('getChatRoomAttributes resolves the listed keys that exist, and every key when none are listed', async () => {
    const some = await inPage('return conn.getChatRoomAttributes({ chatRoomId: arg.room, attributeKeys: ["topic", "missing"] });', {
      room,
    });
    assert.equal(some.error, undefined, JSON.stringify(some.error));
    assert.deepEqual(some.result, { data: { topic: 'jazz' }, type: 0 });

    const all = await inPage('return conn.getChatRoomAttributes({ chatRoomId: arg.room });', { room });
    assert.equal(all.error, undefined, JSON.stringify(all.error));
    assert.deepEqual(all.result, { data: { seat1: 'alice', topic: 'jazz' }, type: 0 });

    await assertPreflighted(urlOf(), 'POST');
    await assertCalled(urlOf(), 'POST', 2);
  });

  it('a key another member owns is refused in errorKeys and stays theirs', async () => {
    const bobSet = await admin.call('PUT', `/metadata/chatroom/${room}/user/bob`, { body: { metaData: { host: 'bob' } } });
    assert.equal(bobSet.status, 200, bobSet.text);
    const out = await inPage('return conn.setChatRoomAttributes({ chatRoomId: arg.room, attributes: { host: "alice", mic: "on" } });', {
      room,
    });
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assert.deepEqual(out.result, {
      data: { status: 'fail', errorKeys: { host: "key 'host' is not part of you" }, successKeys: ['mic'] },
      type: 0,
    });
    assert.deepEqual(await records(), [
      { key: 'host', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'mic', value: 'on', owner: 'alice', autoDelete: 'DELETE' },
      { key: 'seat1', value: 'alice', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
    ]);
    await assertCalled(urlOf('alice'), 'PUT', 2);
  });

  it("removeChatRoomAttributes removes the user's own keys, with DELETE allowed by roomkv's preflight", async () => {
    const out = await inPage('return conn.removeChatRoomAttributes({ chatRoomId: arg.room, attributeKeys: ["seat1", "mic"] });', { room });
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assert.deepEqual(out.result, { data: { status: 'success', errorKeys: {}, successKeys: ['seat1', 'mic'] }, type: 0 });
    assert.deepEqual(await records(), [
      { key: 'host', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
    ]);
    const read = await admin.call('POST', `/metadata/chatroom/${room}`);
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.body.data, { host: 'bob', topic: 'jazz' });

    await assertPreflighted(urlOf('alice'), 'DELETE');
    await assertCalled(urlOf('alice'), 'DELETE', 1);
  });

  it('nothing the page sent to roomkv failed, and the page raised no error', () => {
    const toRoomkv = net.all.filter((s) => s.url.startsWith(server.url));
    assert.ok(toRoomkv.length >= 7, JSON.stringify(toRoomkv));
    assert.deepEqual(
      toRoomkv.filter((s) => !s.done || s.failure !== null || s.status === null || s.status >= 400),
      [],
    );
    assert.deepEqual(pageErrors, []);
  });
});
