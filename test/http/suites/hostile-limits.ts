import assert from 'node:assert/strict';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { at } from '../../support/at.js';
import type { Target } from '../../support/server.js';
import { hostileHarness } from './hostile-harness.js';
import { assertError, HOSTILE_USER, label, MB, type RawReply } from './hostile-support.js';

/** Hostile bodies past the limits (see hostile-harness.ts): bodies over the body limit, and JSON nested too deep. */
export function hostileLimitsSuite(target: Target): void {
  describe(`hostile input [${target.name}]`, () => {
    const h = hostileHarness(target);
    const { verifyRoom, oracle } = h;

    it('bodies over the body limit are 413 with the envelope, and 20 x 5 MB do not grow the process by 100 MB', async () => {
      const big = Buffer.alloc(5 * MB, 'x');
      const bigJson = Buffer.concat([Buffer.from('{"metaData":{"big":"'), Buffer.alloc(5 * MB, 'y'), Buffer.from('"}}')]);
      const set = at(h.routes, 0);
      const sendBig = (body: Buffer, chunked: boolean): Promise<RawReply> =>
        new Promise((resolve, reject) => {
          const headers: OutgoingHttpHeaders = { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' };
          if (!chunked) headers['content-length'] = String(body.length);
          const req = request(
            { host: h.base.hostname, port: h.base.port, method: set.method, path: `${h.prefix}${set.path}`, headers, agent: false },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (d: Buffer) => chunks.push(d));
              res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                resolve({ status: res.statusCode!, headers: res.headers, text, body: JSON.parse(text) });
              });
            },
          );
          let answered = false;
          req.on('response', () => {
            answered = true;
          });
          // The server may answer and close before the whole body is written: that is its right.
          req.on('error', (err) => {
            if (!answered) reject(err);
          });
          if (chunked) {
            for (let off = 0; off < body.length; off += 64 * 1024) req.write(body.subarray(off, off + 64 * 1024));
            req.end();
          } else req.end(body);
        });
      const check = (res: RawReply, what: string) => {
        assertError(res, 413, 'request_entity_too_large', undefined, what);
        assert.match(res.body.error_description, /larger than \d+ bytes/, what);
      };
      check(await sendBig(big, false), 'warm-up');
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 20; i++) check(await sendBig(i % 2 === 0 ? big : bigJson, i % 4 === 3), `5 MB body #${i}`);
      const grown = process.memoryUsage().rss - before;
      assert.ok(grown < 100 * MB, `RSS grew by ${Math.round(grown / MB)} MB over 20 x 5 MB refused bodies`);
      await verifyRoom(h.main, 'the huge bodies');
      assert.equal(h.main.attrs.has('big'), false);
    });

    it('deeply nested JSON (10,000 and 100,000 levels) in values and as the whole body is refused before parsing', async () => {
      const set = at(h.routes, 0);
      const tooDeep = 'JSON nesting deeper than 32 levels';
      for (const depth of [10_000, 100_000]) {
        const arrays = '['.repeat(depth) + ']'.repeat(depth);
        const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        for (const [name, deep] of [
          ['arrays', arrays],
          ['objects', objects],
        ] as const) {
          const what = `${depth} levels of ${name}`;
          assertError(
            await oracle(set, `{"metaData":{"deep":${deep},"flat":"v${depth}"}}`, `${what} in a value`),
            400,
            'json_parse',
            tooDeep,
            `${what} in a value`,
          );
          for (const route of h.routes) {
            // The token route has a small body limit of its own: a body over it is 413 before any parsing.
            const refused = (res: RawReply, tag: string, description?: string) =>
              route.path === '/token' && res.status === 413
                ? assertError(res, 413, 'request_entity_too_large', undefined, tag)
                : assertError(res, 400, 'json_parse', description, tag);
            refused(await oracle(route, deep, `${what} as the body`), `${route.name} ${what} as the body`, tooDeep);
            refused(await oracle(route, deep.slice(0, depth), `${what} unclosed`), `${route.name} ${what} unclosed`);
          }
          assertError(
            await oracle(at(h.routes, 2), `{"keys":[${deep}]}`, `${what} as a get key`),
            400,
            'json_parse',
            tooDeep,
            `${what} as a get key`,
          );
          assertError(
            await oracle(at(h.routes, 3), `{"keys":${deep}}`, `${what} as delete keys`),
            400,
            'json_parse',
            tooDeep,
            `${what} as delete keys`,
          );
          assertError(
            await oracle(at(h.routes, 5), `{"username":"${HOSTILE_USER}","password":"pw","nickname":${deep}}`, `${what} as a nickname`),
            400,
            'json_parse',
            tooDeep,
            `${what} as a nickname`,
          );
        }
      }
      // An object value a few levels deep is still parsed, and still a per-key error.
      const shallow = await oracle(set, '{"metaData":{"deep":[[[{"a":1}]]],"flat":"v-shallow"}}', 'an object value 5 levels deep');
      assert.equal(shallow.status, 200, label('shallow', shallow));
      assert.deepEqual(shallow.body.data, { successKeys: ['flat'], errorKeys: { deep: "properties value of 'deep' is not Legal" } });
    });
  });
}
