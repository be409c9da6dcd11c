import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Outbox } from '../../store/types.js';
import { ctx } from '../context.js';
import { sendOk } from '../envelope.js';
import { defineRoute } from './define-route.js';
import { Envelope } from '../schemas.js';
import { Type, type Static } from '@sinclair/typebox';

const AttemptsQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: 'attempts to list, newest first (default 100)' })),
});

/** GET .../webhooks: the app's endpoints with their pending deliveries, and recent attempts. */
export function webhookRoutes(store: Outbox): FastifyPluginAsync {
  return async (f) => {
    const list = async (req: FastifyRequest, reply: FastifyReply) => {
      const app = ctx(req).app!;
      const limit = Number((req.query as Static<typeof AttemptsQuery>).limit ?? 100);
      const endpoints = await Promise.all(
        app.webhooks.map(async (w) => ({
          id: w.id,
          url: w.url,
          events: w.events ?? 'all',
          pending: await store.outboxDepth(app.appId, w.id),
        })),
      );
      const attempts = await store.recentAttempts(app.appId, limit);
      return sendOk(req, reply, 'webhooks', { endpoints, attempts });
    };
    defineRoute(f, '/webhooks', 'admin', {
      GET: {
        handler: list,
        querystring: AttemptsQuery,
        summary: 'webhook endpoints, pending deliveries and recent attempts',
        response: Envelope({
          data: Type.Object({
            endpoints: Type.Array(Type.Object({ id: Type.String(), url: Type.String(), events: Type.Unknown(), pending: Type.Integer() })),
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
