import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppRecord } from '../../src/config/apps.js';
import { envelopeHead, JsonText, sendOk, type Resource } from '../../src/http/envelope.js';
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
    fc.assert(
      fc.property(fc.array(fc.tuple(anyString, anyString), { maxLength: 12 }), fc.array(anyString, { maxLength: 20 }), (pairs, named) => {
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
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the order keys were first named, and writes {} when none has a value', () => {
    const map = new Map([
      ['b', '2'],
      ['a', '1'],
      ['__proto__', 'p'],
    ]);
    assert.equal(
      pickedAttributesJson(['b', 'missing', '__proto__', 'a', 'b'], (k) => map.get(k)),
      '{"b":"2","__proto__":"p","a":"1"}',
    );
    assert.equal(
      pickedAttributesJson(['missing'], (k) => map.get(k)),
      '{}',
    );
    assert.equal(
      pickedAttributesJson([], (k) => map.get(k)),
      '{}',
    );
    // Beyond a few keys the repeats are found with a set, with the same outcome.
    // a k1 a k3 a k0 a k2 a k4 a k1 ...
    const many = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'a' : `k${i % 5}`));
    assert.equal(
      pickedAttributesJson(many, (k) => (k === 'missing' ? undefined : `v-${k}`)),
      '{"a":"v-a","k1":"v-k1","k3":"v-k3","k0":"v-k0","k2":"v-k2","k4":"v-k4"}',
    );
  });
});

describe("envelopeHead: the success envelope's fields as JSON text", () => {
  it('is JSON.stringify of the same fields, less the closing brace, for any app, host and method', () => {
    mock.method(Date, 'now', () => 1_795_000_000_123);
    try {
      fc.assert(
        fc.property(
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
        ),
        { numRuns: 500 },
      );
    } finally {
      mock.restoreAll();
    }
  });
});

const HEAD_AND_DATA = ['uri', 'timestamp', 'organization', 'application', 'applicationName', 'action', 'duration', 'data'];

describe('sendOk: the whole success envelope as text', () => {
  /** A reply that keeps what is sent. */
  function fakeReply() {
    const sent: { payload?: unknown; status?: number; type?: string } = {};
    const reply = {
      elapsedTime: 3.4,
      code(status: number) {
        sent.status = status;
        return reply;
      },
      type(type: string) {
        sent.type = type;
        return reply;
      },
      send(payload: unknown) {
        sent.payload = payload;
        return reply;
      },
    };
    return { reply: reply as unknown as FastifyReply, sent };
  }

  it('is JSON.stringify of the head fields, then data, then the extra fields, with undefined values left out', () => {
    mock.method(Date, 'now', () => 1_795_000_000_456);
    try {
      const json = fc.jsonValue();
      fc.assert(
        fc.property(
          fc.option(json, { nil: undefined }),
          // Extra fields are named by the routes: never a head field or `data`, and never an integer-like
          // name, which a JS object (the expectation here) would move before every other key.
          fc.option(
            fc.dictionary(
              anyString.filter((k) => !HEAD_AND_DATA.includes(k) && !/^(0|[1-9][0-9]*)$/.test(k)),
              fc.oneof(json, fc.constant(undefined)),
            ),
            { nil: undefined },
          ),
          (data, extra) => {
            const app = { org: 'o"rg', app: 'app', uuid: 'u-1' } as unknown as AppRecord;
            const req = { protocol: 'http', method: 'GET', headers: { host: 'h:1' }, rk: { app } } as unknown as FastifyRequest;
            const { reply, sent } = fakeReply();
            sendOk(req, reply, 'chatrooms', data, extra);
            const expected = JSON.stringify({
              uri: 'http://h:1/o"rg/app/chatrooms',
              timestamp: 1_795_000_000_456,
              organization: 'o"rg',
              application: 'u-1',
              applicationName: 'app',
              action: 'get',
              duration: 3,
              data,
              ...extra,
            });
            assert.deepEqual([sent.status, sent.type, sent.payload], [200, 'application/json', expected]);
          },
        ),
        { numRuns: 300 },
      );
      // A store's JSON text goes in as it is.
      const { reply, sent } = fakeReply();
      const app = { org: 'o', app: 'a', uuid: 'u' } as unknown as AppRecord;
      sendOk(
        { protocol: 'http', method: 'POST', headers: {}, rk: { app } } as unknown as FastifyRequest,
        reply,
        'metadata/chatroom',
        new JsonText('{"k":"v"}'),
      );
      assert.equal(
        sent.payload,
        '{"uri":"http://localhost/o/a/metadata/chatroom","timestamp":1795000000456,"organization":"o","application":"u","applicationName":"a","action":"post","duration":3,"data":{"k":"v"}}',
      );
    } finally {
      mock.restoreAll();
    }
  });
});
