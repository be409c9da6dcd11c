import type { FastifyPluginAsync } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Store } from '../../store/types.js';
import type { Metrics } from '../metrics.js';

const READY_TIMEOUT_MS = 2000;

export interface OpsDeps {
  store: Pick<Store, 'kind' | 'ping'>;
  metrics: Metrics;
  /** /metrics answers only with this bearer token; without one it is off. */
  metricsToken?: string;
  lifecycle: { draining: boolean };
}

const Health = Type.Object({ status: Type.String(), store: Type.Optional(Type.String()), error: Type.Optional(Type.String()) });

function sameToken(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** For operators: liveness, readiness (the store answers) and Prometheus metrics. */
export function opsRoutes(deps: OpsDeps): FastifyPluginAsync {
  return async (f) => {
    f.get('/healthz', { schema: { tags: ['operations'], summary: 'the process is up', response: { 200: Health } } }, async () => ({
      status: 'ok',
    }));

    f.get(
      '/readyz',
      { schema: { tags: ['operations'], summary: 'the store answers (503 when not)', response: { 200: Health, 503: Health } } },
      async (_req, reply) => {
        if (deps.lifecycle.draining) return reply.code(503).send({ status: 'unavailable', store: deps.store.kind, error: 'shutting down' });
        try {
          await Promise.race([
            deps.store.ping(),
            new Promise((_, reject) =>
              setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref(),
            ),
          ]);
          return { status: 'ready', store: deps.store.kind };
        } catch (err) {
          return reply.code(503).send({ status: 'unavailable', store: deps.store.kind, error: (err as Error).message });
        }
      },
    );

    f.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics; needs Authorization: Bearer ROOMKV_METRICS_TOKEN',
          response: {
            200: Type.String({ description: 'Prometheus text format' }),
            401: Type.String({ description: 'no or wrong token' }),
            404: Type.String({ description: 'ROOMKV_METRICS_TOKEN is not set' }),
          },
        },
      },
      async (req, reply) => {
        if (deps.metricsToken === undefined) {
          return reply.code(404).type('text/plain').send('metrics are off: set ROOMKV_METRICS_TOKEN\n');
        }
        if (!sameToken(req.headers.authorization, deps.metricsToken)) {
          return reply
            .code(401)
            .header('www-authenticate', 'Bearer')
            .type('text/plain')
            .send('metrics need Authorization: Bearer <ROOMKV_METRICS_TOKEN>\n');
        }
        return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
      },
    );
  };
}
