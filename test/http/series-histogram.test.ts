import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram } from '../../src/http/series-histogram.js';

/**
 * roomkv's hot-path histogram must scrape exactly as prom-client's own: the same observations fed
 * to both (a Histogram and a Counter of them in one registry, ours in another) give the same text.
 */

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const LABELS = ['route', 'method', 'status'];

const observation = fc.record({
  route: fc.constantFrom('/:org/:app/metadata/chatroom/:chatroomId', 'unmatched', '/metrics', 'a "quoted"\\route\n'),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
  status: fc.constantFrom('200', '400', '404', '429', '503'),
  // Bounds themselves, values between them, beyond the last, zero.
  seconds: fc.oneof(fc.constantFrom(0, ...BOUNDS, 3, 120), fc.double({ min: 0, max: 5, noNaN: true })),
});

function scrapeBoth(observations: Array<{ route: string; method: string; status: string; seconds: number }>) {
  const theirs = new Registry();
  const counter = new Counter({ name: 'x_requests_total', help: 'requests', labelNames: LABELS, registers: [theirs] });
  const histogram = new Histogram({
    name: 'x_duration_seconds',
    help: 'latency',
    labelNames: LABELS,
    buckets: BOUNDS,
    registers: [theirs],
  });
  const ours = new Registry();
  // Registered in the same order as prom-client's pair, so the sections line up.
  const series = new SeriesHistogram('x_duration_seconds', 'latency', LABELS, BOUNDS, new Registry());
  new SeriesCounter('x_requests_total', 'requests', series, ours);
  ours.registerMetric(series as never);
  for (const o of observations) {
    const labels = { route: o.route, method: o.method, status: o.status };
    counter.inc(labels);
    histogram.observe(labels, o.seconds);
    series.series(o.route, o.method, o.status).observe(o.seconds);
  }
  return { theirs, ours };
}

describe('SeriesHistogram and SeriesCounter', () => {
  it("scrape as prom-client's Histogram and Counter of the same observations", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations) => {
        const { theirs, ours } = scrapeBoth(observations);
        assert.equal(await ours.metrics(), await theirs.metrics());
        assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
      }),
      { numRuns: 200 },
    );
  });

  it('finds a series by its label values, once', () => {
    const h = new SeriesHistogram('y_seconds', 'y', ['op', 'result'], BOUNDS, new Registry());
    const a = h.series('get', 'ok');
    a.observe(0.002);
    assert.equal(h.series('get', 'ok'), a);
    assert.notEqual(h.series('get', 'refused'), a);
    // Joined values must not collide: ('a b', 'c') and ('a', 'b c').
    assert.notEqual(h.series('a b', 'c'), h.series('a', 'b c'));
    assert.equal(a.count, 1);
    assert.throws(() => h.series('get'), /2 label values expected/);
  });

  it("is emptied by the registry's reset, counter and all", async () => {
    const registry = new Registry();
    const h = new SeriesHistogram('z_seconds', 'z', ['op'], BOUNDS, registry);
    new SeriesCounter('z_total', 'z', h, registry);
    h.series('get').observe(0.01);
    assert.match(await registry.metrics(), /^z_total\{op="get"\} 1$/m);
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /op="get"/);
  });
});
