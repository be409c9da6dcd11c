// roomkv/client in Debian's Chromium, driven through the seat-map example (examples/seat-map):
// two pages in one room take seats and see each other's; the network of one drops (a TCP proxy
// cut) while the room changes, and that page resumes without losing or doubling an event. The
// client is served as the browser gets it: src/client compiled to ES modules, found by an import map.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import ts from 'typescript';
import { startFixture, type Fixture } from '../support/fixture.js';
import { sqliteTarget } from '../support/server.js';
import { browserSkip, launchChromium } from '../browser/chromium.js';
import { roomWith } from './live-support.js';
import { startProxy, type TcpProxy } from './tcp-proxy.js';

// Callbacks passed to page.evaluate run in the page; the project compiles without the DOM lib.
declare const window: any;
declare const document: any;

const SRC = fileURLToPath(new URL('../../src/client/', import.meta.url));
const EXAMPLE = new URL('../../examples/seat-map/server.mjs', import.meta.url).href;
const WAIT_MS = 10_000;

interface SeatMapSite {
  url: string;
  room: string;
  close(): Promise<void>;
}
type StartSeatMap = (o: {
  roomkvUrl: string;
  app: { org: string; app: string; appId: string; appCertificate: string };
  room?: string;
  clientFile(name: string): Promise<string | null>;
}) => Promise<SeatMapSite>;

/** roomkv/client's `name`.js, compiled from its TypeScript source as `npm run build` would. */
async function clientFile(name: string): Promise<string | null> {
  const source = await readFile(`${SRC}${name}.ts`, 'utf8').catch(() => null);
  if (source === null) return null;
  return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 } }).outputText;
}

const skip = browserSkip('the roomkv/client browser tests');

describe('roomkv/client in Chromium: the seat-map example [sqlite]', { skip }, () => {
  let f: Fixture;
  let proxy: TcpProxy;
  let site: SeatMapSite;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    f = await startFixture(sqliteTarget, { rateLimitPerSecond: 10_000 });
    proxy = await startProxy(f.server.url);
    const id = await roomWith(f, ['owner', 'carol']);
    const { startSeatMap } = (await import(EXAMPLE)) as { startSeatMap: StartSeatMap };
    site = await startSeatMap({ roomkvUrl: f.server.url, app: f.app, room: id, clientFile });
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await site?.close();
    await proxy?.close();
    await f?.close();
  });

  /** A page of its own browser context (its own network), as `user`, optionally through the proxy. */
  async function open(user: string, viaProxy = false): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${user}: ${String(e)}`));
    const query = `user=${user}${viaProxy ? `&roomkv=${encodeURIComponent(proxy.url)}` : ''}`;
    await page.goto(`${site.url}/?${query}`);
    await page.waitForFunction(() => window.seatMap?.room.status === 'live', null, { timeout: WAIT_MS });
    return page;
  }

  /** Who sits where, as the page shows it. */
  function seats(page: Page): Promise<Record<string, string>> {
    return page.$$eval('#seats button[data-occupant]', (bs) => Object.fromEntries(bs.map((b) => [b.dataset.seat, b.dataset.occupant])));
  }

  async function until(page: Page, want: Record<string, string>): Promise<void> {
    try {
      await page.waitForFunction(
        (w) =>
          JSON.stringify(
            Object.fromEntries(
              [...document.querySelectorAll('#seats button[data-occupant]')].map((b: any) => [b.dataset.seat, b.dataset.occupant]),
            ),
          ) === w,
        JSON.stringify(Object.fromEntries(Object.entries(want).sort())),
        { timeout: WAIT_MS },
      );
    } catch {
      assert.deepEqual(await seats(page), want, 'the page did not show the expected seats');
    }
  }

  it('two pages take seats and see each other’s; a page whose network drops resumes without loss', async () => {
    const alice = await open('alice');
    const bob = await open('bob', true);

    await alice.click('#seats button[data-seat="1"]');
    await until(bob, { 1: 'alice' });
    await bob.click('#seats button[data-seat="1"]');
    await bob.waitForFunction(() => /Seat 1 is taken .*is not part of you/.test(document.querySelector('#message').textContent), null, {
      timeout: WAIT_MS,
    });
    await bob.click('#seats button[data-seat="2"]');
    await until(alice, { 1: 'alice', 2: 'bob' });
    assert.equal(await alice.getAttribute('#seats button[data-seat="1"]', 'class'), 'mine');

    // Bob's network goes (the browser is told it is offline, and his connections drop); the room moves on without him.
    await bob.context().setOffline(true);
    proxy.cut();
    await bob.waitForFunction(() => document.querySelector('#status').dataset.status === 'reconnecting', null, { timeout: WAIT_MS });
    await alice.click('#seats button[data-seat="3"]'); // alice moves: seat 3 taken, seat 1 left
    await until(alice, { 2: 'bob', 3: 'alice' });
    const carol = f.user('carol');
    const res = await carol.call('PUT', `/metadata/chatroom/${site.room}/user/carol`, { body: { metaData: { seat4: 'carol' } } });
    assert.deepEqual(res.body.data, { successKeys: ['seat4'], errorKeys: {} });
    assert.deepEqual(await seats(bob), { 1: 'alice', 2: 'bob' }, 'offline, bob still shows what he had');

    proxy.restore();
    await bob.context().setOffline(false);
    await until(bob, { 2: 'bob', 3: 'alice', 4: 'carol' });
    const after = await bob.evaluate(() => ({
      seqs: window.seatMap.seqs,
      seq: window.seatMap.room.seq,
      status: window.seatMap.client.status,
    }));
    // 1 alice took 1, 2 bob took 2, then while bob was away: 3 alice took 3, 4 she left 1, 5 carol took 4
    assert.deepEqual(after, { seqs: [1, 2, 3, 4, 5], seq: 5, status: 'open' }, 'bob applied every event once, in order');

    // Alice leaves her seat; bob sees it free.
    await alice.click('#seats button[data-seat="3"]');
    await until(bob, { 2: 'bob', 4: 'carol' });
    const log = await bob.$$eval('#log li', (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(log.slice(0, 2), ['alice left seat 3', 'carol took seat 4']);
    assert.deepEqual(pageErrors, []);
  });
});
