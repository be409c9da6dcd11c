// How one webhook delivery's HTTP exchange ends: cut off when the endpoint does not answer in time,
// a failed attempt on a redirect or on an answer cut off midway.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { makeApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { startTarget } from '../support/server.js';
import { adminOf, cleanupAfterEach, createRoom, createUsers, drained, FAST, SECRET, setAttr } from './webhooks-support.js';

// How a delivery's HTTP exchange ends does not depend on the store: these run on SQLite only.
describe('webhook requests', () => {
  const cleanups = cleanupAfterEach();

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
