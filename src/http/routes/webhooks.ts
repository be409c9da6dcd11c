import type { FastifyPluginAsync } from 'fastify';
import type { WebhookService } from '../../service/webhooks.js';
import { tenant } from '../context.js';
import { sendOk } from '../envelope.js';
import { defineRoute } from './define-route.js';
import { Envelope } from '../schemas.js';
import { Type } from '@sinclair/typebox';

const AttemptsQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: 'attempts to list, newest first (default 100)' })),
});

/** GET .../webhooks: the app's endpoints with their pending deliveries, and recent attempts. */
export function webhookRoutes(webhooks: WebhookService): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/webhooks', 'admin', {
      GET: {
        schema: { querystring: AttemptsQuery },
        handler: async (req, reply) => {
          const { limit } = req.query;
          const status = await webhooks.status(tenant(req), limit === undefined ? undefined : Number(limit));
          return sendOk(req, reply, 'webhooks', status);
        },
        summary: 'webhook endpoints, pending deliveries and recent attempts',
        response: Envelope({
          data: Type.Object({
            endpoints: Type.Array(
              Type.Object({
                id: Type.String(),
                url: Type.String(),
                events: Type.Unknown(),
                batch: Type.Union([Type.Object({ maxEvents: Type.Integer(), maxDelayMs: Type.Integer() }), Type.Null()]),
                pending: Type.Integer(),
              }),
            ),
            attempts: Type.Array(
              Type.Object({
                endpoint: Type.String(),
                roomId: Type.String(),
                seq: Type.Integer(),
                attempt: Type.Integer(),
                at: Type.Integer(),
                status: Type.Union([Type.Integer(), Type.Null()]),
                error: Type.Union([Type.String(), Type.Null()]),
                durationMs: Type.Integer(),
                outcome: Type.String(),
              }),
            ),
          }),
        }),
      },
    });
  };
}
