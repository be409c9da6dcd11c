import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { HistoryService } from '../../service/history.js';
import { tenant } from '../context.js';
import { JsonText, sendOk } from '../envelope.js';
import { Envelope } from '../schemas.js';
import { defineRoute } from './define-route.js';

const HistoryQuery = Type.Object({
  since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'events after this seq (default 0)' })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$', description: 'at most this many events: 1 to 1000, default 100' })),
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'only the events that touch this key' })),
});

/** GET .../metadata/chatroom/{id}/history (spec section 10). */
export function historyRoutes(history: HistoryService): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/metadata/chatroom/:chatroomId/history', 'attr', {
      GET: {
        schema: { querystring: HistoryQuery },
        handler: async (req, reply) => {
          const { since, limit, key } = req.query;
          const page = await history.page(tenant(req), {
            roomId: req.params.chatroomId,
            ...(since !== undefined ? { since: Number(since) } : {}),
            ...(limit !== undefined ? { limit: Number(limit) } : {}),
            ...(key !== undefined ? { key } : {}),
          });
          return sendOk(req, reply, 'metadata/chatroom', new JsonText(page));
        },
        summary: "a room's logged events after a seq, oldest first, optionally only those touching a key (roomkv)",
        response: Envelope({
          data: Type.Object({ events: Type.Array(Type.Unknown()), next: Type.Union([Type.Integer(), Type.Null()]) }),
        }),
      },
    });
  };
}
