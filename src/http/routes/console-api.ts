import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AttributeStore } from '../../store/types.js';
import { ctx } from '../context.js';
import { roomParam } from '../room-param.js';
import { sendOk } from '../envelope.js';
import { Envelope } from '../schemas.js';
import { defineRoute } from './define-route.js';

/** GET .../chatrooms/{id}/attributes: every attribute with its owner and autoDelete flag (app tokens). */
export function attributeRecordRoutes(store: Pick<AttributeStore, 'listAttributes'>): FastifyPluginAsync {
  return async (f) => {
    const records = async (req: FastifyRequest, reply: FastifyReply) => {
      const app = ctx(req).app!;
      const { id } = req.params as { id: string };
      return sendOk(req, reply, 'chatrooms', await store.listAttributes(app.appId, roomParam(id)));
    };
    defineRoute(f, '/chatrooms/:id/attributes', 'admin', {
      GET: {
        handler: records,
        summary: 'every attribute of a chatroom with its owner and autoDelete flag (roomkv)',
        response: Envelope({
          data: Type.Array(Type.Object({ key: Type.String(), value: Type.String(), owner: Type.String(), autoDelete: Type.String() })),
        }),
      },
    });
  };
}
