import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppRecord } from '../../src/config/apps.js';
import { envelopeHead, type Resource } from '../../src/http/envelope.js';
import { pickedAttributesJson } from '../../src/store/attr-json.js';

/**
 * The get path and the envelope write JSON text by hand, pair by pair, instead of building an
 * object and stringifying it. These properties hold the hand-written text to what
 * JSON.stringify makes of the same fields, for any strings a client or an operator can choose.
 */

/** Any string, lone surrogates, quotes, control characters and `__proto__` included. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', '7', '007', '-1', 'q"uote\\', 'line\nbreak', '\ud800', '😀', ''),
);

describe('pickedAttributesJson: the named keys as JSON text', () => {
  it('parses to the named keys that have a value, each once, and is as long as JSON.stringify of them', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(anyString, anyString), { maxLength: 12 }),
      fc.array(anyString, { maxLength: 20 }),
      (pairs, named) => {
        const map = new Map(pairs);
        // Keys named more than once, and keys of the map among them.
        const keys = [...named, ...named.slice(0, 3), ...pairs.slice(0, 2).map(([k]) => k)];
        const text = pickedAttributesJson(keys, (k) => map.get(k));
        const expected = Object.create(null) as Record<string, string>;
        for (const k of keys) if (map.has(k)) expected[k] = map.get(k)!;
        const parsed = JSON.parse(text) as Record<string, string>;
        assert.deepEqual(Object.entries(parsed).sort(), Object.entries(expected).sort());
        // Same text up to the order of its pairs: no key was written twice.
        assert.equal(text.length, JSON.stringify(Object.fromEntries(Object.entries(expected))).length);
      },
    ), { numRuns: 500 });
  });

  it('keeps the order keys were first named, and writes {} when none has a value', () => {
    const map = new Map([['b', '2'], ['a', '1'], ['__proto__', 'p']]);
    assert.equal(pickedAttributesJson(['b', 'missing', '__proto__', 'a', 'b'], (k) => map.get(k)), '{"b":"2","__proto__":"p","a":"1"}');
    assert.equal(pickedAttributesJson(['missing'], (k) => map.get(k)), '{}');
    assert.equal(pickedAttributesJson([], (k) => map.get(k)), '{}');
    // Beyond a few keys the repeats are found with a set, with the same outcome.
    // a k1 a k3 a k0 a k2 a k4 a k1 ...
    const many = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'a' : `k${i % 5}`));
    assert.equal(pickedAttributesJson(many, (k) => (k === 'missing' ? undefined : `v-${k}`)), '{"a":"v-a","k1":"v-k1","k3":"v-k3","k0":"v-k0","k2":"v-k2","k4":"v-k4"}');
  });
});

describe('envelopeHead: the success envelope\'s fields as JSON text', () => {
  it('is JSON.stringify of the same fields, less the closing brace, for any app, host and method', () => {
    mock.method(Date, 'now', () => 1_795_000_000_123);
    try {
      fc.assert(fc.property(
        fc.record({ org: anyString, app: anyString, uuid: anyString }),
        fc.option(anyString, { nil: undefined }),
        fc.constantFrom('http', 'https'),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(Number.NaN)),
        fc.constantFrom<Resource>('metadata/chatroom', 'users', 'chatrooms', 'webhooks'),
        (names, host, protocol, method, elapsed, resource) => {
          const app = { ...names, appKey: 'k', appId: 'i' } as unknown as AppRecord;
          const req = { protocol, method, headers: host === undefined ? {} : { host } } as unknown as FastifyRequest;
          const reply = { elapsedTime: elapsed } as unknown as FastifyReply;
          const duration = Math.round(elapsed);
          const expected = JSON.stringify({
            uri: `${protocol}://${host ?? 'localhost'}/${app.org}/${app.app}/${resource}`,
            timestamp: 1_795_000_000_123,
            organization: app.org,
            application: app.uuid,
            applicationName: app.app,
            action: method.toLowerCase(),
            duration: Number.isFinite(duration) ? duration : 0,
          });
          assert.equal(`${envelopeHead(req, reply, app, resource)}}`, expected);
        },
      ), { numRuns: 500 });
    } finally {
      mock.restoreAll();
    }
  });
});
