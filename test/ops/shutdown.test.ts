// Graceful shutdown of roomkv as its own process: SIGTERM under load (8 writers and an open event
// stream) answers every call already sent, ends the stream with a reconnect hint, exits 0, and a
// restart on the same data dir has every acknowledged write, each call all or nothing. SQLite.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { appToken, makeApp, tempDir, writeAppsFile } from '../support/apps.js';
import { client } from '../support/client.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { openStream } from '../support/sse.js';
import { waitFor } from './support.js';

const WRITERS = 8;

interface CallRecord {
  writer: number;
  keys: [string, string];
  startedAt: number;
  /** The call was started before the test sent SIGTERM. */
  beforeSigterm: boolean;
  endedAt?: number;
  status?: number;
  /** The error envelope's description, when the answer was not a 200. */
  description?: string;
  /** Both keys were reported stored. */
  acknowledged?: boolean;
  /** The network error, when the call got no answer. */
  error?: string;
}

function networkError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return `${e.message ?? String(err)}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
}

/**
 * A set call whose body arrives in two parts: the headers and a first piece now, the rest on
 * `finish()`. Until then the server holds it in flight, so a shutdown has to wait for it.
 */
function slowSet(url: string, token: string, metaData: Record<string, string>) {
  const body = JSON.stringify({ metaData });
  const req = httpRequest(url, {
    method: 'PUT',
    agent: false,
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Authorization: `Bearer ${token}` },
  });
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  req.write(body.slice(0, 8));
  return { answer, finish: () => req.end(body.slice(8)) };
}

describe('graceful shutdown (SIGTERM) under load', () => {
  it('exits 0, answers every call sent before SIGTERM with 200, ends the event stream with retry:, and loses no acknowledged write', async () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 1_000_000, maxAttributesPerRoom: 1_000_000 } });
    const dataDir = tempDir();
    // The slow call below must not meet the request timeout while the test waits for the load.
    const env = {
      ROOMKV_STORE: 'sqlite',
      ROOMKV_DATA_DIR: dataDir,
      ROOMKV_APPS_FILE: writeAppsFile([app], dataDir),
      ROOMKV_REQUEST_TIMEOUT_MS: '120000',
    };
    let server: ChildServer | undefined = await spawnServer(env);
    try {
      const exit = once(server.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      let exited = false;
      void exit.then(() => {
        exited = true;
      });
      const admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
      const users = await admin.call('POST', '/users', { body: { username: 'writer', password: 'pw-123456' } });
      assert.equal(users.status, 200, users.text);
      const created = await admin.call('POST', '/chatrooms', { body: { name: 'load', description: 'shutdown', owner: 'writer' } });
      assert.equal(created.status, 200, created.text);
      const room = created.body.data.id as string;

      const stream = await openStream(`${server.url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`, { token: appToken(app) });
      assert.equal(stream.status, 200, stream.text);
      await stream.next((m) => m.event === 'snapshot');

      const records: CallRecord[] = [];
      let sigtermSent = false;
      let sigtermAt = 0;
      // One call is still uploading its body when SIGTERM comes: the drain must wait for it, and
      // the writers keep calling meanwhile.
      const slowRecord: CallRecord = { writer: -1, keys: ['slowa', 'slowb'], startedAt: performance.now(), beforeSigterm: true };
      records.push(slowRecord);
      const slow = slowSet(`${server.url}/${app.org}/${app.app}/metadata/chatroom/${room}/user/writer`, appToken(app), {
        slowa: 's',
        slowb: 's',
      });
      const slowDone = slow.answer
        .then(
          (res) => {
            slowRecord.status = res.status;
            slowRecord.acknowledged = res.status === 200 && res.body?.data?.successKeys?.length === 2;
            if (res.status !== 200) slowRecord.description = JSON.stringify(res.body);
          },
          (err: unknown) => {
            slowRecord.error = networkError(err);
          },
        )
        .finally(() => {
          slowRecord.endedAt = performance.now();
        });
      const writer = async (w: number) => {
        for (let i = 0; !exited; i++) {
          const rec: CallRecord = {
            writer: w,
            keys: [`w${w}n${i}a`, `w${w}n${i}b`],
            startedAt: performance.now(),
            beforeSigterm: !sigtermSent,
          };
          records.push(rec);
          try {
            const res = await admin.call('PUT', `/metadata/chatroom/${room}/user/writer`, {
              body: { metaData: { [rec.keys[0]]: `v${i}`, [rec.keys[1]]: `v${i}` } },
            });
            rec.status = res.status;
            if (res.status !== 200) rec.description = `${res.body?.error}: ${res.body?.error_description}`;
            rec.acknowledged =
              res.status === 200 && res.body?.data?.successKeys?.length === 2 && Object.keys(res.body.data.errorKeys).length === 0;
          } catch (err) {
            rec.error = networkError(err);
            return; // the server is going away: this writer stops
          } finally {
            rec.endedAt = performance.now();
          }
        }
      };
      const writers = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

      await waitFor(
        'every writer to have 5 acknowledged calls',
        () => {
          const acked = new Map<number, number>();
          for (const r of records) if (r.acknowledged) acked.set(r.writer, (acked.get(r.writer) ?? 0) + 1);
          return Array.from({ length: WRITERS }, (_, w) => acked.get(w) ?? 0).every((n) => n >= 5);
        },
        20_000,
      );

      sigtermSent = true;
      sigtermAt = performance.now();
      server.child.kill('SIGTERM');
      // The drain is under way and the writers met it: then the slow call sends the rest of its body.
      await waitFor('a call started after SIGTERM to end', () => records.some((r) => !r.beforeSigterm && r.endedAt !== undefined));
      slow.finish();
      await slowDone;
      const [code, signal] = await exit;
      await writers;
      await stream.closed;
      const output = server.output();
      server = undefined;

      assert.equal(signal, null, `killed by ${signal}:\n${output}`);
      assert.equal(code, 0, `exit code ${code}:\n${output}`);

      const inFlight = records.filter((r) => r.beforeSigterm && (r.endedAt ?? Infinity) > sigtermAt);
      assert.ok(inFlight.length >= 1, 'some calls were in flight when SIGTERM was sent');
      const answered = records.filter((r) => r.status !== undefined);
      const notOk = answered.filter((r) => r.status !== 200 || !r.acknowledged);
      assert.deepEqual(
        notOk.map((r) => `${r.keys[0]}: ${r.status} ${r.description ?? ''}, started ${r.beforeSigterm ? 'before' : 'after'} SIGTERM`),
        [],
        'every answered call was a 200 that stored both keys',
      );
      const cut = records.filter((r) => r.error !== undefined && r.beforeSigterm);
      assert.deepEqual(
        cut.map((r) => `${r.keys[0]} started ${(sigtermAt - r.startedAt).toFixed(1)} ms before SIGTERM: ${r.error}`),
        [],
        `calls already sent when SIGTERM came got no answer (${inFlight.length} were in flight)`,
      );

      // The event stream: a final reconnect hint after the last event, then the end.
      assert.equal(stream.endReason, 'end', `the stream ended cleanly, not: ${stream.endReason}`);
      const raw = stream.raw();
      const tail = raw.slice(raw.lastIndexOf('\ndata:') + 1);
      assert.match(tail, /^retry: *\d+$/m, `a retry: line after the last event; the stream ended with:\n${tail.slice(-300)}`);

      // Restart on the same data dir: every acknowledged call is there, every call all or nothing.
      server = await spawnServer(env);
      const after = await client(server.url, `/${app.org}/${app.app}`, appToken(app)).call('POST', `/metadata/chatroom/${room}`, {
        body: {},
      });
      assert.equal(after.status, 200, after.text);
      const stored = after.body.data as Record<string, string>;
      const problems: string[] = [];
      const known = new Set<string>();
      for (const r of records) {
        const [a, b] = r.keys;
        known.add(a).add(b);
        if (r.acknowledged && !(a in stored && b in stored)) problems.push(`${a}/${b}: acknowledged but missing`);
        if (a in stored !== b in stored) problems.push(`${a}/${b}: only one of the call's two keys stored`);
      }
      for (const k of Object.keys(stored)) if (!known.has(k)) problems.push(`${k}: stored but never sent`);
      assert.deepEqual(problems, []);
      assert.ok(records.filter((r) => r.acknowledged).length >= WRITERS * 5);
    } finally {
      await server?.stop();
    }
  });
});
