import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { PresenceService } from '../../service/presence.js';
import { tenant } from '../context.js';
import { sendOk } from '../envelope.js';
import { Envelope } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** GET .../metadata/chatroom/{id}/presence (spec section 9): the members online in the room. */
export function presenceRoutes(presence: PresenceService): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/metadata/chatroom/:chatroomId/presence', 'attr', {
      GET: {
        schema: {},
        handler: async (req, reply) => sendOk(req, reply, 'metadata/chatroom', await presence.online(tenant(req), req.params.chatroomId)),
        summary: 'the members online in the chatroom: those with a live connection (event stream or WebSocket subscription) to it',
        response: Envelope({
          data: Type.Object({ online: Type.Array(Type.String(), { description: 'usernames, sorted' }) }),
        }),
      },
    });
  };
}
