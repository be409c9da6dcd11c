/**
 * The benchmark table's verdicts, apart from the harness so that tests can hold them to the issue's
 * rules: a roomkv target meets its workload's target when its ratio to the baseline is at least the
 * target, its p99 at most P99_FACTOR times the baseline's, and its runs had no errors.
 */
export const P99_FACTOR = 3;

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/**
 * A ratio beside its target: to two places, or to as many more as it takes (up to six) for the printed
 * figure to fall on the same side of the target as the ratio: 0.497 against 0.50 is not printed "0.50".
 */
export function ratioText(ratio: number, target: number): string {
  if (!Number.isFinite(ratio)) return f2(ratio);
  for (let places = 2; places < 6; places++) {
    const text = ratio.toFixed(places);
    if (Number(text) < target === ratio < target) return text;
  }
  return ratio.toFixed(6);
}

export interface RowFigures {
  /** The median of the per-round ratios to the baseline, and the lowest and highest of them. */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  /** The median p99, ms. */
  p99: number;
  /** No transport errors, no unexpected non-2xx or per-key errors, and every content probe passed. */
  clean: boolean;
}

export interface RowVerdict {
  met: boolean;
  /** The verdict column: "ok", or what was missed, in bold. */
  text: string;
  /** The rounds fell on both sides of the ratio target: another run may well read the other way. */
  unsettled: boolean;
  /** The target's p99 over the baseline's. */
  p99x: number;
}

export function rowVerdict(c: RowFigures, baselineP99: number, target: number): RowVerdict {
  const p99x = c.p99 / baselineP99;
  const misses = [
    c.ratio >= target ? '' : 'ratio BELOW TARGET',
    p99x <= P99_FACTOR ? '' : `p99 ABOVE ${P99_FACTOR}x`,
    c.clean ? '' : 'ERRORS',
  ].filter(Boolean);
  return {
    met: misses.length === 0,
    text: misses.length === 0 ? 'ok' : misses.map((s) => `**${s}**`).join(', '),
    unsettled: c.ratioMin < target && c.ratioMax >= target,
    p99x,
  };
}

/**
 * The order a round's targets run in. A round's load runs one target after another, and a target's
 * figure depends on what ran just before it (the machine's caches, Redis's state, the other builds'
 * garbage) and on where in the round it runs. So the order turns with the rounds: rotated by one every
 * second round, and reversed in every odd one. Over 2n rounds of n targets each target runs in each
 * place equally often, and each follows each other target as often as that one follows it.
 */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  const n = targets.length;
  if (n === 0) return [];
  const shift = Math.floor(round / 2) % n;
  const rotated = [...targets.slice(shift), ...targets.slice(0, shift)];
  return round % 2 === 1 ? rotated.reverse() : rotated;
}
