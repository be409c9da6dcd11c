import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userToken } from '../../support/apps.js';
import { at } from '../../support/at.js';
import type { Target } from '../../support/server.js';
import { hostileHarness } from './hostile-harness.js';
import { assertError, label } from './hostile-support.js';

/**
 * Hostile headers (see hostile-harness.ts): odd and refused Content-Types, doubled Authorization and
 * Content-Type headers, an empty Authorization; then the server is still up and its rooms read back.
 */
export function hostileHeadersSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    const h = hostileHarness(target);
    const { send, verifyRoom, assertNoHostileUser, oracle } = h;

    it('Content-Type: a charset, odd casing and whitespace are accepted and still validated; anything else is 415', async () => {
      const set = at(h.routes, 0);
      const accepted = [
        'Application/JSON; charset=UTF-8',
        'APPLICATION/JSON',
        'application/json;charset=utf-8',
        'application/json ; charset=UTF-8',
        'application/json;',
      ];
      for (const ct of accepted) {
        const ok = await oracle(set, `{"metaData":{"ct":"${ct}"}}`, ct, { headers: { 'content-type': ct } });
        assert.deepEqual(ok.body.data, { successKeys: ['ct'], errorKeys: {} }, label(ct, ok));
        // The media type is not a way around the body schema.
        assertError(
          await oracle(set, '{"metaData":5}', `${ct} + wrong type`, { headers: { 'content-type': ct } }),
          400,
          'illegal_argument',
          'body.metaData must be object',
        );
        assertError(await oracle(set, '{"metaData":', `${ct} + truncated`, { headers: { 'content-type': ct } }), 400, 'json_parse');
      }
      const refused = [
        'text/plain',
        'text/json',
        'application/x-www-form-urlencoded',
        'application/jsonp',
        'application/json-patch+json',
        'multipart/form-data; boundary=x',
        'application/xml',
        'json',
        '*/*',
        'application/json, text/plain',
        '',
      ];
      for (const ct of refused) {
        assertError(
          await oracle(set, '{"metaData":{"k1":"ct"}}', `Content-Type ${JSON.stringify(ct)}`, { headers: { 'content-type': ct } }),
          415,
          'web_application',
          'Unsupported Media Type',
          ct,
        );
      }
      const missing = await send(set.method, `${h.prefix}${set.path}`, { authorization: `Bearer ${h.token}` }, '{"metaData":{"k1":"ct"}}');
      assertError(missing, 415, 'web_application', 'Unsupported Media Type', 'no Content-Type');
      await verifyRoom(h.main, 'no Content-Type');
    });

    it('doubled Authorization or Content-Type headers never let a later header override the first', async () => {
      const set = at(h.routes, 0);
      const body = '{"metaData":{"k1":"doubled"}}';
      const alice = `Bearer ${userToken(h.fx.app, 'alice')}`;
      const bob = `Bearer ${userToken(h.fx.app, 'bob')}`;
      const app = `Bearer ${h.token}`;
      // The first header is not good enough: refused, whatever follows.
      for (const auth of [
        ['garbage', app],
        ['Basic x', app],
        [bob, alice],
        ['', app],
        [bob, app],
      ]) {
        const res = await oracle(set, body, `Authorization ${JSON.stringify(auth)}`, { headers: { Authorization: auth } });
        assert.ok(res.status >= 400 && res.status < 500, label(`Authorization ${JSON.stringify(auth)}`, res));
      }
      const refusedCt = await oracle(set, body, 'Content-Type text/plain then json', {
        headers: { 'Content-Type': ['text/plain', 'application/json'] },
      });
      assert.ok(refusedCt.status >= 400 && refusedCt.status < 500, label('Content-Type text/plain, application/json', refusedCt));
      // The first is good: answered as it says, or refused for the ambiguity (the oracle checks either).
      await oracle(set, body, 'Authorization app then garbage', { headers: { Authorization: [app, 'garbage'] } });
      await oracle(set, body, 'Authorization alice then bob', { headers: { Authorization: [alice, bob] } });
      await oracle(set, body, 'Content-Type json then text/plain', { headers: { 'Content-Type': ['application/json', 'text/plain'] } });
    });

    it('an empty Authorization header, or Bearer alone, is 401 expired and changes nothing', async () => {
      // The client_credentials and password grants take no token at all.
      const needToken = h.routes.filter((r) => !/client_credentials|password/.test(r.name));
      for (const [i, route] of needToken.entries()) {
        for (const auth of ['', 'Bearer', 'Bearer    ']) {
          const res = await oracle(route, JSON.stringify(route.valid), `Authorization ${JSON.stringify(auth)}`, {
            headers: { Authorization: auth },
          });
          assertError(
            res,
            401,
            'unauthorized',
            'Unable to authenticate due to expired access token',
            `${route.name} #${i} ${JSON.stringify(auth)}`,
          );
        }
      }
    });

    it('the server is still up and every room reads back as the answers said', async () => {
      await verifyRoom(h.main, 'everything');
      await verifyRoom(h.uni, 'everything');
      await assertNoHostileUser('everything');
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), h.protoBefore);
    });
  });
}
