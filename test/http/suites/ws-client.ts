import assert from 'node:assert/strict';
import { WebSocket, type ClientOptions } from 'ws';
import type { Fixture } from '../../support/fixture.js';

/**
 * A WebSocket client for the tests (the `ws` package, a real socket): every server message is
 * kept, parsed, in order; waiting is always for an expected message or the close, with a timeout
 * that fails with what was received.
 */
export interface WsClient {
  ws: WebSocket;
  /** Every message received so far, parsed. */
  messages: any[];
  /** The next message after the last one `next` returned that matches (those skipped are consumed). */
  next(predicate?: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  /** The first message received, now or later, that matches (whatever `next` consumed). */
  seen(predicate: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Sends a message (an object as JSON, a string as it is). */
  send(msg: unknown): void;
  /** Sends `msg` with a fresh id and waits for its reply. */
  request(msg: Record<string, unknown>, timeoutMs?: number): Promise<any>;
  /** Resolves with the close code and reason once the socket is closed, by either side. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export const WAIT_MS = 15_000;

/** `ws://…/{org}/{app}/ws` of a fixture, or `/app-id/{appId}/ws` with `byId`. */
export function wsUrl(fx: Fixture, opts: { byId?: boolean; token?: string } = {}): string {
  const base = fx.server.url.replace(/^http/, 'ws');
  const path = opts.byId ? `/app-id/${fx.app.appId}/ws` : `/${fx.app.org}/${fx.app.app}/ws`;
  return opts.token === undefined ? `${base}${path}` : `${base}${path}?access_token=${encodeURIComponent(opts.token)}`;
}

let nextId = 1;

/** Opens a socket to `url` and waits until it is open (the upgrade was accepted). */
export async function connectWs(url: string, options: ClientOptions = {}): Promise<WsClient> {
  const ws = new WebSocket(url, options);
  const messages: any[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let cursor = 0;
  let done = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      done = true;
      resolve({ code, reason: reason.toString() });
      wake();
    });
  });
  ws.on('error', () => {
    // reported through `closed` and the waits
  });
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()));
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });

  const summary = () =>
    messages
      .slice(-20)
      .map((m) => `  ${JSON.stringify(m).slice(0, 200)}`)
      .join('\n') || '  (no messages)';

  /** Resolves with what `take` finds, looking again at each message; rejects on timeout or close. */
  const waitFor = <T>(what: string, take: () => T | undefined, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const check = () => {
        const found = take();
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (done) {
          finish();
          reject(new Error(`socket closed before ${what}; received:\n${summary()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${timeoutMs} ms; received:\n${summary()}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const next = (predicate: (m: any) => boolean = () => true, timeoutMs = WAIT_MS) =>
    waitFor(
      'the expected message',
      () => {
        while (cursor < messages.length) {
          const m = messages[cursor++];
          if (predicate(m)) return m;
        }
        return undefined;
      },
      timeoutMs,
    );

  const seen = (predicate: (m: any) => boolean, timeoutMs = WAIT_MS) =>
    waitFor('the expected message', () => messages.find(predicate), timeoutMs);

  const send = (msg: unknown) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  return {
    ws,
    messages,
    next,
    seen,
    send,
    request(msg, timeoutMs = WAIT_MS) {
      const id = nextId++;
      send({ ...msg, id });
      // Matched by id wherever it is: `next` is left for the stream of events.
      return waitFor(
        `the reply to ${JSON.stringify(msg).slice(0, 200)}`,
        () => messages.find((m) => m.type === 'reply' && m.id === id),
        timeoutMs,
      );
    },
    closed,
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      const t = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(t);
    },
  };
}

/** Connects with the token as `?access_token=`. */
export function connectWithToken(fx: Fixture, token: string, options: ClientOptions = {}): Promise<WsClient> {
  return connectWs(wsUrl(fx, { token }), options);
}

/** Connects without a token and authenticates with a first `auth` message; waits for its reply. */
export async function connectThenAuth(fx: Fixture, token: string): Promise<WsClient> {
  const c = await connectWs(wsUrl(fx));
  const reply = await c.request({ op: 'auth', token });
  assert.equal(reply.status, 200, JSON.stringify(reply));
  return c;
}

/** Waits for the close; fails after `timeoutMs`. */
export async function closedWithin(c: WsClient, timeoutMs = WAIT_MS): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every client of a test, closed at its end whatever happened. */
export class Clients {
  private readonly all: WsClient[] = [];
  add<T extends WsClient>(c: T): T {
    this.all.push(c);
    return c;
  }
  async closeAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((c) => c.close()));
  }
}
