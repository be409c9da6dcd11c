import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { ctx } from './context.js';
import type { Metrics } from './metrics.js';
import { redactUrl } from './redact.js';

/** What a finished request's count and log line are made of. */
interface RequestLine {
  route: string;
  method: string;
  /** The URL as the client sent it (redacted here). */
  url: string;
  appKey: string | undefined;
  log: FastifyBaseLogger;
}

function isInfo(log: FastifyBaseLogger): boolean {
  return (log as unknown as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') === true;
}

function record(metrics: Metrics, line: RequestLine, status: number, elapsedMs: number): void {
  metrics.latency.series(line.route, line.method, String(status)).observe(elapsedMs / 1000);
  if (status === 429) metrics.rateLimited.inc({ app: line.appKey ?? '' });
  if (isInfo(line.log)) {
    line.log.info(
      {
        app: line.appKey,
        method: line.method,
        route: line.route,
        url: redactUrl(line.url),
        status,
        durationMs: Math.round(elapsedMs * 100) / 100,
      },
      'request',
    );
  }
}

/** Counts a finished request and writes its one log line (request id, app, route, status, duration). */
export function recordRequest(metrics: Metrics, req: FastifyRequest, status: number, elapsedMs: number): void {
  const route = req.routeOptions.url ?? 'unmatched';
  record(metrics, { route, method: req.method, url: req.url, appKey: ctx(req)?.app?.appKey, log: req.log }, status, elapsedMs);
}

/**
 * A request whose connection outlives it (an upgrade): what its last log line needs, kept in place
 * of the request, with its request id in place of the request's logger. The logger (a child of
 * the server's, as the request's was) is made when a line is written: an idle connection holds
 * no logger of its own.
 */
export class HeldRequest {
  private child: FastifyBaseLogger | null = null;
  private readonly started = performance.now();
  /** The URL redacted, and a copy of its own: the redacted text would otherwise be built on slices of the original. */
  private readonly url: string;
  private readonly route: string;
  private readonly method: string;
  private readonly id: string;
  private readonly appKey: string | undefined;

  constructor(
    req: FastifyRequest,
    private readonly base: FastifyBaseLogger,
  ) {
    this.url = Buffer.from(redactUrl(req.url), 'utf8').toString('utf8');
    this.route = req.routeOptions.url ?? 'unmatched';
    this.method = req.method;
    this.id = req.id;
    this.appKey = ctx(req)?.app?.appKey;
  }

  /** The request's logger (its id in every line). */
  get log(): FastifyBaseLogger {
    return (this.child ??= this.base.child({ reqId: this.id }));
  }

  /** The connection closed: the request is counted and logged as `status`, its duration its connection's life. */
  finished(metrics: Metrics, status: number): void {
    const elapsedMs = performance.now() - this.started;
    const log = this.child ?? (isInfo(this.base) ? this.log : this.base);
    record(metrics, { route: this.route, method: this.method, url: this.url, appKey: this.appKey, log }, status, elapsedMs);
  }
}
