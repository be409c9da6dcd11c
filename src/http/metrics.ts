import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { KeyOutcomes } from '../domain/attributes.js';
import type { AppRecord } from '../config/apps.js';
import type { AttemptRecord, Outbox } from '../store/types.js';
import { SeriesCounter, SeriesHistogram, type Series } from './series-histogram.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Everything roomkv measures, in one registry served at /metrics (Prometheus text format). */
export class Metrics {
  readonly registry = new Registry();
  /** Observed on every request: series found by label values, not prom-client's per-call label hashing. */
  readonly latency = new SeriesHistogram(
    'roomkv_http_request_duration_seconds',
    'HTTP request latency by route, method and status',
    ['route', 'method', 'status'],
    LATENCY_BUCKETS,
    this.registry,
  );
  /** The latency histogram's count per series. */
  readonly requests = new SeriesCounter(
    'roomkv_http_requests_total',
    'HTTP requests by route, method and status',
    this.latency,
    this.registry,
  );
  readonly keys = new Counter({
    name: 'roomkv_attribute_keys_total',
    help: 'keys of attribute calls by call and outcome (success, or the error reason)',
    labelNames: ['call', 'outcome'],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'roomkv_rate_limited_total',
    help: 'attribute calls refused by the rate limit',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly storeLatency = new SeriesHistogram(
    'roomkv_store_duration_seconds',
    'store call latency by operation and result',
    ['op', 'result'],
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly deliveries = new Counter({
    name: 'roomkv_webhook_deliveries_total',
    help: 'webhook delivery attempts by app and result (delivered, retry, gave_up)',
    labelNames: ['app', 'result'],
    registers: [this.registry],
  });

  constructor(apps: readonly AppRecord[], store: Pick<Outbox, 'outboxDepth'>, openStreams: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'roomkv_' });
    new Gauge({
      name: 'roomkv_event_streams_open',
      help: 'open event streams (SSE streams and WebSocket subscriptions)',
      registers: [this.registry],
      collect() {
        this.set(openStreams());
      },
    });
    const withHooks = apps.filter((a) => a.webhooks.length > 0);
    new Gauge({
      name: 'roomkv_webhook_queue_depth',
      help: 'events waiting for delivery, by app and endpoint',
      labelNames: ['app', 'endpoint'],
      registers: [this.registry],
      async collect() {
        for (const a of withHooks) {
          for (const w of a.webhooks) {
            try {
              this.set({ app: a.appKey, endpoint: w.url }, await store.outboxDepth(a.appId, w.id));
            } catch {
              // store away: the gauge keeps its last value, store errors show in roomkv_store_*
            }
          }
        }
      },
    });
  }

  countKeys(call: string, outcome: KeyOutcomes): void {
    if (outcome.successKeys.length > 0) this.keys.inc({ call, outcome: 'success' }, outcome.successKeys.length);
    for (const refusal of Object.values(outcome.errorKeys)) this.keys.inc({ call, outcome: refusal.code });
  }

  countAttempt(app: AppRecord, attempt: AttemptRecord): void {
    this.deliveries.inc({ app: app.appKey, result: attempt.outcome });
  }

  /**
   * Times every method of the store that returns a promise; the store itself stays unaware. Each
   * method is wrapped once, on first use, not on every call.
   */
  instrument<S extends object>(store: S): S {
    const histogram = this.storeLatency;
    const wrapped = new Map<string, unknown>();
    const wrap = (op: string, fn: (...args: unknown[]) => unknown) => {
      const byResult = new Map<string, Series>();
      const record = (result: string, started: number) => {
        let s = byResult.get(result);
        if (s === undefined) {
          s = histogram.series(op, result);
          byResult.set(result, s);
        }
        s.observe((performance.now() - started) / 1000);
      };
      return function timed(...args: unknown[]) {
        const started = performance.now();
        let out: unknown;
        try {
          out = fn.apply(store, args);
        } catch (err) {
          record('error', started);
          throw err;
        }
        if (out instanceof Promise) {
          return out.then(
            (v) => {
              record('ok', started);
              return v;
            },
            (err) => {
              record((err as { status?: number }).status === 503 ? 'unavailable' : 'refused', started);
              throw err;
            },
          );
        }
        record('ok', started);
        return out;
      };
    };
    return new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        let fn = wrapped.get(prop);
        if (fn === undefined) {
          fn = wrap(prop, value as (...args: unknown[]) => unknown);
          wrapped.set(prop, fn);
        }
        return fn;
      },
    });
  }
}
