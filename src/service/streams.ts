import { Errors } from '../domain/errors.js';
import type { OpenStreams, Subscriber } from '../events/live-stream.js';
import type { ResumePoint } from '../events/room-stream.js';
import type { EventLog, RoomStore } from '../store/types.js';
import { memberOf, type ServiceContext } from './context.js';
import { checkRoomId } from './room-id.js';

/** An event id is `{seq}-{epoch}`; a bare seq (from `?since=` or an older id) has no epoch. */
const RESUME = /^([0-9]{1,15})(?:-([0-9a-z]{1,16}))?$/;

/** Where a stream resumes: after `at` (an event id or a seq), in `epoch` unless the id names one. */
function resumePoint(at: string | undefined, epoch: string | undefined): ResumePoint | undefined {
  if (at === undefined) return undefined;
  const m = RESUME.exec(at);
  if (m === null || m[1] === undefined) throw Errors.illegalArgument('Last-Event-ID / since must be an event id or seq');
  return { seq: Number(m[1]), epoch: m[2] ?? epoch };
}

/**
 * What opening a stream came to: `ended` when a destroyed room's log has nothing after the resume
 * point (a transport tells its client to stop reconnecting); else a place taken for the
 * subscriber (OpenStreams.admit), given back by the LiveStream the transport makes for it when it
 * stops, or by `release` when the transport makes none (its client went meanwhile).
 */
export type StreamOpening =
  | { readonly status: 'ended' }
  | {
      readonly status: 'open';
      readonly roomId: string;
      readonly since: ResumePoint | undefined;
      readonly subscriber: Subscriber;
      readonly release: () => void;
    };

/** Opening a room's change stream, as every transport does before it starts sending (SSE, WebSocket). */
export function streamService(store: EventLog & Pick<RoomStore, 'isMember'>, streams: OpenStreams) {
  return {
    /**
     * Checks a subscription to `roomId` resuming after `at` (an event id or seq; none: from a
     * snapshot) and takes its place under the stream caps (429 beyond them).
     */
    async open(ctx: ServiceContext, roomId: string, at: string | undefined, epoch?: string): Promise<StreamOpening> {
      const { app, principal } = ctx;
      const since = resumePoint(at, epoch);
      const user = memberOf(ctx);
      const log = await store.readEvents(app.appId, checkRoomId(roomId), since?.seq ?? Number.MAX_SAFE_INTEGER, 1);
      if (!log.exists) {
        // A destroyed room's log lets an app-token resume read its last events; a user of a room
        // that is gone has no membership left to read it with.
        if (since === undefined || log.lastSeq === 0 || user !== undefined) throw Errors.roomNotFound(roomId);
        if (since.seq >= log.lastSeq && (since.epoch === undefined || since.epoch === log.epoch)) return { status: 'ended' };
      } else if (user !== undefined && !(await store.isMember(app.appId, roomId, user))) {
        throw Errors.notInRoom();
      }
      const subscriber: Subscriber = {
        appId: app.appId,
        user,
        expiresAt: principal.expiresAt,
        uuid: principal.kind === 'user' && principal.issued ? principal.uuid : undefined,
      };
      streams.admit(subscriber);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        streams.release(subscriber);
      };
      return { status: 'open', roomId, since, subscriber, release };
    },
  };
}

export type StreamService = ReturnType<typeof streamService>;
