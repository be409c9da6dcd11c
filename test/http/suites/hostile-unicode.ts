import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Target } from '../../support/server.js';
import { hostileHarness } from './hostile-harness.js';
import {
  byKey,
  expectedOutcome,
  label,
  LONE,
  type RoomModel,
  type RouteDef,
  RUNS,
  seedOf,
  sortedEntries,
  SPECIALS,
} from './hostile-support.js';

/** Unicode, control characters and lone surrogates in keys and values (see hostile-harness.ts). */
export function hostileUnicodeSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    const h = hostileHarness(target);
    const { membersOf, oracle } = h;

    it('property: unicode and control characters in keys and values are stored exactly or refused per key', async () => {
      const route: RouteDef = {
        name: 'set (unicode)',
        method: 'PUT',
        path: `/metadata/chatroom/${h.uni.id}/user/alice`,
        kind: 'set',
        room: h.uni,
        valid: null,
      };
      const delRoute: RouteDef = {
        name: 'delete (unicode)',
        method: 'DELETE',
        path: `/metadata/chatroom/${h.uni.id}/user/alice`,
        kind: 'delete',
        room: h.uni,
        valid: null,
      };
      const text = (max: number) => fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: max });
      const key = fc.oneof(
        text(8),
        fc.string({ unit: fc.constantFrom(...SPECIALS, ...LONE), minLength: 1, maxLength: 6 }),
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(key, text(12)), { minLength: 1, maxLength: 10 }), fc.boolean(), async (pairs, alsoDelete) => {
          // Written out by hand: JSON.stringify escapes lone surrogates (\udXXX) and keeps the rest raw.
          const body = `{"metaData":{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}}`;
          const parsed = JSON.parse(body).metaData as Record<string, string>;
          const res = await oracle(route, body, body);
          assert.equal(res.status, 200, label(body, res));
          const expected = expectedOutcome(parsed);
          assert.deepEqual(sortedEntries(res.body.data.errorKeys), expected.errorKeys, body);
          assert.deepEqual([...res.body.data.successKeys].sort(), expected.successKeys, body);
          if (alsoDelete) {
            const keys = Object.keys(parsed);
            const missing = keys
              .filter((k) => !h.uni.attrs.has(k))
              .map((k): [string, string] => [k, `key '${k}' does not exist`])
              .sort(byKey);
            const del = await oracle(delRoute, JSON.stringify({ keys }), `delete ${JSON.stringify(keys)}`);
            assert.equal(del.status, 200, label('delete', del));
            assert.deepEqual(sortedEntries(del.body.data.errorKeys), missing, `delete ${JSON.stringify(keys)}`);
          }
        }),
        { numRuns: RUNS, seed: seedOf(5) },
      );
    });

    it('lone surrogates (\\ud800 escapes) in values are stored exactly as reported, or refused per key', async () => {
      // A room of its own: a mismatch found here must not spill into the other tests' models.
      const id = await h.fx.createRoom('alice', []);
      const room: RoomModel = { id, attrs: new Map(), members: await membersOf(id) };
      const route: RouteDef = {
        name: 'set (lone surrogates)',
        method: 'PUT',
        path: `/metadata/chatroom/${id}/user/alice`,
        kind: 'set',
        room,
        valid: null,
      };
      for (const lone of ['\\ud800', '\\udfff', 'x\\udbffy', '\\udc00\\ud800']) {
        const res = await oracle(route, `{"metaData":{"lone":"${lone}"}}`, `value "${lone}"`);
        assert.equal(res.status, 200, label(lone, res));
        const { successKeys, errorKeys } = res.body.data;
        if (successKeys.length === 0) assert.deepEqual(errorKeys, { lone: "properties value of 'lone' is not Legal" }, lone);
        // Otherwise the oracle has just read back exactly the value sent.
      }
    });
  });
}
