import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { deleteKeys, getKeys, parseAutoDelete, setPairs } from '../../domain/requests.js';
import type { AttributeStore } from '../../store/types.js';
import type { Metrics } from '../metrics.js';
import { ctx } from '../context.js';
import { roomParam } from '../room-param.js';
import { JsonText, sendOk } from '../envelope.js';
import { AttributeMap, Envelope, GetBody, KeyOutcomes, KeysBody, SetBody } from '../schemas.js';
import { defineRoute } from './define-route.js';

interface RoomParams {
  chatroomId: string;
}
interface UserParams extends RoomParams {
  username: string;
}

/** The five attribute calls (spec section 5). */
export function attributeRoutes(store: AttributeStore, metrics: Metrics): FastifyPluginAsync {
  return async (f) => {
    const base = '/metadata/chatroom/:chatroomId';

    const set = (forced: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const { app } = ctx(req);
      const { chatroomId, username } = req.params as UserParams;
      const body = req.body as SetBody;
      const autoDelete = parseAutoDelete(body.autoDelete);
      const pairs = setPairs(body.metaData, app!.limits);
      const outcome = await store.setAttributes({
        appId: app!.appId,
        roomId: roomParam(chatroomId),
        user: username.toLowerCase(),
        forced,
        autoDelete,
        pairs,
        limits: app!.limits,
        routing: app!.routing,
      });
      metrics.countKeys(forced ? 'forced_set' : 'set', outcome);
      return sendOk(req, reply, 'metadata/chatroom', outcome);
    };

    const del = (forced: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const c = ctx(req);
      const { chatroomId, username } = req.params as UserParams;
      const keys = deleteKeys((req.body as KeysBody).keys, c.app!.limits);
      const outcome = await store.deleteAttributes({
        appId: c.app!.appId,
        roomId: roomParam(chatroomId),
        user: username.toLowerCase(),
        forced,
        // The official server SDK force-deletes as the pseudo-user `admin` with an app token.
        checkMembership: !forced || c.principal?.kind === 'user',
        keys,
        routing: c.app!.routing,
      });
      metrics.countKeys(forced ? 'forced_delete' : 'delete', outcome);
      return sendOk(req, reply, 'metadata/chatroom', outcome);
    };

    const get = async (req: FastifyRequest, reply: FastifyReply) => {
      const c = ctx(req);
      const { chatroomId } = req.params as RoomParams;
      const body = req.body as GetBody | undefined;
      const keys = getKeys(body?.keys);
      const member = c.principal?.kind === 'user' ? c.actor : undefined;
      const data = await store.getAttributesJson(c.app!.appId, roomParam(chatroomId), keys, member);
      return sendOk(req, reply, 'metadata/chatroom', new JsonText(data));
    };

    const outcomes = Envelope({ data: KeyOutcomes });
    defineRoute(f, `${base}`, 'attr', {
      POST: {
        handler: get,
        body: GetBody,
        optionalBody: true,
        summary: 'get attributes (all when no keys are named)',
        response: Envelope({ data: AttributeMap }),
      },
    });
    defineRoute(f, `${base}/user/:username`, 'attr', {
      PUT: { handler: set(false), body: SetBody, summary: 'set attributes as {username}', response: outcomes },
      DELETE: { handler: del(false), body: KeysBody, summary: 'delete attributes {username} set', response: outcomes },
    });
    defineRoute(f, `${base}/user/:username/forced`, 'attr', {
      PUT: { handler: set(true), body: SetBody, summary: "set attributes, overwriting other members' keys", response: outcomes },
      DELETE: { handler: del(true), body: KeysBody, summary: 'delete attributes whoever set them', response: outcomes },
    });
  };
}
