import { Errors } from '../domain/errors.js';
import type { EventLog, RoomStore } from '../store/types.js';
import { memberOf, type ServiceContext } from './context.js';
import { checkRoomId } from './room-id.js';

/** A history page: 100 events unless asked, at most 1,000 (spec section 10). */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Most logged events one call reads while it looks for events touching a key. */
const MAX_SCANNED = 10_000;
/** Events read from the log at a time while filtering. */
const BATCH = 500;

export interface HistoryInput {
  roomId: string;
  /** Events after this seq (0: from the oldest logged). */
  since?: number;
  limit?: number;
  /** Only the events that touch this key. */
  key?: string;
}

/** Whether an event body names `key` among its attributes (an object for a set, a list for a removal). */
function touches(body: string, key: string): boolean {
  const attributes = (JSON.parse(body) as { attributes?: unknown }).attributes;
  if (Array.isArray(attributes)) return attributes.includes(key);
  return typeof attributes === 'object' && attributes !== null && Object.hasOwn(attributes, key);
}

/** The history route (spec section 10): a room's logged events, paged, each exactly as it was streamed. */
export function historyService(store: EventLog & Pick<RoomStore, 'isMember'>) {
  return {
    /** The page as JSON text: `{"events":[...],"next":seq|null}`, the events' bodies as logged. */
    async page(ctx: ServiceContext, input: HistoryInput): Promise<string> {
      const limit = input.limit ?? DEFAULT_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw Errors.illegalArgument(`limit must be 1 to ${MAX_LIMIT}, got ${String(input.limit)}`);
      }
      const roomId = checkRoomId(input.roomId);
      const { appId } = ctx.app;
      const user = memberOf(ctx);
      let after = input.since ?? 0;
      const first = await store.readEvents(appId, roomId, after, input.key === undefined ? limit : BATCH);
      // A destroyed room's log is for app tokens only, as its stream is.
      if (!first.exists && (user !== undefined || first.lastSeq === 0)) throw Errors.roomNotFound(roomId);
      if (first.exists && user !== undefined && !(await store.isMember(appId, roomId, user))) throw Errors.notInRoom();
      const bodies: string[] = [];
      let last: number | null = null;
      let scanned = 0;
      let read = first;
      for (;;) {
        for (const e of read.events) {
          scanned += 1;
          after = e.seq;
          if (input.key !== undefined && !touches(e.body, input.key)) continue;
          bodies.push(e.body);
          last = e.seq;
          if (bodies.length === limit) break;
        }
        const more = read.events.length > 0 && after < read.lastSeq;
        if (bodies.length === limit || !more || input.key === undefined) break;
        // Scanned as much as one call may: the next page starts where this one stopped looking.
        if (scanned >= MAX_SCANNED) {
          last = after;
          break;
        }
        read = await store.readEvents(appId, roomId, after, BATCH);
      }
      const next = last !== null && last < first.lastSeq ? last : null;
      return `{"events":[${bodies.join(',')}],"next":${next === null ? 'null' : String(next)}}`;
    },
  };
}

export type HistoryService = ReturnType<typeof historyService>;
