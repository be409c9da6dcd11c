import { Errors } from '../domain/errors.js';
import { presenceOn } from '../domain/presence.js';
import type { PresenceStore } from '../store/types.js';
import { memberOf, type ServiceContext } from './context.js';
import { checkRoomId } from './room-id.js';

/** Who is online in a room (spec section 9), read as a get is: an app token, or a member's user token. */
export function presenceService(store: Pick<PresenceStore, 'onlineMembers'>) {
  return {
    async online(ctx: ServiceContext, roomId: string): Promise<{ online: string[] }> {
      if (!presenceOn(ctx.app.presence.leaveAfterOfflineMs)) throw Errors.presenceOff();
      return { online: await store.onlineMembers(ctx.app.appId, checkRoomId(roomId), memberOf(ctx)) };
    },
  };
}

export type PresenceService = ReturnType<typeof presenceService>;
