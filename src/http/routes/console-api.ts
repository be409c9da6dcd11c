import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AttributeService } from '../../service/attributes.js';
import { tenant } from '../context.js';
import { sendOk } from '../envelope.js';
import { Envelope } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** GET .../chatrooms/{id}/attributes: every attribute with its owner and autoDelete flag (app tokens). */
export function attributeRecordRoutes(attributes: Pick<AttributeService, 'records'>): FastifyPluginAsync {
  return async (f) => {
    defineRoute(f, '/chatrooms/:id/attributes', 'admin', {
      GET: {
        schema: {},
        handler: async (req, reply) => sendOk(req, reply, 'chatrooms', await attributes.records(tenant(req), req.params.id)),
        summary: 'every attribute of a chatroom with its owner and autoDelete flag (roomkv)',
        response: Envelope({
          data: Type.Array(Type.Object({ key: Type.String(), value: Type.String(), owner: Type.String(), autoDelete: Type.String() })),
        }),
      },
    });
  };
}
