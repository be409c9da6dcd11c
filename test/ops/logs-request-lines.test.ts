// The request log of roomkv as its own process: one JSON line per request with its id, app, route,
// status and duration, and never a token, password or secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile, type TestApp } from '../support/apps.js';
import { at, group } from '../support/at.js';
import { call } from '../support/client.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { openStream } from '../support/sse.js';
import { connectWs } from '../http/suites/ws-client.js';
import { waitFor } from './support.js';

const METRICS_TOKEN = `mt-${randomBytes(16).toString('hex')}`;

interface LogLine {
  [field: string]: unknown;
  reqId?: string;
}

/** The JSON lines of a process's output (banner and other plain lines are left out). */
function jsonLines(output: string): Array<{ text: string; line: LogLine }> {
  return output
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((text) => {
      try {
        return { text, line: JSON.parse(text) as LogLine };
      } catch {
        throw new Error(`a log line that looks like JSON but is not: ${text}`);
      }
    });
}

/** Every form in which a secret could leak into a line: as is, URL-encoded, and a long piece of it. */
function forms(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret)];
  if (secret.length > 60) out.push(secret.slice(30, 60));
  return out;
}

function leaks(output: string, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const { text } of jsonLines(output)) {
    for (const [name, secret] of Object.entries(secrets)) {
      if (forms(secret).some((f) => text.includes(f))) found.push(`${name} in: ${text}`);
    }
  }
  return found;
}

describe('request log of a roomkv process (ROOMKV_LOG_LEVEL=info)', () => {
  const app: TestApp = makeApp();
  const prefix = `/${app.org}/${app.app}`;
  const tenant = `${app.org}#${app.app}`;
  const password = `pw-${randomBytes(10).toString('hex')}`;
  const secrets: Record<string, string> = {
    '007 app token': appToken(app),
    '007 user token': userToken(app, 'logger'),
    '007 user token of the ?access_token= stream': userToken(app, 'logger', 7200),
    password,
    'client secret': app.clientSecret,
    'app certificate': app.appCertificate,
    'metrics token': METRICS_TOKEN,
    "another app's token in ?access_token=": appToken(makeApp()),
    '007 token in the query of a plain call': userToken(app, 'logger', 5400),
    '007 user token of the ?access_token= WebSocket': userToken(app, 'logger', 3600),
  };
  /** The calls made, by the request id they were sent with. */
  const made = new Map<string, { status: number; route: string; app?: string }>();
  const streamId = `log-${randomBytes(8).toString('hex')}`;
  const wsId = `log-${randomBytes(8).toString('hex')}`;
  let server: ChildServer;

  // One of each kind of call, each with its own x-request-id; the tests read the log they left.
  before(async () => {
    server = await spawnServer({
      ROOMKV_STORE: 'sqlite',
      ROOMKV_LOG_LEVEL: 'info',
      ROOMKV_DATA_DIR: tempDir(),
      ROOMKV_APPS_FILE: writeAppsFile([app]),
      ROOMKV_METRICS_TOKEN: METRICS_TOKEN,
    });
    const send = async (
      method: string,
      path: string,
      route: string,
      opts: { token?: string; body?: unknown; app?: string | null } = {},
    ) => {
      const id = `log-${randomBytes(8).toString('hex')}`;
      const res = await call(server.url, method, path, { token: opts.token, body: opts.body, headers: { 'X-Request-Id': id } });
      made.set(id, { status: res.status, route, ...(opts.app === null ? {} : { app: opts.app ?? tenant }) });
      return res;
    };

    const admin = secrets['007 app token'];
    const users = await send('POST', `${prefix}/users`, '/:org/:app/users', { token: admin, body: { username: 'logger', password } });
    assert.equal(users.status, 200, users.text);
    const room = await send('POST', `${prefix}/chatrooms`, '/:org/:app/chatrooms', {
      token: admin,
      body: { name: 'r', description: 'd', owner: 'logger' },
    });
    assert.equal(room.status, 200, room.text);
    const roomId = room.body.data.id as string;

    const cc = await send('POST', `${prefix}/token`, '/:org/:app/token', {
      body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
    });
    assert.equal(cc.status, 200, cc.text);
    secrets['issued app token'] = cc.body.access_token;
    const pw = await send('POST', `${prefix}/token`, '/:org/:app/token', {
      body: { grant_type: 'password', username: 'logger', password },
    });
    assert.equal(pw.status, 200, pw.text);
    secrets['issued user token'] = pw.body.access_token;
    const badPw = await send('POST', `${prefix}/token`, '/:org/:app/token', {
      body: { grant_type: 'password', username: 'logger', password: `${password}-wrong` },
    });
    assert.equal(badPw.status, 400);

    const set = await send(
      'PUT',
      `${prefix}/metadata/chatroom/${roomId}/user/logger`,
      '/:org/:app/metadata/chatroom/:chatroomId/user/:username',
      { token: secrets['007 user token'], body: { metaData: { a: '1' } } },
    );
    assert.equal(set.status, 200, set.text);
    const get = await send('POST', `${prefix}/metadata/chatroom/${roomId}`, '/:org/:app/metadata/chatroom/:chatroomId', {
      token: secrets['issued user token'],
      body: {},
    });
    assert.deepEqual(get.body.data, { a: '1' });
    const byIssued = await send('GET', `${prefix}/users/logger`, '/:org/:app/users/:username', { token: secrets['issued app token'] });
    assert.equal(byIssued.status, 200);
    const refused = await send('GET', `/app-id/${app.appId}/users/logger`, '/app-id/:appId/users/:username', {
      token: secrets['007 user token'],
    });
    assert.equal(refused.status, 403);
    const metrics = await send('GET', '/metrics', '/metrics', { token: METRICS_TOKEN, app: null });
    assert.equal(metrics.status, 200);
    const unknown = await send('GET', `${prefix}/no/such/route`, 'unmatched', { token: admin, app: null });
    assert.equal(unknown.status, 404);

    // Tokens in query strings are logged with the URL unless redacted: a refused stream and a plain call.
    const otherApp = await send(
      'GET',
      `${prefix}/metadata/chatroom/${roomId}/events?access_token=${encodeURIComponent(secrets["another app's token in ?access_token="]!)}`,
      '/:org/:app/metadata/chatroom/:chatroomId/events',
    );
    assert.equal(otherApp.status, 401, otherApp.text);
    const inQuery = await send(
      'GET',
      `${prefix}/users/logger?token=x&access_token=${secrets['007 token in the query of a plain call']}`,
      '/:org/:app/users/:username',
      { token: admin },
    );
    assert.equal(inQuery.status, 200, inQuery.text);

    // An event stream with the token in the query string, as a browser's EventSource sends it.
    const stream = await openStream(`${server.url}${prefix}/metadata/chatroom/${roomId}/events`, {
      query: { access_token: secrets['007 user token of the ?access_token= stream']! },
      headers: { 'X-Request-Id': streamId },
    });
    assert.equal(stream.status, 200, stream.text);
    await stream.next((m) => m.event === 'snapshot');
    stream.close();
    await stream.closed;

    // A WebSocket, its token in the query string; a subscription and an op on it, then closed.
    const ws = await connectWs(
      `${server.url.replace(/^http/, 'ws')}${prefix}/ws?access_token=${encodeURIComponent(secrets['007 user token of the ?access_token= WebSocket']!)}`,
      { headers: { 'X-Request-Id': wsId } },
    );
    assert.equal((await ws.request({ op: 'subscribe', room: roomId })).status, 200);
    assert.equal((await ws.request({ op: 'ping' })).status, 200);
    await ws.close();

    // Each request's line is written as its answer finishes: wait for those of the plain calls.
    await waitFor('a log line for every call', () =>
      [...made.keys()].every((id) => jsonLines(server.output()).some((l) => l.line.reqId === id)),
    ).catch((err: Error) => {
      const missing = [...made.keys()].filter((id) => !jsonLines(server.output()).some((l) => l.line.reqId === id));
      throw new Error(`${err.message}; no line for ${missing.map((id) => made.get(id)!.route).join(', ')}`);
    });
  });
  after(() => server.stop());

  it('writes one line per request with reqId, app, route, status and durationMs', () => {
    const lines = jsonLines(server.output());
    const problems: string[] = [];
    for (const [id, want] of made) {
      const mine = lines.filter((l) => l.line.reqId === id);
      if (mine.length !== 1) {
        problems.push(`${id} (${want.route}): ${mine.length} lines`);
        continue;
      }
      const l = at(mine, 0).line;
      if (l.status !== want.status) problems.push(`${id}: status ${String(l.status)}, answered ${want.status}`);
      if (l.route !== want.route) problems.push(`${id}: route ${String(l.route)}, expected ${want.route}`);
      if (want.app !== undefined && l.app !== want.app) problems.push(`${id}: app ${String(l.app)}, expected ${want.app}`);
      if (typeof l.durationMs !== 'number' || l.durationMs < 0) problems.push(`${id}: durationMs ${String(l.durationMs)}`);
    }
    assert.deepEqual(problems, []);
  });

  it("writes the line of an event stream's request when the stream ends", async () => {
    const line = await waitFor(
      "the event stream's log line",
      () => jsonLines(server.output()).find((l) => l.line.reqId === streamId),
      3000,
    ).catch(() => assert.fail(`no log line with reqId ${streamId} for GET .../events after the subscriber left`));
    assert.equal(jsonLines(server.output()).filter((l) => l.line.reqId === streamId).length, 1);
    assert.equal(line.line.route, '/:org/:app/metadata/chatroom/:chatroomId/events');
    assert.equal(line.line.status, 200);
    assert.equal(line.line.app, tenant);
    assert.equal(typeof line.line.durationMs, 'number');
  });

  it("writes the line of a WebSocket's upgrade request when the socket closes: its id, 101, its route and app, its URL without the token", async () => {
    const line = await waitFor(
      "the WebSocket's log line",
      () => jsonLines(server.output()).find((l) => l.line.reqId === wsId && l.line.msg === 'request'),
      3000,
    ).catch(() => assert.fail(`no request line with reqId ${wsId} after the WebSocket closed`));
    assert.equal(jsonLines(server.output()).filter((l) => l.line.reqId === wsId && l.line.msg === 'request').length, 1);
    assert.equal(line.line.route, '/:org/:app/ws');
    assert.equal(line.line.method, 'GET');
    assert.equal(line.line.status, 101);
    assert.equal(line.line.app, tenant);
    assert.equal(line.line.url, `${prefix}/ws?access_token=[redacted]`);
    assert.equal(typeof line.line.durationMs, 'number');
  });

  it('never writes a token, a password or a secret: not the 007 tokens, the issued ones, the ?access_token=, the password, the client secret', () => {
    assert.ok(secrets['issued app token'] && secrets['issued user token']);
    assert.ok(jsonLines(server.output()).length >= made.size);
    assert.deepEqual(leaks(server.output(), secrets), []);
  });
});

describe("request log of the development app's server", () => {
  let server: ChildServer;
  before(async () => {
    server = await spawnServer({ ROOMKV_STORE: 'sqlite', ROOMKV_LOG_LEVEL: 'info', ROOMKV_DATA_DIR: tempDir(), ROOMKV_APPS_FILE: '' });
    // The banner is printed once the server listens, after the line spawnServer waits for.
    await waitFor("the development app's banner", () => /export TOKEN='[^']+'\n[^]*Try it/.test(server.output()));
  });
  after(() => server.stop());

  it('prints the credentials in its banner, but no JSON log line carries them', async () => {
    const banner = server.output();
    const field = (re: RegExp) => {
      const m = re.exec(banner);
      assert.ok(m, `the banner shows ${re}:\n${banner}`);
      return group(m, 1);
    };
    const token = field(/export TOKEN='(007[^']+)'/);
    const certificate = field(/App Certificate\s+([0-9a-f]{32})/);
    const clientId = field(/client id\s+(\S+)/);
    const clientSecret = field(/client secret\s+(\S+)/);
    const password = `pw-${randomBytes(10).toString('hex')}`;

    const users = await call(server.url, 'POST', '/demo/demo/users', { token, body: { username: 'dev', password } });
    assert.equal(users.status, 200, users.text);
    const cc = await call(server.url, 'POST', '/demo/demo/token', {
      body: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
    });
    assert.equal(cc.status, 200, cc.text);
    const pw = await call(server.url, 'POST', '/demo/demo/token', { body: { grant_type: 'password', username: 'dev', password } });
    assert.equal(pw.status, 200, pw.text);
    const room = await call(server.url, 'POST', '/demo/demo/chatrooms', {
      token: cc.body.access_token,
      body: { name: 'r', description: 'd', owner: 'dev' },
    });
    assert.equal(room.status, 200, room.text);
    const stream = await openStream(`${server.url}/demo/demo/metadata/chatroom/${room.body.data.id}/events`, {
      query: { access_token: pw.body.access_token },
    });
    assert.equal(stream.status, 200, stream.text);
    await stream.next((m) => m.event === 'snapshot');
    stream.close();
    await stream.closed;

    // The lines of the four plain calls (the stream's own line is the subject of another test).
    await waitFor(
      'the log lines of the four calls',
      () => jsonLines(server.output()).filter((l) => typeof l.line.status === 'number').length >= 4,
    );
    assert.deepEqual(
      leaks(server.output(), {
        'printed app token': token,
        'app certificate': certificate,
        'client secret': clientSecret,
        password,
        'issued app token': cc.body.access_token,
        'issued user token': pw.body.access_token,
      }),
      [],
    );
  });
});
