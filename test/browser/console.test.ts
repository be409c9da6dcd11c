// The live console (GET /console) end to end in headless Chromium: sign in with a 007 app token,
// pick a room from the app's list (GET .../chatrooms), watch it, and see changes made through the
// API appear with their owner, autoDelete flag, revision and event seq; then set, increment and
// delete keys from the page as the app. Leaves a screenshot of the populated page in
// docs/console.png for the README.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { appToken, makeApp, type TestApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { client, type Client } from '../support/client.js';
import { sqliteTarget, startTarget, type ServerHandle } from '../support/server.js';
import { json, openStream, type SseStream } from '../support/sse.js';
import { browserSkip, launchChromium } from './chromium.js';

// Callbacks passed to page.evaluate run in the page; the project compiles without the DOM lib.
declare const document: any;
declare const getComputedStyle: any;

const SCREENSHOT = fileURLToPath(new URL('../../docs/console.png', import.meta.url));
const WAIT_MS = 10_000;

interface Row {
  key: string;
  value: string;
  owner: string;
  autoDelete: string;
  tag: string;
}

const skip = browserSkip('the console browser tests');

describe('live console in Chromium [sqlite]', { skip }, () => {
  let app: TestApp;
  let other: TestApp;
  let server: ServerHandle;
  let admin: Client;
  let browser: Browser;
  let room: string;
  let page: Page;
  /** The room's change events as the API streams them, to compare with what the page lists. */
  let stream: SseStream;
  const pageErrors: string[] = [];

  async function openConsole(): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    const res = await p.goto(`${server.url}/console`);
    assert.equal(res?.status(), 200);
    assert.equal(await p.title(), 'roomkv console');
    return p;
  }

  async function signIn(p: Page, token: string): Promise<void> {
    await p.fill('#token', token);
    await p.click('#apps-btn');
  }

  /** The attribute rows the page shows, in page order. */
  function rows(p: Page): Promise<Row[]> {
    return p.$$eval('#attrs tr', (trs) =>
      trs.map((tr) => {
        const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
        return {
          key: tr.getAttribute('data-key') ?? '',
          value: cells[1],
          owner: cells[2],
          autoDelete: cells[3],
          tag: tr.querySelector('td .tag')?.className ?? '',
        };
      }),
    );
  }

  /** Waits until the rows the page shows, sorted by key, are exactly `expected`. */
  async function waitForRows(expected: Array<Omit<Row, 'tag'>>): Promise<void> {
    const want = [...expected].sort((a, b) => a.key.localeCompare(b.key)).map((r) => ({ ...r, tag: `tag ${r.autoDelete}` }));
    try {
      await page.waitForFunction(
        (w) => {
          const got = [...document.querySelectorAll('#attrs tr')]
            .map((tr) => {
              const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
              return {
                key: tr.getAttribute('data-key') ?? '',
                value: cells[1],
                owner: cells[2],
                autoDelete: cells[3],
                tag: tr.querySelector('td .tag')?.className ?? '',
              };
            })
            .sort((a, b) => a.key.localeCompare(b.key));
          return JSON.stringify(got) === w;
        },
        JSON.stringify(want),
        { timeout: WAIT_MS },
      );
    } catch {
      assert.deepEqual(
        (await rows(page)).sort((a, b) => a.key.localeCompare(b.key)),
        want,
        'the attribute table did not reach the expected rows',
      );
    }
  }

  /** What the server holds for the room, with owners and flags. */
  async function stored(): Promise<Array<Omit<Row, 'tag'>>> {
    const res = await admin.call('GET', `/chatrooms/${room}/attributes`);
    assert.equal(res.status, 200, res.text);
    return [...res.body.data].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** The event list as the page renders it: newest first, one line each (its time apart). */
  function eventLines(p: Page): Promise<Array<{ cls: string; text: string }>> {
    return p.$$eval('#events li', (lis) =>
      lis.map((li) => ({
        cls: li.className,
        text: (li.textContent ?? '').slice((li.querySelector('time')?.textContent ?? '').length),
      })),
    );
  }

  /** Each event line's time: the ISO instant it carries and the clock text it shows. */
  function eventTimes(p: Page): Promise<Array<{ iso: string; shown: string }>> {
    return p.$$eval('#events li time', (ts) => ts.map((t) => ({ iso: t.getAttribute('datetime') ?? '', shown: t.textContent ?? '' })));
  }

  async function waitForEventCount(n: number): Promise<void> {
    try {
      await page.waitForFunction((k) => document.querySelectorAll('#events li').length >= k, n, { timeout: WAIT_MS });
    } catch {
      assert.fail(`expected ${n} lines in #events, got ${JSON.stringify(await eventLines(page))}`);
    }
  }

  async function put(user: string, metaData: Record<string, string>, autoDelete?: string, forced = false): Promise<any> {
    const res = await admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, {
      body: autoDelete ? { metaData, autoDelete } : { metaData },
    });
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  before(async () => {
    // Fixed names (a fresh server per run) so the screenshot reads like a real deployment.
    app = makeApp({ org: 'acme', app: 'live', limits: { rateLimitPerSecond: 10_000 } });
    other = makeApp({ org: 'globex', app: 'live' });
    server = await startTarget(sqliteTarget, [app, other]);
    admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
    const users = await admin.call('POST', '/users', {
      body: ['alice', 'bob', 'carol'].map((username) => ({ username, password: 'pw-123456' })),
    });
    assert.equal(users.status, 200, users.text);
    const made = await admin.call('POST', '/chatrooms', {
      body: { name: 'stage', description: 'console test', owner: 'alice', members: ['bob', 'carol'] },
    });
    assert.equal(made.status, 200, made.text);
    room = made.body.data.id;
    stream = await openStream(`${server.url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`, { token: appToken(app) });
    assert.equal(stream.status, 200, stream.text);
    browser = await launchChromium();
  });

  after(async () => {
    stream?.close();
    await browser?.close();
    await server?.close();
  });

  it('says a bad, expired or foreign token is refused, and enables nothing', async () => {
    const p = await openConsole();
    const expired = appToken(app, 1);
    await new Promise((r) => setTimeout(r, 2_100));
    for (const bad of ['not-a-token', appToken(makeApp()), expired]) {
      await signIn(p, bad);
      await p.waitForSelector('#status.error', { timeout: WAIT_MS });
      assert.match((await p.textContent('#status')) ?? '', /^token refused: /);
      assert.equal(await p.isDisabled('#watch'), true);
      assert.equal(await p.isDisabled('#room'), true);
      assert.equal(await p.$$eval('#app option', (o) => o.length), 0);
      await p.evaluate(() => {
        document.getElementById('status')!.className = '';
      });
    }
    await p.close();
  });

  it("lists only the apps a token opens: the second app's token does not list the first", async () => {
    const p = await openConsole();
    await signIn(p, appToken(other));
    await p.waitForSelector('#status:text-is("signed in")', { timeout: WAIT_MS });
    assert.deepEqual(await p.$$eval('#app option', (o) => o.map((x) => x.textContent)), [`${other.org}#${other.app}`]);

    await signIn(p, appToken(app));
    await p.waitForFunction(
      (name) => [...document.querySelectorAll('#app option')].map((o) => o.textContent).join() === name,
      `${app.org}#${app.app}`,
      { timeout: WAIT_MS },
    );
    await p.close();
  });

  it('signs in, picks the app and the room, and goes live with a snapshot of the empty room', async () => {
    page = await openConsole();
    await signIn(page, appToken(app));
    await page.waitForSelector('#watch:not([disabled])', { timeout: WAIT_MS });
    await page.selectOption('#app', { label: `${app.org}#${app.app}` });
    await page.fill('#room', room);
    await page.click('#watch');
    await page.waitForSelector('#status.live', { timeout: WAIT_MS });
    assert.equal(await page.textContent('#status'), `live: ${app.org}#${app.app} / ${room}`);

    const snapshot = json(await stream.next((m) => m.event === 'snapshot'));
    await waitForEventCount(1);
    assert.deepEqual(await eventLines(page), [{ cls: 'snapshot', text: `#${snapshot.seq}snapshot: 0 attributes` }]);
    assert.deepEqual(await rows(page), []);
    assert.equal(await page.textContent('#attrs-empty'), 'No attributes in this chatroom.');
    assert.equal(await page.textContent('#count'), '(0)');
  });

  it('shows an attribute set through the API with its owner and autoDelete flag', async () => {
    assert.deepEqual(await put('alice', { title: 'Friday jam', topic: 'jazz' }, 'NO_DELETE'), {
      successKeys: ['title', 'topic'],
      errorKeys: {},
    });
    await waitForRows([
      { key: 'title', value: 'Friday jam', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
    ]);
    assert.deepEqual(await put('bob', { 'seat.1': 'bob', mic: 'on' }), { successKeys: ['seat.1', 'mic'], errorKeys: {} });
    await waitForRows([
      { key: 'title', value: 'Friday jam', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'seat.1', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'mic', value: 'on', owner: 'bob', autoDelete: 'DELETE' },
    ]);
    assert.deepEqual(
      await rows(page).then((r) => r.map(({ tag: _t, ...rest }) => rest).sort((a, b) => a.key.localeCompare(b.key))),
      await stored(),
    );
    assert.equal(await page.textContent('#count'), '(4)');
    assert.equal(await page.isVisible('#attrs-empty'), false);
  });

  it('a forced set changes the owner (and the flag) shown', async () => {
    assert.deepEqual(await put('carol', { mic: 'off' }, 'NO_DELETE', true), { successKeys: ['mic'], errorKeys: {} });
    await waitForRows([
      { key: 'title', value: 'Friday jam', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'topic', value: 'jazz', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'seat.1', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'mic', value: 'off', owner: 'carol', autoDelete: 'NO_DELETE' },
    ]);
    assert.deepEqual(
      await rows(page).then((r) => r.map(({ tag: _t, ...rest }) => rest).sort((a, b) => a.key.localeCompare(b.key))),
      await stored(),
    );
  });

  it('a delete removes the row', async () => {
    const res = await admin.call('DELETE', `/metadata/chatroom/${room}/user/alice`, { body: { keys: ['topic'] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, { successKeys: ['topic'], errorKeys: {} });
    await waitForRows([
      { key: 'title', value: 'Friday jam', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'seat.1', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'mic', value: 'off', owner: 'carol', autoDelete: 'NO_DELETE' },
    ]);
    assert.equal(await page.$('#attrs tr[data-key="topic"]'), null);
    assert.equal(await page.textContent('#count'), '(3)');
  });

  it('lists every change event with its seq, newest first, as the API streams them', async () => {
    const changes = [];
    for (let i = 0; i < 4; i++) changes.push(json(await stream.next((m) => m.event === undefined)));
    assert.deepEqual(
      changes.map((e) => [e.reason, e.from]),
      [
        ['set', 'alice'],
        ['set', 'bob'],
        ['forced_set', 'carol'],
        ['delete', 'alice'],
      ],
    );
    const seqs = changes.map((e) => e.seq as number);
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      `seqs must increase: ${seqs}`,
    );

    const expected = changes
      .map((e) => {
        const text = Array.isArray(e.attributes)
          ? e.attributes.join(', ')
          : Object.entries(e.attributes as Record<string, string>)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ');
        return {
          cls: e.operation === 'updateChatRoomAttributes' ? 'update' : 'remove',
          text: `#${e.seq}${e.reason} by ${e.from}: ${text}`,
        };
      })
      .reverse();
    await waitForEventCount(5);
    const lines = await eventLines(page);
    assert.deepEqual(lines.slice(0, 4), expected);
    assert.deepEqual(
      lines.slice(0, 4).map((l) => l.text),
      [
        `#${seqs[3]}delete by alice: topic`,
        `#${seqs[2]}forced_set by carol: mic=off`,
        `#${seqs[1]}set by bob: seat.1=bob, mic=on`,
        `#${seqs[0]}set by alice: title=Friday jam, topic=jazz`,
      ],
    );
    assert.equal(at(lines, 4).cls, 'snapshot');
    assert.equal(lines.length, 5);

    // Each change shows the time it was made: the event's own timestamp, as a local clock time.
    const times = await eventTimes(page);
    assert.equal(times.length, 5);
    assert.deepEqual(
      times.slice(0, 4).map((t) => t.iso),
      changes.map((e) => new Date(e.timestamp as number).toISOString()).reverse(),
    );
    for (const t of times) assert.match(t.shown, /^\d\d:\d\d:\d\d\.\d{3}$/);
  });

  it("lists the app's chatrooms from GET .../chatrooms, and a click on one watches it", async () => {
    const listed = await admin.call('GET', '/chatrooms?limit=100');
    assert.equal(listed.status, 200, listed.text);
    const shown = await page.$$eval('#rooms tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(
      shown,
      listed.body.data.map((r: { id: string; name: string; owner: string; affiliations_count: number }) => [
        r.id,
        r.name,
        r.owner,
        String(r.affiliations_count),
      ]),
    );
    assert.deepEqual(at(shown, 0), [room, 'stage', 'alice', '3']);
    assert.equal(await page.getAttribute('#rooms tr.current', 'data-room'), room);

    const made = await admin.call('POST', '/chatrooms', { body: { name: 'backstage', description: 'second', owner: 'bob' } });
    assert.equal(made.status, 200, made.text);
    const second = made.body.data.id as string;
    const p = await openConsole();
    await signIn(p, appToken(app));
    await p.click(`#rooms tr[data-room="${second}"]`);
    await p.waitForSelector('#status.live', { timeout: WAIT_MS });
    assert.equal(await p.textContent('#status'), `live: ${app.org}#${app.app} / ${second}`);
    assert.equal(await p.inputValue('#room'), second);
    assert.equal(await p.inputValue('#w-as'), 'bob', 'writes act as the room owner unless told otherwise');
    assert.equal(await p.getAttribute('#rooms tr.current', 'data-room'), second);
    await p.close();
  });

  it('pages the room list: 100 rooms, then More for the rest', async () => {
    const them = client(server.url, `/${other.org}/${other.app}`, appToken(other));
    const u = await them.call('POST', '/users', { body: { username: 'olga', password: 'pw-123456' } });
    assert.equal(u.status, 200, u.text);
    for (let i = 0; i < 103; i++) {
      const r = await them.call('POST', '/chatrooms', { body: { name: `r${i}`, description: '', owner: 'olga' } });
      assert.equal(r.status, 200, r.text);
    }
    const p = await openConsole();
    await signIn(p, appToken(other));
    await p.waitForFunction(() => document.querySelectorAll('#rooms tr').length === 100, undefined, { timeout: WAIT_MS });
    assert.equal(await p.textContent('#room-count'), '(100+)');
    await p.click('#rooms-more');
    await p.waitForFunction(() => document.querySelectorAll('#rooms tr').length === 103, undefined, { timeout: WAIT_MS });
    assert.equal(await p.isVisible('#rooms-more'), false);
    assert.equal(await p.textContent('#room-count'), '(103)');
    const names = await p.$$eval('#rooms tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(
      names,
      Array.from({ length: 103 }, (_, i) => `r${i}`),
    );
    await p.close();
  });

  it("shows each key's revision (the seq of the event that last wrote it), owner and expiry", async () => {
    const res = await admin.call('POST', `/metadata/chatroom/${room}`, { body: { detail: true } });
    assert.equal(res.status, 200, res.text);
    const detail = res.body.data as Record<
      string,
      { value: string; owner: string; autoDelete: string; revision: number; expiresAt: number | null }
    >;
    const shown = await page.$$eval('#attrs tr', (trs) =>
      trs.map((tr) => {
        const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
        return { key: tr.getAttribute('data-key'), owner: cells[2], autoDelete: cells[3], revision: cells[4], expires: cells[5] };
      }),
    );
    assert.deepEqual(
      shown,
      Object.keys(detail)
        .sort()
        .map((k) => ({
          key: k,
          owner: detail[k]!.owner,
          autoDelete: detail[k]!.autoDelete,
          revision: String(detail[k]!.revision),
          expires: detail[k]!.expiresAt === null ? '—' : shown.find((r) => r.key === k)!.expires,
        })),
    );
    // The revisions are the seqs of the events that wrote the keys (the stream's, read above).
    const title = shown.find((r) => r.key === 'title')!;
    const mic = shown.find((r) => r.key === 'mic')!;
    assert.ok(Number(title.revision) > 0);
    assert.ok(Number(mic.revision) > Number(title.revision), 'mic was written after title');
    assert.deepEqual([title.owner, mic.owner], ['alice', 'carol']);
  });

  it('saves a screenshot of the populated console to docs/console.png (1280x720)', async () => {
    assert.deepEqual(await put('bob', { 'seat.2': 'dana', theme: 'dark' }, 'NO_DELETE'), {
      successKeys: ['seat.2', 'theme'],
      errorKeys: {},
    });
    await waitForRows([
      { key: 'title', value: 'Friday jam', owner: 'alice', autoDelete: 'NO_DELETE' },
      { key: 'seat.1', value: 'bob', owner: 'bob', autoDelete: 'DELETE' },
      { key: 'seat.2', value: 'dana', owner: 'bob', autoDelete: 'NO_DELETE' },
      { key: 'theme', value: 'dark', owner: 'bob', autoDelete: 'NO_DELETE' },
      { key: 'mic', value: 'off', owner: 'carol', autoDelete: 'NO_DELETE' },
    ]);
    await waitForEventCount(6);
    // No focus ring or caret in the picture.
    await page.locator('#room').blur();
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    const png = await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });
    // PNG IHDR: width and height, big-endian, at bytes 16..23.
    assert.equal(png.readUInt32BE(16), 1280);
    assert.equal(png.readUInt32BE(20), 720);
    assert.deepEqual(pageErrors, []);
  });

  /** The next change event the API streams for `reason` (the screenshot's set is skipped over). */
  const nextChange = async (reason: string) => json(await stream.next((m) => m.event === undefined && json(m).reason === reason));

  it('sets a key as the app: a forced set as the member named, shown with its owner, flag and revision', async () => {
    await page.fill('#w-key', 'topic');
    await page.fill('#w-value', 'blues');
    await page.selectOption('#w-auto', 'NO_DELETE');
    assert.equal(await page.inputValue('#w-as'), 'alice', 'the room owner by default');
    await page.click('#w-set');
    await page.waitForSelector('#w-result.ok', { timeout: WAIT_MS });
    assert.equal(await page.textContent('#w-result'), 'set topic');
    const ev = await nextChange('forced_set');
    assert.deepEqual([ev.reason, ev.from, ev.attributes], ['forced_set', 'alice', { topic: 'blues' }]);
    await page.waitForSelector(`#attrs tr[data-key="topic"][data-revision="${ev.seq}"]`, { timeout: WAIT_MS });
    const row = (await rows(page)).find((r) => r.key === 'topic');
    assert.deepEqual(row, { key: 'topic', value: 'blues', owner: 'alice', autoDelete: 'NO_DELETE', tag: 'tag NO_DELETE' });

    // A click on a row fills the form with the key, its value, owner and flag; a forced set as
    // another member takes the key over.
    await page.click('#attrs tr[data-key="seat.2"] td.key');
    assert.deepEqual(
      [
        await page.inputValue('#w-key'),
        await page.inputValue('#w-value'),
        await page.inputValue('#w-as'),
        await page.inputValue('#w-auto'),
      ],
      ['seat.2', 'dana', 'bob', 'NO_DELETE'],
    );
    await page.fill('#w-value', 'erin');
    await page.fill('#w-as', 'carol');
    await page.click('#w-set');
    const taken = await nextChange('forced_set');
    assert.deepEqual([taken.reason, taken.from, taken.attributes], ['forced_set', 'carol', { 'seat.2': 'erin' }]);
    await page.waitForSelector(`#attrs tr[data-key="seat.2"][data-revision="${taken.seq}"]`, { timeout: WAIT_MS });
    assert.deepEqual(
      (await rows(page)).find((r) => r.key === 'seat.2'),
      { key: 'seat.2', value: 'erin', owner: 'carol', autoDelete: 'NO_DELETE', tag: 'tag NO_DELETE' },
    );
    assert.deepEqual(
      await rows(page).then((r) => r.map(({ tag: _t, ...rest }) => rest).sort((a, b) => a.key.localeCompare(b.key))),
      await stored(),
    );
  });

  it('says why a write was refused (a member who is not in the room), and writes nothing', async () => {
    await page.fill('#w-key', 'topic');
    await page.fill('#w-value', 'rock');
    await page.fill('#w-as', 'mallory');
    await page.click('#w-set');
    await page.waitForSelector('#w-result.error', { timeout: WAIT_MS });
    assert.match((await page.textContent('#w-result')) ?? '', /user is not in chatroom|not exist/);
    assert.equal((await stored()).find((r) => r.key === 'topic')?.value, 'blues');
    await page.fill('#w-as', 'alice');
  });

  it('deletes a key as the app (forced, as admin) from its row, whoever owns it', async () => {
    await page.click('#attrs tr[data-key="seat.1"] button.del');
    const ev = await nextChange('forced_delete');
    assert.deepEqual([ev.reason, ev.from, ev.attributes], ['forced_delete', 'admin', ['seat.1']]);
    await page.waitForSelector('#attrs tr[data-key="seat.1"]', { state: 'detached', timeout: WAIT_MS });
    // The row goes with the change event; the result line with the call's answer, which may come after.
    await page.waitForSelector('#w-result.ok, #w-result.error', { timeout: WAIT_MS });
    assert.equal(await page.textContent('#w-result'), 'deleted seat.1');
    assert.equal(
      (await stored()).find((r) => r.key === 'seat.1'),
      undefined,
    );
  });

  it('increments a counter as the app: {"increment": {key: delta}} on the forced set route', async () => {
    const sent: Array<{ method: string; path: string; body: unknown }> = [];
    const watch = (r: { method(): string; url(): string; postData(): string | null }) => {
      if (new URL(r.url()).pathname.endsWith('/forced'))
        sent.push({ method: r.method(), path: new URL(r.url()).pathname, body: JSON.parse(r.postData() ?? 'null') });
    };
    page.on('request', watch);
    try {
      await page.fill('#w-key', 'gifts');
      await page.fill('#w-as', 'alice');
      await page.fill('#w-delta', '5');
      await page.click('#w-incr');
      // The previous write's result was cleared when this one started: this waits for this one's.
      await page.waitForSelector('#w-result.ok, #w-result.error', { timeout: WAIT_MS });
      assert.deepEqual(sent, [
        {
          method: 'PUT',
          path: `/${app.org}/${app.app}/metadata/chatroom/${room}/user/alice/forced`,
          body: { increment: { gifts: 5 } },
        },
      ]);
      assert.equal(await page.textContent('#w-result'), 'incremented gifts = 5');
      await page.waitForSelector('#attrs tr[data-key="gifts"]', { timeout: WAIT_MS });
      await page.fill('#w-delta', '-2');
      await page.click('#w-incr');
      await page.waitForFunction(() => document.getElementById('w-result').textContent === 'incremented gifts = 3', undefined, {
        timeout: WAIT_MS,
      });
      const first = await nextChange('increment');
      const second = await nextChange('increment');
      assert.deepEqual(
        [first.reason, first.attributes, second.reason, second.attributes],
        ['increment', { gifts: '5' }, 'increment', { gifts: '3' }],
      );
      // The table follows the event stream, which may reach the page after the call's answer.
      await page.waitForSelector(`#attrs tr[data-key="gifts"][data-revision="${second.seq}"]`, { timeout: WAIT_MS });
      const row = (await rows(page)).find((r) => r.key === 'gifts');
      assert.deepEqual(row, { key: 'gifts', value: '3', owner: 'alice', autoDelete: 'DELETE', tag: 'tag DELETE' });
    } finally {
      page.off('request', watch);
    }
  });

  it('at 420 px wide, stacks the panels: a long value wraps in a few lines, nothing overflows sideways', async () => {
    const made = await admin.call('POST', '/chatrooms', { body: { name: 'narrow', description: 'phone', owner: 'alice' } });
    assert.equal(made.status, 200, made.text);
    const narrowRoom = made.body.data.id as string;
    const value = 'a long value with words, then-a-long-unbroken-run-of-characters-0123456789abcdefghij';
    const set = await admin.call('PUT', `/metadata/chatroom/${narrowRoom}/user/alice`, { body: { metaData: { 'seat.1': value } } });
    assert.equal(set.status, 200, set.text);

    const p = await browser.newPage({ viewport: { width: 420, height: 800 } });
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    await p.goto(`${server.url}/console`);
    await signIn(p, appToken(app));
    await p.waitForSelector('#watch:not([disabled])', { timeout: WAIT_MS });
    await p.fill('#room', narrowRoom);
    await p.click('#watch');
    await p.waitForSelector('#attrs tr[data-key="seat.1"]', { timeout: WAIT_MS });
    const box = await p.$eval('#attrs tr[data-key="seat.1"] td.value', (td) => {
      const r = td.getBoundingClientRect();
      return { width: r.width, height: r.height, lineHeight: parseFloat(getComputedStyle(td).lineHeight) };
    });
    // The value is 84 characters: one a line (as before the fix) made it ~84 lines tall; at least ten a
    // line, padding included, is under nine.
    assert.ok(box.width >= 100, `value cell ${box.width} px wide`);
    assert.ok(box.height <= box.lineHeight * 9, `value cell ${box.height} px tall (${box.lineHeight} px a line)`);
    const scrollWidth = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 420, `the page is ${scrollWidth} px wide`);
    await p.close();
  });

  it('has an icon of its own, so the browser asks for no /favicon.ico', async () => {
    const p = await browser.newPage();
    const asked: string[] = [];
    const refused: string[] = [];
    p.on('request', (r) => asked.push(new URL(r.url()).pathname));
    p.on('console', (m) => {
      if (/Content Security Policy|Refused to load/i.test(m.text())) refused.push(m.text());
    });
    await p.goto(`${server.url}/console`);
    assert.match(await p.$eval('link[rel="icon"]', (l) => l.getAttribute('href') ?? ''), /^data:image\/svg\+xml,/);
    await p.waitForLoadState('load');
    assert.ok(!asked.includes('/favicon.ico'), `requests: ${asked.join(', ')}`);
    assert.deepEqual(refused, []);
    await p.close();
    assert.deepEqual(pageErrors, []);
  });
});
