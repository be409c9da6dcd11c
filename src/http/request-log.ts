import type { FastifyRequest } from 'fastify';
import { ctx } from './context.js';
import type { Metrics } from './metrics.js';
import { redactUrl } from './redact.js';

/** Counts a finished request and writes its one log line (request id, app, route, status, duration). */
export function recordRequest(metrics: Metrics, req: FastifyRequest, status: number, elapsedMs: number): void {
  const route = req.routeOptions.url ?? 'unmatched';
  metrics.latency.series(route, req.method, String(status)).observe(elapsedMs / 1000);
  if (status === 429) metrics.rateLimited.inc({ app: ctx(req)?.app?.appKey ?? '' });
  if ((req.log as unknown as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info')) {
    req.log.info(
      {
        app: ctx(req)?.app?.appKey,
        method: req.method,
        route,
        url: redactUrl(req.url),
        status,
        durationMs: Math.round(elapsedMs * 100) / 100,
      },
      'request',
    );
  }
}
