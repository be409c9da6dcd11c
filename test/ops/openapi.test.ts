// The OpenAPI document at /openapi.json describes every route the server registered (under both
// tenant prefixes), with request bodies, the 200 answer and Agora's error envelope; /docs browses it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { RESERVED_ORGS } from '../../src/config/apps.js';
import { loadConfig } from '../../src/config/config.js';
import { registeredRoutes } from '../../src/http/app.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { appToken, makeApp, tempDir, writeAppsFile, type TestApp } from '../support/apps.js';
import { client } from '../support/client.js';

/** Tenant routes that take a JSON body (spec sections 2, 5 and 6), by method and path after the prefix. */
const WITH_BODY = new Set([
  'POST /metadata/chatroom/{chatroomId}',
  'PUT /metadata/chatroom/{chatroomId}/user/{username}',
  'DELETE /metadata/chatroom/{chatroomId}/user/{username}',
  'PUT /metadata/chatroom/{chatroomId}/user/{username}/forced',
  'DELETE /metadata/chatroom/{chatroomId}/user/{username}/forced',
  'POST /users',
  'POST /chatrooms',
  'POST /chatrooms/{id}/users',
  'POST /token',
]);
const TENANT_PREFIXES = ['/{org}/{app}', '/app-id/{appId}'];

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('OpenAPI document', () => {
  let server: RunningServer;
  let doc: any;
  const app: TestApp = makeApp();
  const dataDir = tempDir();
  before(async () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir) });
    server = await startServer(config, pino({ level: 'silent' }));
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = await res.json();
  });
  after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A schema, with a `$ref` into components followed. */
  function resolve(schema: any): any {
    if (schema && typeof schema.$ref === 'string') {
      const name = schema.$ref.replace('#/components/schemas/', '');
      assert.ok(doc.components?.schemas?.[name], `${schema.$ref} resolves`);
      return resolve(doc.components.schemas[name]);
    }
    return schema;
  }

  const documented = () => registeredRoutes(server.app).filter((r) => !r.hidden && r.method !== 'HEAD' && r.method !== 'OPTIONS');

  it('is OpenAPI 3 with paths', () => {
    assert.match(String(doc.openapi), /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info?.title, 'string');
    assert.equal(typeof doc.info?.version, 'string');
    assert.equal(typeof doc.paths, 'object');
  });

  it('lists every registered route with its method', () => {
    const routes = documented();
    // The whole API: 19 tenant routes under two prefixes, plus the operator routes.
    assert.ok(routes.length >= 38, `${routes.length} routes registered`);
    const missing = routes
      .filter((r) => doc.paths[toOpenApiPath(r.url)]?.[r.method.toLowerCase()] === undefined)
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(missing, [], 'routes missing from /openapi.json');
  });

  it('names every path parameter of a route', () => {
    const problems: string[] = [];
    for (const r of documented()) {
      const path = toOpenApiPath(r.url);
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      if (!op) continue;
      const params = new Set(
        [...(doc.paths[path].parameters ?? []), ...(op.parameters ?? [])].filter((p: any) => p.in === 'path').map((p: any) => p.name),
      );
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        if (!params.has(name)) problems.push(`${r.method} ${path}: {${name}}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('documents for each tenant route its request body, its 200 answer and the error envelope', () => {
    const problems: string[] = [];
    let tenant = 0;
    let bodies = 0;
    for (const r of documented()) {
      const path = toOpenApiPath(r.url);
      const prefix = TENANT_PREFIXES.find((p) => path.startsWith(`${p}/`));
      if (!prefix) continue;
      tenant++;
      const name = `${r.method} ${path}`;
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      if (!op) continue; // reported by the test above
      if (WITH_BODY.has(`${r.method} ${path.slice(prefix.length)}`)) {
        bodies++;
        const schema = op.requestBody?.content?.['application/json']?.schema;
        if (!schema || typeof schema !== 'object') problems.push(`${name}: no application/json requestBody schema`);
      }
      const ok = op.responses?.['200'];
      if (!ok) problems.push(`${name}: no 200 response`);
      else if (!ok.content || Object.values(ok.content).every((c: any) => !c.schema))
        problems.push(`${name}: the 200 response has no schema`);
      const errKey = Object.keys(op.responses ?? {}).find((k) => /^4(XX|xx|\d\d)$/.test(k));
      const errSchema = errKey === undefined ? undefined : resolve(op.responses[errKey].content?.['application/json']?.schema);
      if (!errSchema) problems.push(`${name}: no 4xx response with a JSON schema`);
      else {
        for (const field of ['error', 'error_description', 'exception', 'timestamp', 'duration']) {
          if (!errSchema.properties?.[field]) problems.push(`${name}: the 4xx schema lacks ${field}`);
        }
      }
    }
    assert.ok(tenant >= 38, `${tenant} tenant routes checked`);
    assert.equal(bodies, WITH_BODY.size * TENANT_PREFIXES.length, 'every body-taking route was registered under both prefixes');
    assert.deepEqual(problems, []);
  });

  it("marks the get call's body optional, with {} as its example, and every other body required", () => {
    const problems: string[] = [];
    for (const prefix of TENANT_PREFIXES) {
      for (const route of WITH_BODY) {
        const [method, path] = route.split(' ');
        assert.ok(method, route);
        const body = doc.paths[`${prefix}${path}`]?.[method.toLowerCase()]?.requestBody;
        const optional = route === 'POST /metadata/chatroom/{chatroomId}';
        if (body?.required !== !optional) problems.push(`${method} ${prefix}${path}: requestBody.required is ${body?.required}`);
        if (optional && JSON.stringify(body?.content?.['application/json']?.example) !== '{}') {
          problems.push(`${method} ${prefix}${path}: example ${JSON.stringify(body?.content?.['application/json']?.example)}, not {}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(!JSON.stringify(doc).includes('x-roomkv-'), 'the internal mark does not reach the document');
  });

  it('still validates the get call as before: no body, {} and keys read; a body of the wrong shape is refused', async () => {
    const admin = client(server.url, `/${app.org}/${app.app}`, appToken(app));
    assert.equal((await admin.call('POST', '/users', { body: { username: 'docs-owner', password: 'pw-123456' } })).status, 200);
    const room = await admin.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'docs-owner' } });
    assert.equal(room.status, 200, room.text);
    const path = `/metadata/chatroom/${room.body.data.id}`;
    const set = await admin.call('PUT', `${path}/user/docs-owner`, { body: { metaData: { a: '1', b: '2' } } });
    assert.deepEqual(set.body.data, { successKeys: ['a', 'b'], errorKeys: {} });
    for (const body of [undefined, {}, { keys: null }]) {
      const got = await admin.call('POST', path, body === undefined ? {} : { body });
      assert.equal(got.status, 200, got.text);
      assert.deepEqual(got.body.data, { a: '1', b: '2' }, `body ${JSON.stringify(body)}`);
    }
    const some = await admin.call('POST', path, { body: { keys: ['b'] } });
    assert.deepEqual(some.body.data, { b: '2' });
    const wrong = await admin.call('POST', path, { body: { keys: 'b' } });
    assert.equal(wrong.status, 400, wrong.text);
  });

  it('reserves as org names every first path segment the server serves itself', () => {
    const own = new Set(
      registeredRoutes(server.app)
        .map((r) => r.url.split('/')[1] ?? '')
        .filter((s) => /^[^:*]/.test(s)),
    );
    assert.deepEqual(
      [...own].filter((s) => !RESERVED_ORGS.includes(s.toLowerCase())),
      [],
      'served but not reserved',
    );
    assert.deepEqual(
      RESERVED_ORGS.filter((s) => !own.has(s)),
      [],
      'reserved but not served',
    );
  });

  it('GET /docs answers HTML (following redirects)', async () => {
    const res = await fetch(`${server.url}/docs`, { redirect: 'follow' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), /<html/i);
  });
});
