// The benchmark table's verdicts (bench/verdict.ts), held to the rules: a ratio at or above
// its target, a p99 at most 3x the baseline's, no errors; a median printed so that it never looks as
// if it were on the other side of its target; rounds on both sides of a target called unsettled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { P99_FACTOR, ratioText, roundOrder, rowVerdict, type RowFigures } from '../../bench/verdict.js';

const row = (over: Partial<RowFigures>): RowFigures => ({ ratio: 0.7, ratioMin: 0.68, ratioMax: 0.72, p99: 4, clean: true, ...over });

describe('benchmark verdicts', () => {
  it('meets a target at or above its ratio, with the p99 within 3x and no errors', () => {
    assert.equal(P99_FACTOR, 3);
    const v = rowVerdict(row({ ratio: 0.6, ratioMin: 0.6, ratioMax: 0.6, p99: 6 }), 2, 0.6);
    assert.deepEqual(v, { met: true, text: 'ok', unsettled: false, p99x: 3 });
  });

  it('names every miss: the ratio, the p99 and errors', () => {
    assert.deepEqual(rowVerdict(row({ ratio: 0.599, ratioMin: 0.5, ratioMax: 0.59 }), 2, 0.6), {
      met: false,
      text: '**ratio BELOW TARGET**',
      unsettled: false,
      p99x: 2,
    });
    assert.equal(rowVerdict(row({ p99: 6.01 }), 2, 0.6).text, '**p99 ABOVE 3x**');
    assert.equal(rowVerdict(row({ clean: false }), 2, 0.6).text, '**ERRORS**');
    const all = rowVerdict(row({ ratio: 0.2, ratioMin: 0.1, ratioMax: 0.3, p99: 100, clean: false }), 2, 0.65);
    assert.equal(all.met, false);
    assert.equal(all.text, '**ratio BELOW TARGET**, **p99 ABOVE 3x**, **ERRORS**');
  });

  it('calls a verdict unsettled only when the rounds fall on both sides of the target', () => {
    assert.equal(rowVerdict(row({ ratio: 0.55, ratioMin: 0.49, ratioMax: 0.62 }), 2, 0.5).unsettled, true);
    assert.equal(rowVerdict(row({ ratio: 0.45, ratioMin: 0.4, ratioMax: 0.5 }), 2, 0.5).unsettled, true);
    assert.equal(rowVerdict(row({ ratio: 0.55, ratioMin: 0.5, ratioMax: 0.62 }), 2, 0.5).unsettled, false);
    assert.equal(rowVerdict(row({ ratio: 0.3, ratioMin: 0.2, ratioMax: 0.49 }), 2, 0.5).unsettled, false);
  });

  it('prints a ratio to more places where two would put it on the other side of its target', () => {
    assert.equal(ratioText(0.497, 0.5), '0.497');
    assert.equal(ratioText(0.7999, 0.8), '0.7999');
    assert.equal(ratioText(0.59999, 0.6), '0.59999');
    assert.equal(ratioText(0.5, 0.5), '0.50');
    assert.equal(ratioText(0.63, 0.8), '0.63');
    assert.equal(ratioText(0.555, 0.55), '0.56');
    assert.equal(ratioText(Number.NaN, 0.5), 'n/a');
  });

  it('turns the order of the targets with the rounds: each place and each neighbour alike', () => {
    for (const n of [2, 3, 5]) {
      const targets = Array.from({ length: n }, (_, i) => `t${i}`);
      const places = new Map<string, number>();
      const follows = new Map<string, number>();
      for (let round = 0; round < 2 * n; round++) {
        const order = roundOrder(targets, round);
        assert.deepEqual([...order].sort(), targets, `round ${round} runs every target once`);
        order.forEach((t, i) => places.set(`${t}@${i}`, (places.get(`${t}@${i}`) ?? 0) + 1));
        for (let i = 1; i < n; i++) follows.set(`${order[i - 1]}>${order[i]}`, (follows.get(`${order[i - 1]}>${order[i]}`) ?? 0) + 1);
      }
      for (const t of targets) for (let i = 0; i < n; i++) assert.equal(places.get(`${t}@${i}`), 2, `${t} runs in place ${i} twice`);
      for (const [pair, count] of follows) {
        const [a, b] = pair.split('>');
        assert.equal(follows.get(`${b}>${a}`), count, `${b} follows ${a} as often as ${a} follows ${b}`);
      }
    }
    assert.deepEqual(roundOrder(['baseline', 'redis', 'redis-before'], 0), ['baseline', 'redis', 'redis-before']);
    assert.deepEqual(roundOrder(['baseline', 'redis', 'redis-before'], 1), ['redis-before', 'redis', 'baseline']);
    assert.deepEqual(roundOrder([], 3), []);
  });
});
