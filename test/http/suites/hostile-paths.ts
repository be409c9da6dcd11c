import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { at } from '../../support/at.js';
import type { Target } from '../../support/server.js';
import { hostileHarness } from './hostile-harness.js';
import { assertError, type Kind, label, type RouteDef, RUNS, seedOf, SPECIALS } from './hostile-support.js';

/** A string as a path segment; lone surrogates become the bytes of their code point (not UTF-8). */
function encodeSegment(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/**
 * Hostile paths (see hostile-harness.ts): unicode room ids and usernames, encoded slashes and dot
 * segments, and percent-encoding that is not valid UTF-8.
 */
export function hostilePathsSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    const h = hostileHarness(target);
    const { send, verifyRoom, oracle } = h;

    it('property: unicode room ids and usernames in the path (percent-encoded) are unknown rooms and non-members', async () => {
      const set = at(h.routes, 0);
      const memberNames = ['alice', 'bob'];
      const segment = fc.string({ unit: fc.constantFrom(...SPECIALS, '1', '2', '.', '..'), minLength: 1, maxLength: 16 });
      const calls = [
        { method: 'PUT', tail: '/user/alice', body: '{"metaData":{"k1":"path"}}', kind: 'set' as Kind },
        { method: 'PUT', tail: '/user/alice/forced', body: '{"metaData":{"k1":"path"}}', kind: 'set' as Kind },
        { method: 'POST', tail: '', body: '{"keys":["k1"]}', kind: 'get' as Kind },
        { method: 'DELETE', tail: '/user/alice', body: '{"keys":["k1"]}', kind: 'delete' as Kind },
        { method: 'DELETE', tail: '/user/admin/forced', body: '{"keys":["k1"]}', kind: 'delete' as Kind },
      ];
      await fc.assert(
        fc.asyncProperty(segment, fc.nat(), fc.boolean(), async (s, c, asRoom) => {
          const chosen = calls[c % calls.length]!;
          if (asRoom) {
            if (s === h.main.id || s === h.uni.id) return;
            const route: RouteDef = {
              ...set,
              name: `${chosen.method} room ${JSON.stringify(s)}`,
              method: chosen.method,
              kind: chosen.kind,
            };
            const res = await oracle(route, chosen.body, 'unknown room', { path: `/metadata/chatroom/${encodeSegment(s)}${chosen.tail}` });
            assertError(res, 404, 'resource_not_found', `grpID ${s} does not exist!`, `room ${JSON.stringify(s)}`);
          } else {
            if (memberNames.includes(s.toLowerCase()) || chosen.kind === 'get' || chosen.tail.includes('admin')) return;
            const tail = chosen.tail.replace('alice', encodeSegment(s));
            const route: RouteDef = {
              ...set,
              name: `${chosen.method} user ${JSON.stringify(s)}`,
              method: chosen.method,
              kind: chosen.kind,
            };
            const res = await oracle(route, chosen.body, 'non-member', { path: `/metadata/chatroom/${h.main.id}${tail}` });
            assertError(res, 401, 'unauthorized', 'user is not in chatroom', `user ${JSON.stringify(s)}`);
          }
        }),
        { numRuns: RUNS, seed: seedOf(6) },
      );
    });

    it('encoded slashes and dots, dot segments and invalid percent-encoding in ids never reach another room', async () => {
      const set = at(h.routes, 0);
      const body = '{"metaData":{"k1":"traversal"}}';
      const exact: Array<[string, number, string, string]> = [
        [`/metadata/chatroom/%2e%2e/user/alice`, 404, 'resource_not_found', 'grpID .. does not exist!'],
        [`/metadata/chatroom/%2E%2E%2F${h.main.id}/user/alice`, 404, 'resource_not_found', `grpID ../${h.main.id} does not exist!`],
        [`/metadata/chatroom/..%2F${h.main.id}/user/alice`, 404, 'resource_not_found', `grpID ../${h.main.id} does not exist!`],
        [`/metadata/chatroom/..%5C${h.main.id}/user/alice`, 404, 'resource_not_found', `grpID ..\\${h.main.id} does not exist!`],
        [`/metadata/chatroom/${h.main.id}%2F/user/alice`, 404, 'resource_not_found', `grpID ${h.main.id}/ does not exist!`],
        [`/metadata/chatroom/%00/user/alice`, 404, 'resource_not_found', 'grpID \u0000 does not exist!'],
        [`/metadata/chatroom/${h.main.id}/user/..%2Falice`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${h.main.id}/user/%2e%2e`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${h.main.id}/user/alice%00`, 401, 'unauthorized', 'user is not in chatroom'],
        [`/metadata/chatroom/${h.main.id}/user/bob%2F..%2Falice`, 401, 'unauthorized', 'user is not in chatroom'],
      ];
      for (const [path, status, error, description] of exact) {
        assertError(await oracle(set, body, path, { path }), status, error, description, path);
      }
      // Literal dot segments and slashes: taken literally, they name no route here.
      const refused = [
        `/metadata/chatroom/x/../${h.main.id}/user/alice`,
        `/metadata/chatroom/../chatroom/${h.main.id}/user/alice`,
        `/metadata/./chatroom/${h.main.id}/user/alice`,
        `/metadata/chatroom/${h.main.id}/user/bob/../alice`,
        `/metadata/chatroom/${h.main.id}%2Fuser%2Falice`,
        `/metadata/chatroom/${h.main.id}/user/alice/..`,
      ];
      for (const path of refused) {
        const res = await oracle(set, body, path, { path });
        assert.ok(res.status >= 400 && res.status < 500, label(path, res));
      }
      const otherApp = await send(
        'PUT',
        `/${h.fx.app.org}/x/../${h.fx.app.app}/metadata/chatroom/${h.main.id}/user/alice`,
        { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        body,
      );
      assertError(otherApp, 404, 'organization_application_not_found', undefined, 'dot segment in the app name');
      await verifyRoom(h.main, 'dot segments');
    });

    it('a path segment that is not valid percent-encoded UTF-8 is a 4xx in the Agora envelope', async () => {
      const set = at(h.routes, 0);
      const body = '{"metaData":{"k1":"traversal"}}';
      const invalid = [
        `/metadata/chatroom/${encodeSegment('\ud800')}/user/alice`,
        `/metadata/chatroom/${h.main.id}/user/${encodeSegment('al\udfffice')}`,
        `/metadata/chatroom/%C0%AE%C0%AE/user/alice`,
        `/metadata/chatroom/%/user/alice`,
        `/metadata/chatroom/%zz/user/alice`,
        `/metadata/chatroom/${h.main.id}/user/%FF`,
      ];
      for (const path of invalid) {
        const res = await oracle(set, body, path, { path });
        assert.ok(res.status === 400 || res.status === 404, label(path, res));
      }
    });
  });
}
