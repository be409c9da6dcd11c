import type { Metric, Registry } from 'prom-client';

/** One label set's counts: a bucket per bound (not cumulative; summed at scrape), the sum and the count. */
export class Series {
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]! += 1;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

interface Value {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
  /** As prom-client: null on buckets, present but undefined on the sum and count. */
  exemplar?: null | undefined;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  values: Value[];
  aggregator: string;
}

/**
 * A Prometheus histogram for the per-request hot path. prom-client's Histogram checks and hashes
 * its labels on every observation; under load that, with the request counter beside it, cost
 * roomkv about 10 µs a call (bench/results/latest.md). Here a caller looks a series up once by
 * its label values and observing is a few array writes. The registry formats it at scrape time
 * exactly as it formats prom-client's own histograms (the values below have their shape).
 */
export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values, in `labelNames` order; made on first use. (No value holds a NUL.) */
  series(...values: string[]): Series {
    const key = values.join('\u0000');
    let s = this.all.get(key);
    if (s === undefined) {
      if (values.length !== this.labelNames.length) throw new Error(`${this.name}: ${this.labelNames.length} label values expected`);
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = values[i]!;
      });
      s = new Series(labels, this.bounds);
      this.all.set(key, s);
    }
    return s;
  }

  /** The series, for a view such as a counter of the same observations. */
  seriesList(): Iterable<Series> {
    return this.all.values();
  }

  getForPromString(): MetricData {
    const bucketName = `${this.name}_bucket`;
    const values: Value[] = [];
    for (const s of this.all.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucketName, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As prom-client's `get()`: the shared labels merged into each value's own. */
  async get(): Promise<MetricData> {
    const data = this.getForPromString();
    data.values = data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.all.clear();
  }
}

/** A counter whose value per label set is a histogram's count of observations (requests by route, ...). */
export class SeriesCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly of: SeriesHistogram,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<MetricData> {
    const values: Value[] = [];
    for (const s of this.of.seriesList()) values.push({ labels: { ...s.labels }, value: s.count });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The counts live in the histogram; resetting the registry resets that. */
  reset(): void {}
}
