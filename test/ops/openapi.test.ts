// The OpenAPI document at /openapi.json describes every route the server registered (under both
// tenant prefixes), with request bodies, the 200 answer and Agora's error envelope; /docs browses it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { registeredRoutes } from '../../src/http/app.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeApp, tempDir, writeAppsFile } from '../support/apps.js';

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
  before(async () => {
    const dataDir = tempDir();
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([makeApp()], dataDir) });
    server = await startServer(config, pino({ level: 'silent' }));
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = await res.json();
  });
  after(() => server.close());

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
      const params = new Set([...(doc.paths[path].parameters ?? []), ...(op.parameters ?? [])]
        .filter((p: any) => p.in === 'path').map((p: any) => p.name));
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
      else if (!ok.content || Object.values(ok.content).every((c: any) => !c.schema)) problems.push(`${name}: the 200 response has no schema`);
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

  it('GET /docs answers HTML (following redirects)', async () => {
    const res = await fetch(`${server.url}/docs`, { redirect: 'follow' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), /<html/i);
  });
});
