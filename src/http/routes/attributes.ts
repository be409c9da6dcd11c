import type { FastifyPluginAsync } from 'fastify';
import type { AttributeService } from '../../service/attributes.js';
import { tenant } from '../context.js';
import { JsonText, sendOk } from '../envelope.js';
import { keyOutcomesBody } from '../key-reasons.js';
import { Type } from '@sinclair/typebox';
import { AttributeDetails, AttributeMap, Envelope, GetBody, KeyOutcomes, KeysBody, SetBody } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** The five attribute calls (spec section 5). */
export function attributeRoutes(attributes: AttributeService): FastifyPluginAsync {
  return async (f) => {
    const base = '/metadata/chatroom/:chatroomId';
    const outcomes = Envelope({ data: KeyOutcomes });
    defineRoute(f, base, 'attr', {
      POST: {
        schema: { body: GetBody },
        // No body at all arrives as undefined (the schema's null, {} and {"keys":null} read every attribute too).
        handler: async (req, reply) => {
          const data = await attributes.get(tenant(req), { roomId: req.params.chatroomId, keys: req.body?.keys, detail: req.body?.detail });
          return sendOk(req, reply, 'metadata/chatroom', new JsonText(data));
        },
        optionalBody: true,
        summary: 'get attributes (all when no keys are named)',
        response: Envelope({ data: Type.Union([AttributeMap, AttributeDetails]) }),
      },
    });
    for (const forced of [false, true]) {
      defineRoute(f, forced ? `${base}/user/:username/forced` : `${base}/user/:username`, 'attr', {
        PUT: {
          schema: { body: SetBody },
          handler: async (req, reply) => {
            const { chatroomId, username } = req.params;
            const { metaData, increment, min, max, autoDelete, ifRevision, atomic, ttl } = req.body;
            const outcome = await attributes.set(tenant(req), {
              roomId: chatroomId,
              username,
              forced,
              metaData,
              increment,
              min,
              max,
              autoDelete,
              ifRevision,
              atomic,
              ttl,
            });
            return sendOk(req, reply, 'metadata/chatroom', keyOutcomesBody(outcome));
          },
          summary: forced ? "set attributes, overwriting other members' keys" : 'set attributes as {username}',
          response: outcomes,
        },
        DELETE: {
          schema: { body: KeysBody },
          handler: async (req, reply) => {
            const { chatroomId, username } = req.params;
            const { keys, ifRevision, atomic } = req.body;
            const outcome = await attributes.delete(tenant(req), { roomId: chatroomId, username, forced, keys, ifRevision, atomic });
            return sendOk(req, reply, 'metadata/chatroom', keyOutcomesBody(outcome));
          },
          summary: forced ? 'delete attributes whoever set them' : 'delete attributes {username} set',
          response: outcomes,
        },
      });
    }
  };
}
