import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp } from '../../support/apps.js';
import { client, readReply, type Client, type Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';
import { assertError, assertRequestId, NO_TOKEN, range } from './errors-support.js';

/** fetch sets text/plain for a string body; bytes go out with no Content-Type at all. */
async function rawCall(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return readReply(await fetch(url, { method, headers, body: body === undefined ? undefined : new TextEncoder().encode(body) }));
}

async function readAll(c: Client, room: string): Promise<Record<string, string>> {
  const res = await c.call('POST', `/metadata/chatroom/${room}`, { body: {} });
  assert.equal(res.status, 200, res.text);
  return res.body.data;
}

const pairs = (n: number, prefix = 'p') => Object.fromEntries(range(n).map((i) => [`${prefix}${i}`, 'v']));

/** Spec section 3: the error rows, their envelope, and the order of checks. */
export function errorsChecksSuite(target: Target): void {
  describe(`errors and order of checks [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    let setPath: string;
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob', 'carol');
      room = await fx.createRoom('alice', ['bob']);
      setPath = `/metadata/chatroom/${room}/user/alice`;
      const seed = await fx.admin.call('PUT', setPath, { body: { metaData: { keep: 'alice' } } });
      assert.deepEqual(seed.body.data, { successKeys: ['keep'], errorKeys: {} });
    });
    after(() => fx.close());

    it('an unknown org/app or app id is 404 organization_application_not_found naming the path', async () => {
      const { org, app } = fx.app;
      const unknownId = fx.app.appId.replace(/./, (c) => (c === 'f' ? 'e' : 'f'));
      const cases: Array<[string, string, string]> = [
        ['PUT', `/noorg/noapp/metadata/chatroom/${room}/user/alice`, 'noorg/noapp'],
        ['POST', `/${org}/nosuchapp/metadata/chatroom/${room}`, `${org}/nosuchapp`],
        ['POST', `/noorg/${app}/chatrooms`, `noorg/${app}`],
        // an unknown app on an unknown route still reports the app
        ['GET', '/noorg/noapp/no/such/route', 'noorg/noapp'],
        ['POST', `/app-id/${unknownId}/metadata/chatroom/${room}`, `app-id/${unknownId}`],
        ['GET', `/app-id/${unknownId}/no/such/route`, `app-id/${unknownId}`],
      ];
      for (const [method, path, name] of cases) {
        for (const token of [appToken(fx.app), undefined]) {
          const res = await client(fx.server.url, '', token).call(method, path, method === 'GET' ? {} : { body: { keys: ['a'] } });
          assertError(
            res,
            404,
            'organization_application_not_found',
            `Could not find application for ${name} from URI: ${path.slice(1)}`,
            `${method} ${path}`,
          );
        }
      }
    });

    it('an unknown route under a known app is 404 service_resource_not_found, token or not', async () => {
      for (const c of [fx.admin, fx.adminById, fx.admin.as(undefined), fx.adminById.as(undefined)]) {
        for (const [method, path] of [
          ['GET', '/nothing'],
          ['POST', '/metadata/chatroom'],
          ['PUT', `/metadata/chatroom/${room}/user/alice/extra`],
          ['DELETE', `/metadata/chatroom/${room}/users/alice`],
        ] as const) {
          const res = await c.call(method, path, method === 'GET' ? {} : { body: { keys: ['keep'] } });
          assertError(res, 404, 'service_resource_not_found', 'Service resource not found', `${c.prefix} ${method} ${path}`);
        }
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('a known path with an unsupported method is 405, before the token is checked', async () => {
      for (const c of [fx.admin.as(undefined), fx.adminById.as(undefined), fx.admin]) {
        for (const [method, path] of [
          ['GET', `/metadata/chatroom/${room}`],
          ['PATCH', `/metadata/chatroom/${room}/user/alice`],
          ['GET', `/metadata/chatroom/${room}/user/alice`],
          ['POST', `/metadata/chatroom/${room}/user/alice/forced`],
        ] as const) {
          const res = await c.call(method, path, method === 'GET' ? {} : { body: { metaData: { keep: 'x' } } });
          assertError(res, 405, 'unsupported_service_operation', 'Service operation not supported', `${c.prefix} ${method} ${path}`);
        }
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('a known route with no token is 401 and changes nothing', async () => {
      const anon = fx.admin.as(undefined);
      assertError(await anon.call('PUT', setPath, { body: { metaData: { anon: '1' } } }), 401, 'unauthorized', NO_TOKEN, 'set');
      assertError(await anon.call('POST', `/metadata/chatroom/${room}`, { body: {} }), 401, 'unauthorized', NO_TOKEN, 'get');
      assertError(await anon.call('DELETE', setPath, { body: { keys: ['keep'] } }), 401, 'unauthorized', NO_TOKEN, 'delete');
      assertError(
        await fx.adminById.as(undefined).call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { body: { keys: ['keep'] } }),
        401,
        'unauthorized',
        NO_TOKEN,
        'forced delete by id',
      );
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('a body that is not valid JSON is 400 json_parse with the parser message', async () => {
      for (const [method, path] of [
        ['PUT', setPath],
        ['POST', `/metadata/chatroom/${room}`],
        ['DELETE', setPath],
      ] as const) {
        const res = await fx.admin.call(method, path, { body: '{"metaData":{"bad":', headers: { 'Content-Type': 'application/json' } });
        assertError(res, 400, 'json_parse', /\S/, `${method} ${path}`);
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('a body that is not application/json, or has no Content-Type, is 415; a charset parameter is fine', async () => {
      const body = JSON.stringify({ metaData: { media: 'x' } });
      const auth = { Authorization: `Bearer ${appToken(fx.app)}` };
      const url = `${fx.server.url}${fx.admin.prefix}${setPath}`;
      const plain = await fx.admin.call('PUT', setPath, { body, headers: { 'Content-Type': 'text/plain' } });
      assertError(plain, 415, 'web_application', 'Unsupported Media Type', 'text/plain');
      const form = await fx.admin.call('POST', `/metadata/chatroom/${room}`, {
        body: 'keys=a',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      assertError(form, 415, 'web_application', 'Unsupported Media Type', 'form on get');
      const bare = await rawCall(url, 'PUT', auth, body);
      assertError(bare, 415, 'web_application', 'Unsupported Media Type', 'no Content-Type');
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });

      const charset = await fx.admin.call('PUT', setPath, { body, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
      assert.equal(charset.status, 200, charset.text);
      assert.deepEqual(charset.body.data, { successKeys: ['media'], errorKeys: {} });
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice', media: 'x' });
      const del = await fx.admin.call('DELETE', setPath, { body: { keys: ['media'] } });
      assert.deepEqual(del.body.data, { successKeys: ['media'], errorKeys: {} });
    });

    it('a field of the wrong type or shape is 400 illegal_argument naming the field, and changes nothing', async () => {
      const forced = `${setPath}/forced`;
      const get = `/metadata/chatroom/${room}`;
      const cases: Array<[string, string, unknown, string]> = [
        ['PUT', setPath, { metaData: 'keep' }, 'metaData'],
        ['PUT', setPath, { metaData: ['keep'] }, 'metaData'],
        ['PUT', setPath, { metaData: null }, 'metaData'],
        ['PUT', setPath, { metaData: {} }, 'metaData'],
        ['PUT', setPath, { autoDelete: 'DELETE' }, 'metaData'],
        ['PUT', forced, { metaData: 'keep' }, 'metaData'],
        ['PUT', setPath, { metaData: { keep: 'changed', wt: '1' }, autoDelete: 1 }, 'autoDelete'],
        ['PUT', setPath, { metaData: { keep: 'changed', wt: '1' }, autoDelete: 'maybe' }, 'autoDelete'],
        ['PUT', forced, { metaData: { keep: 'changed', wt: '1' }, autoDelete: 'maybe' }, 'autoDelete'],
        ['DELETE', setPath, { keys: 'keep' }, 'keys'],
        ['DELETE', setPath, { keys: ['keep', 1] }, 'keys'],
        ['DELETE', `${setPath}/forced`, { keys: [1, 'keep'] }, 'keys'],
        ['POST', get, { keys: 'keep' }, 'keys'],
        ['POST', get, { keys: ['keep', 1] }, 'keys'],
      ];
      for (const [method, path, body, field] of cases) {
        const res = await fx.admin.call(method, path, { body });
        assertError(res, 400, 'illegal_argument', new RegExp(field), `${method} ${path} ${JSON.stringify(body)}`);
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('more than 10 pairs or keys in one set or delete is 400 exceed allowed batch size 10, and changes nothing', async () => {
      const keys11 = ['keep', ...range(10).map((i) => `p${i}`)];
      for (const [method, path, body] of [
        ['PUT', setPath, { metaData: pairs(11) }],
        ['PUT', `${setPath}/forced`, { metaData: { ...pairs(10), keep: 'forced' } }],
        ['DELETE', setPath, { keys: keys11 }],
        ['DELETE', `/metadata/chatroom/${room}/user/admin/forced`, { keys: keys11 }],
      ] as const) {
        const res = await fx.admin.call(method, path, { body });
        assertError(res, 400, 'illegal_argument', 'exceed allowed batch size 10', `${method} ${path}`);
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
      // exactly 10 is allowed
      const ten = await fx.admin.call('PUT', setPath, { body: { metaData: pairs(10) } });
      assert.equal(ten.status, 200, ten.text);
      assert.equal(ten.body.data.successKeys.length, 10);
      const del = await fx.admin.call('DELETE', setPath, { body: { keys: Object.keys(pairs(10)) } });
      assert.equal(del.body.data.successKeys.length, 10);
    });

    it('a delete with no keys or empty keys is 400', async () => {
      for (const path of [setPath, `/metadata/chatroom/${room}/user/admin/forced`]) {
        for (const body of [{}, { keys: [] }, { keys: null }]) {
          const res = await fx.admin.call('DELETE', path, { body });
          assertError(res, 400, 'illegal_argument', /keys/, `${path} ${JSON.stringify(body)}`);
        }
        const none = await fx.admin.call('DELETE', path);
        assertError(none, 400, 'illegal_argument', /\S/, `${path} no body`);
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('a get with more than 100 keys is 400; 100 is fine', async () => {
      const keys = ['keep', ...range(100).map((i) => `g${i}`)];
      const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys } });
      assertError(res, 400, 'illegal_argument', /keys/, '101 keys');
      const ok = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys: keys.slice(0, 100) } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body.data, { keep: 'alice' });
    });

    it('a body larger than the body limit is 413 with the envelope', async () => {
      const big = JSON.stringify({ metaData: { big: 'x'.repeat(2_000_000) } });
      const res = await fx.admin.call('PUT', setPath, { body: big, headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 413, res.text.slice(0, 300));
      assertError(res, 413, res.body.error, /\S/, '2 MB body');
      assert.ok(res.body.error.length > 0);
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('order: the token is checked before the body', async () => {
      const other = makeApp();
      const foreign = appToken(other);
      for (const [headers, body] of [
        [{ 'Content-Type': 'application/json' }, '{"metaData":'],
        [{ 'Content-Type': 'text/plain' }, '{"metaData":{"a":"1"}}'],
        [{ 'Content-Type': 'application/json' }, JSON.stringify({ metaData: pairs(11) })],
        [{ 'Content-Type': 'application/json' }, JSON.stringify({ metaData: 'x' })],
      ] as const) {
        const res = await fx.admin.as(foreign).call('PUT', setPath, { body, headers });
        assertError(res, 401, 'unauthorized', 'Unable to authenticate (OAuth)', `foreign token, ${body}`);
        const none = await fx.admin.as(undefined).call('PUT', `/metadata/chatroom/999999/user/alice`, { body, headers });
        assertError(none, 401, 'unauthorized', NO_TOKEN, `no token, ${body}`);
      }
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('order: the body is checked before the chatroom exists', async () => {
      const path = '/metadata/chatroom/999999/user/alice';
      const bad = await fx.admin.call('PUT', path, { body: { metaData: pairs(11) } });
      assertError(bad, 400, 'illegal_argument', 'exceed allowed batch size 10', 'batch, unknown room');
      const json = await fx.admin.call('PUT', path, { body: '{', headers: { 'Content-Type': 'application/json' } });
      assertError(json, 400, 'json_parse', /\S/, 'json, unknown room');
      const media = await fx.admin.call('PUT', path, { body: '{}', headers: { 'Content-Type': 'text/plain' } });
      assertError(media, 415, 'web_application', 'Unsupported Media Type', 'media, unknown room');
      const keys = await fx.user('alice').call('POST', '/metadata/chatroom/999999', { body: { keys: [1] } });
      assertError(keys, 400, 'illegal_argument', /keys/, 'get keys, unknown room');
    });

    it('order: the chatroom is checked before membership', async () => {
      const gone = 'grpID 999999 does not exist!';
      const body = { metaData: { a: '1' } };
      assertError(await fx.admin.call('PUT', '/metadata/chatroom/999999/user/carol', { body }), 404, 'resource_not_found', gone, 'set');
      assertError(
        await fx.user('carol').call('PUT', '/metadata/chatroom/999999/user/carol/forced', { body }),
        404,
        'resource_not_found',
        gone,
        'forced',
      );
      assertError(await fx.user('carol').call('POST', '/metadata/chatroom/999999', { body: {} }), 404, 'resource_not_found', gone, 'get');
      assertError(
        await fx.admin.call('DELETE', '/metadata/chatroom/999999/user/carol', { body: { keys: ['a'] } }),
        404,
        'resource_not_found',
        gone,
        'delete',
      );
      // and with a room that exists, the non-member is refused
      assertError(
        await fx.user('carol').call('PUT', `/metadata/chatroom/${room}/user/carol`, { body }),
        401,
        'unauthorized',
        'user is not in chatroom',
        'member',
      );
      assert.deepEqual(await readAll(fx.admin, room), { keep: 'alice' });
    });

    it('answers CORS preflights and marks normal responses for other origins', async () => {
      const origin = 'https://other.example';
      const pre = await rawCall(`${fx.server.url}${fx.admin.prefix}${setPath}`, 'OPTIONS', {
        Origin: origin,
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'authorization,content-type',
      });
      assert.equal(pre.status, 204, pre.text);
      assert.ok(['*', origin].includes(pre.headers.get('access-control-allow-origin') ?? ''), 'allow-origin');
      const methods = (pre.headers.get('access-control-allow-methods') ?? '').toUpperCase().split(/\s*,\s*/);
      assert.ok(methods.includes('PUT') && methods.includes('DELETE') && methods.includes('POST'), methods.join());
      const headers = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
      assert.ok(headers.includes('authorization') && headers.includes('content-type'), headers.join());
      assertRequestId(pre, 'preflight');

      const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {}, headers: { Origin: origin } });
      assert.equal(res.status, 200);
      assert.ok(['*', origin].includes(res.headers.get('access-control-allow-origin') ?? ''), 'allow-origin on a normal response');
      const err = await fx.admin.as(undefined).call('POST', `/metadata/chatroom/${room}`, { body: {}, headers: { Origin: origin } });
      assert.equal(err.status, 401);
      assert.ok(['*', origin].includes(err.headers.get('access-control-allow-origin') ?? ''), 'allow-origin on an error');
    });

    it('every response carries a distinct x-request-id', async () => {
      const replies = [
        await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} }),
        await fx.admin.call('GET', `/chatrooms/${room}`),
        await client(fx.server.url, '/noorg/noapp').call('GET', '/x'),
        await fx.admin.call('GET', '/nothing'),
        await fx.admin.call('GET', `/metadata/chatroom/${room}`),
        await fx.admin.as(undefined).call('POST', `/metadata/chatroom/${room}`, { body: {} }),
        await fx.admin.call('PUT', setPath, { body: { metaData: 'x' } }),
      ];
      const ids = replies.map((r) => {
        assertRequestId(r, `${r.status}`);
        return r.headers.get('x-request-id');
      });
      assert.equal(new Set(ids).size, ids.length);
    });
  });
}
