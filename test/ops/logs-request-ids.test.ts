// Request ids on every answer: an x-request-id on each kind of answer, successes and errors, event
// streams too, distinct between requests, and a given one echoed back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, userToken } from '../support/apps.js';
import { call } from '../support/client.js';
import { startTarget, sqliteTarget, type ServerHandle } from '../support/server.js';
import { openStream } from '../support/sse.js';

const METRICS_TOKEN = `mt-${randomBytes(16).toString('hex')}`;

describe('x-request-id', () => {
  const app = makeApp();
  const prefix = `/${app.org}/${app.app}`;
  let server: ServerHandle;
  let room: string;
  before(async () => {
    server = await startTarget(sqliteTarget, [app], { env: { ROOMKV_METRICS_TOKEN: METRICS_TOKEN } });
    const token = appToken(app);
    assert.equal(
      (await call(server.url, 'POST', `${prefix}/users`, { token, body: { username: 'ann', password: 'pw-123456' } })).status,
      200,
    );
    const created = await call(server.url, 'POST', `${prefix}/chatrooms`, { token, body: { name: 'r', description: 'd', owner: 'ann' } });
    room = created.body.data.id;
  });
  after(() => server.close());

  /** Every kind of answer: successes, each error family, unknown paths and apps, operator routes, CORS. */
  function requests(): Array<{ name: string; status: number; send: (headers: Record<string, string>) => Promise<Response> }> {
    const token = appToken(app);
    const json = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
    const at =
      (path: string, init: RequestInit = {}) =>
      (headers: Record<string, string>) =>
        fetch(`${server.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...headers } });
    return [
      { name: 'tenant 200', status: 200, send: at(`${prefix}/users/ann`, { headers: { Authorization: `Bearer ${token}` } }) },
      {
        name: 'attribute set 200',
        status: 200,
        send: at(`${prefix}/metadata/chatroom/${room}/user/ann`, {
          method: 'PUT',
          headers: json,
          body: JSON.stringify({ metaData: { k: 'v' } }),
        }),
      },
      { name: 'no token 401', status: 401, send: at(`${prefix}/users/ann`) },
      {
        name: 'user token on an admin route 403',
        status: 403,
        send: at(`${prefix}/users/ann`, { headers: { Authorization: `Bearer ${userToken(app, 'ann')}` } }),
      },
      { name: 'unknown user 404', status: 404, send: at(`${prefix}/users/nobody`, { headers: { Authorization: `Bearer ${token}` } }) },
      {
        name: 'missing room 404',
        status: 404,
        send: at(`${prefix}/metadata/chatroom/424242`, { method: 'POST', headers: json, body: '{}' }),
      },
      {
        name: 'bad JSON 400',
        status: 400,
        send: at(`${prefix}/metadata/chatroom/${room}`, { method: 'POST', headers: json, body: '{"keys":' }),
      },
      {
        name: 'not JSON 415',
        status: 415,
        send: at(`${prefix}/metadata/chatroom/${room}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain' },
          body: 'x',
        }),
      },
      { name: 'wrong method 405', status: 405, send: at(`${prefix}/users`, { method: 'PATCH', headers: json, body: '{}' }) },
      { name: 'unknown path 404', status: 404, send: at('/no/such/path/at/all') },
      { name: 'unknown app 404', status: 404, send: at('/nosuchorg/nosuchapp/users', { headers: { Authorization: `Bearer ${token}` } }) },
      {
        name: 'token grant 400',
        status: 400,
        send: at(`${prefix}/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'x', client_secret: 'y' }),
        }),
      },
      {
        name: 'event stream 404',
        status: 404,
        send: at(`${prefix}/metadata/chatroom/424242/events`, { headers: { Authorization: `Bearer ${token}` } }),
      },
      { name: '/healthz', status: 200, send: at('/healthz') },
      { name: '/readyz', status: 200, send: at('/readyz') },
      { name: '/metrics 401', status: 401, send: at('/metrics') },
      { name: '/metrics 200', status: 200, send: at('/metrics', { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } }) },
      { name: '/openapi.json', status: 200, send: at('/openapi.json') },
      { name: '/console', status: 200, send: at('/console') },
      { name: '/docs (redirects followed)', status: 200, send: at('/docs') },
      {
        name: 'CORS preflight',
        status: 204,
        send: at(`${prefix}/users`, {
          method: 'OPTIONS',
          headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST' },
        }),
      },
    ];
  }

  it('is on every answer, successes and errors alike, and differs between requests', async () => {
    const seen = new Map<string, string>();
    const problems: string[] = [];
    for (const r of requests()) {
      const res = await r.send({});
      await res.arrayBuffer();
      if (res.status !== r.status) problems.push(`${r.name}: status ${res.status}`);
      const id = res.headers.get('x-request-id');
      if (!id) problems.push(`${r.name}: no x-request-id`);
      else if (seen.has(id)) problems.push(`${r.name}: the same id as ${seen.get(id)}`);
      else seen.set(id, r.name);
    }
    assert.deepEqual(problems, []);
  });

  it("is on an event stream's answer too", async () => {
    const stream = await openStream(`${server.url}${prefix}/metadata/chatroom/${room}/events`, { token: appToken(app) });
    try {
      assert.equal(stream.status, 200);
      assert.ok(stream.headers.get('x-request-id'), 'an x-request-id on the text/event-stream answer');
    } finally {
      stream.close();
    }
  });

  it('echoes a given x-request-id back, on every kind of answer', async () => {
    const problems: string[] = [];
    for (const r of requests()) {
      const given = `trace-${randomBytes(8).toString('hex')}`;
      const res = await r.send({ 'X-Request-Id': given });
      await res.arrayBuffer();
      if (res.headers.get('x-request-id') !== given) problems.push(`${r.name}: answered ${res.headers.get('x-request-id')}`);
    }
    const given = `trace-${randomBytes(8).toString('hex')}`;
    const stream = await openStream(`${server.url}${prefix}/metadata/chatroom/${room}/events`, {
      token: appToken(app),
      headers: { 'X-Request-Id': given },
    });
    stream.close();
    if (stream.headers.get('x-request-id') !== given) problems.push(`event stream: answered ${stream.headers.get('x-request-id')}`);
    assert.deepEqual(problems, []);
  });
});
