import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { at } from '../../support/at.js';
import type { Target } from '../../support/server.js';
import { hostileHarness } from './hostile-harness.js';
import {
  assertError,
  expectedOutcome,
  type Json,
  label,
  PASSWORD,
  type RoomModel,
  type RouteDef,
  RUNS,
  seedOf,
  sortedEntries,
} from './hostile-support.js';

/**
 * __proto__, constructor and prototype (see hostile-harness.ts) in bodies, keys, paths, grant names
 * and usernames: plain data that pollutes nothing.
 */
export function hostilePrototypeSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    const h = hostileHarness(target);
    const { send, rawCall, membersOf, verifyRoom, oracle } = h;

    it('__proto__, constructor and prototype at every level are plain data and pollute nothing', async () => {
      const [set, get, del] = [at(h.routes, 0), at(h.routes, 2), at(h.routes, 3)];
      const NAMES = ['__proto__', 'constructor', 'prototype'];
      for (const [i, n] of NAMES.entries()) {
        const q = JSON.stringify(n);
        // At the top level they are extra members: they neither supply nor replace a field.
        assertError(
          await oracle(set, `{${q}:{"metaData":{"polluted":"x"}}}`, `${n} at the top`),
          400,
          'illegal_argument',
          'body.metaData is required',
        );
        const extra = await oracle(
          set,
          `{"metaData":{"extra_${i}":"p"},${q}:{"autoDelete":"BAD","metaData":{"polluted":"x"}}}`,
          `${n} beside metaData`,
        );
        assert.deepEqual(extra.body.data, { successKeys: [`extra_${i}`], errorKeys: {} }, `${n} beside metaData`);
        // As keys they are ordinary legal keys; an object value under them is a per-key error.
        const asKey = await oracle(set, `{"metaData":{${q}:"v-${n}","deep":{${q}:{"polluted":"x"}}}}`, `${n} as a key`);
        assert.deepEqual(
          asKey.body.data,
          { successKeys: [n], errorKeys: { deep: "properties value of 'deep' is not Legal" } },
          `${n} as a key`,
        );
        const objValue = await oracle(set, `{"metaData":{${q}:{"polluted":"x"}}}`, `${n} with an object value`);
        assert.deepEqual(
          sortedEntries(objValue.body.data.errorKeys),
          [[n, `properties value of '${n}' is not Legal`]],
          `${n} object value`,
        );
        const got = await oracle(get, `{"keys":[${q},"toString","hasOwnProperty"]}`, `get ${n}`);
        assert.deepEqual(Object.keys(got.body.data), [n], `get ${n}`);
        const hidden = await oracle(get, `{${q}:{"keys":["k1"]}}`, `get with keys under ${n}`);
        assert.equal(Object.keys(hidden.body.data).length, h.main.attrs.size, `keys under ${n} are not keys: every attribute`);
        assertError(
          await oracle(del, `{${q}:{"keys":["k1"]}}`, `delete with keys under ${n}`),
          400,
          'illegal_argument',
          'body.keys is required',
        );
        // Every other body, moved under the name, is missing its fields.
        for (const route of h.routes.filter((x) => x.kind === 'other')) {
          const valid = route.valid as Json[] | Record<string, Json>;
          const body = Array.isArray(valid) ? `[{${q}:${JSON.stringify(valid[0])}}]` : `{${q}:${JSON.stringify(valid)}}`;
          assertError(await oracle(route, body, `body under ${n}`), 400, 'illegal_argument', undefined, `${route.name} under ${n}`);
        }
      }
      const fdel = await oracle(at(h.routes, 4), JSON.stringify({ keys: NAMES }), 'forced delete of the three');
      assert.deepEqual(fdel.body.data, { successKeys: NAMES, errorKeys: {} });
      // Grant names are looked up as data, never as inherited members of an object.
      for (const g of [...NAMES, 'toString', 'hasOwnProperty', 'valueOf']) {
        assertError(
          await oracle(at(h.routes, 9), JSON.stringify({ grant_type: g }), `grant ${g}`),
          400,
          'unsupported_grant_type',
          `grant_type ${g} is not supported`,
        );
      }
      // In the path: an unknown app, room or user, named as such.
      for (const n of NAMES) {
        const app = await send(
          'PUT',
          `/${n}/${n}/metadata/chatroom/${h.main.id}/user/alice`,
          { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
          '{"metaData":{"x":"1"}}',
        );
        assertError(
          app,
          404,
          'organization_application_not_found',
          `Could not find application for ${n}/${n} from URI: ${n}/${n}/metadata/chatroom/${h.main.id}/user/alice`,
        );
        const byId = await send('GET', `/app-id/${n}/users/alice`, { authorization: `Bearer ${h.token}` });
        assertError(
          byId,
          404,
          'organization_application_not_found',
          `Could not find application for app-id/${n} from URI: app-id/${n}/users/alice`,
        );
        assertError(
          await oracle(set, '{"metaData":{"x":"1"}}', `room ${n}`, { path: `/metadata/chatroom/${n}/user/alice` }),
          404,
          'resource_not_found',
          `grpID ${n} does not exist!`,
        );
        assertError(
          await oracle(set, '{"metaData":{"x":"1"}}', `user ${n}`, { path: `/metadata/chatroom/${h.main.id}/user/${n}` }),
          401,
          'unauthorized',
          'user is not in chatroom',
        );
      }
      // As usernames they are legal: users, a room, members and attributes under those names work.
      const reg = await rawCall('POST', '/users', JSON.stringify(NAMES.map((username) => ({ username, password: PASSWORD }))));
      assert.equal(reg.status, 200, reg.text);
      assert.deepEqual(
        reg.body.entities.map((e: { username: string }) => e.username),
        NAMES,
      );
      for (const n of NAMES) {
        const u = await rawCall('GET', `/users/${n}`, undefined);
        assert.equal(u.status, 200, u.text);
        assert.equal(u.body.entities[0].username, n);
      }
      const created = await rawCall(
        'POST',
        '/chatrooms',
        JSON.stringify({ name: 'p', description: 'd', owner: '__proto__', members: ['constructor'] }),
      );
      assert.equal(created.status, 200, created.text);
      const proto: RoomModel = { id: created.body.data.id, attrs: new Map(), members: '' };
      const added = await rawCall('POST', `/chatrooms/${proto.id}/users`, JSON.stringify({ usernames: ['prototype'] }));
      assert.deepEqual(added.body.data?.newmembers, ['prototype'], added.text);
      proto.members = await membersOf(proto.id);
      assert.deepEqual(
        JSON.parse(proto.members),
        NAMES.map((n) => JSON.stringify(n === '__proto__' ? { owner: n } : { member: n })).sort(),
      );
      const setAs = (who: string): RouteDef => ({
        name: `set as ${who}`,
        method: 'PUT',
        path: `/metadata/chatroom/${proto.id}/user/${who}`,
        kind: 'set',
        room: proto,
        valid: null,
      });
      const mine = await oracle(
        setAs('__proto__'),
        '{"metaData":{"__proto__":"mine","prototype":"p"},"autoDelete":"NO_DELETE"}',
        'set as user __proto__',
      );
      assert.deepEqual(mine.body.data, { successKeys: ['__proto__', 'prototype'], errorKeys: {} });
      const theirs = await oracle(setAs('constructor'), '{"metaData":{"__proto__":"theirs"}}', 'constructor sets a key of __proto__');
      assert.deepEqual(sortedEntries(theirs.body.data.errorKeys), [['__proto__', "key '__proto__' is not part of you"]]);
      const leaving = await oracle(
        setAs('prototype'),
        '{"metaData":{"constructor":"byproto"},"autoDelete":"DELETE"}',
        'set as user prototype',
      );
      assert.deepEqual(leaving.body.data, { successKeys: ['constructor'], errorKeys: {} });
      // Leaving removes the leaver's autoDelete attributes and nobody else's.
      const left = await rawCall('DELETE', `/chatrooms/${proto.id}/users/prototype`, undefined);
      assert.equal(left.status, 200, left.text);
      proto.members = await membersOf(proto.id);
      proto.attrs.delete('constructor');
      await verifyRoom(proto, 'prototype left');
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), h.protoBefore, 'Object.prototype gained properties');
      for (const k of ['polluted', 'metaData', 'keys', 'autoDelete', 'x', 'grant_type'])
        assert.equal(({} as Record<string, unknown>)[k], undefined, `({}).${k}`);
    });

    it('property: bodies with __proto__, constructor and prototype at random levels are answered exactly', async () => {
      const route: RouteDef = {
        name: 'set (proto property)',
        method: 'PUT',
        path: `/metadata/chatroom/${h.uni.id}/user/alice`,
        kind: 'set',
        room: h.uni,
        valid: null,
      };
      type Node = string | Array<[string, Node]>;
      const keyArb = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'a', 'b.c', 'd-1');
      const { node } = fc.letrec<{ node: Node }>((tie) => ({
        node: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          fc.constantFrom('v', '', 'x'),
          fc.array(fc.tuple(keyArb, tie('node')), { maxLength: 4 }),
        ),
      }));
      const ser = (n: Node): string =>
        typeof n === 'string' ? JSON.stringify(n) : `{${n.map(([k, v]) => `${JSON.stringify(k)}:${ser(v)}`).join(',')}}`;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(keyArb, node), { minLength: 1, maxLength: 8 }),
          fc.array(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), node), { maxLength: 2 }),
          async (pairs, top) => {
            const text = `{${top.map(([k, v]) => `${JSON.stringify(k)}:${ser(v)},`).join('')}"metaData":${ser(pairs)}}`;
            const parsed = JSON.parse(text).metaData as Record<string, unknown>;
            const res = await oracle(route, text, text);
            assert.equal(res.status, 200, label(text, res));
            const expected = expectedOutcome(parsed);
            assert.deepEqual(sortedEntries(res.body.data.errorKeys), expected.errorKeys, text);
            assert.deepEqual([...res.body.data.successKeys].sort(), expected.successKeys, text);
          },
        ),
        { numRuns: RUNS, seed: seedOf(4) },
      );
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), h.protoBefore, 'Object.prototype gained properties');
      await verifyRoom(h.uni, 'the proto property');
    });
  });
}
