import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../domain/errors.js';
import type { EndReason, ResumePoint, StreamSink } from '../../events/room-stream.js';
import { LiveStream, OpenStreams, type Subscriber } from '../../events/live-stream.js';
import type { EventLog, LiveFeed, RoomStore } from '../../store/types.js';
import { ctx } from '../context.js';
import { roomParam } from '../room-param.js';
import { EventsQuery } from '../schemas.js';
import { Type } from '@sinclair/typebox';
import { defineRoute } from './define-route.js';
import type { Metrics } from '../metrics.js';
import { recordRequest } from '../request-log.js';

export { OpenStreams };

export interface EventStreamOptions {
  heartbeatMs: number;
  maxBufferBytes: number;
}

const RECONNECT_MS = 1000;

/** An SSE id is `{seq}-{epoch}`; a bare seq (from `?since=` or an older id) has no epoch. */
const RESUME = /^([0-9]{1,15})(?:-([0-9a-z]{1,16}))?$/;

function resumePoint(lastEventId: unknown, since: string | undefined, epoch: string | undefined): ResumePoint | undefined {
  const text = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : since;
  if (text === undefined) return undefined;
  const m = RESUME.exec(text);
  if (m === null) throw Errors.illegalArgument('Last-Event-ID / since must be an event id or seq');
  return { seq: Number(m[1]), epoch: m[2] ?? epoch };
}

/**
 * GET .../metadata/chatroom/{id}/events: Server-Sent Events. A fresh subscriber gets a `snapshot`
 * event (the whole map, its seq and the log's epoch), then every change as an unnamed event whose
 * `id` is `{seq}-{epoch}`. `Last-Event-ID` or `?since=` resumes after that point. When the server
 * ends the stream (token expired, membership ended, room destroyed) an `end` event says why. The
 * token may come as `?access_token=`, since a browser's EventSource cannot send headers.
 */
export function eventRoutes(
  store: EventLog & LiveFeed & RoomStore,
  options: EventStreamOptions,
  streams: OpenStreams,
  metrics: Metrics,
): FastifyPluginAsync {
  return async (f) => {
    const subscribe = async (req: FastifyRequest, reply: FastifyReply) => {
      const c = ctx(req);
      const app = c.app!;
      const principal = c.principal!;
      const { chatroomId } = req.params as { chatroomId: string };
      const q = req.query as EventsQuery;
      const since = resumePoint(req.headers['last-event-id'], q.since, q.epoch);
      const user = principal.kind === 'user' ? c.actor! : undefined;
      const log = await store.readEvents(app.appId, roomParam(chatroomId), since?.seq ?? Number.MAX_SAFE_INTEGER, 1);
      if (!log.exists) {
        // A destroyed room's log lets an app-token resume read its last events; a user of a room
        // that is gone has no membership left to read it with.
        if (since === undefined || log.lastSeq === 0 || user !== undefined) throw Errors.roomNotFound(chatroomId);
        // With nothing left, 204 tells an EventSource to stop reconnecting.
        if (since.seq >= log.lastSeq && (since.epoch === undefined || since.epoch === log.epoch)) return reply.code(204).send();
      } else if (user !== undefined && !(await store.isMember(app.appId, chatroomId, user))) {
        throw Errors.notInRoom();
      }
      const subscriber: Subscriber = {
        appId: app.appId,
        user,
        expiresAt: principal.expiresAt,
        uuid: principal.kind === 'user' && principal.issued ? principal.uuid : undefined,
      };
      const release = streams.admit(subscriber);

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
      });
      raw.write(`retry: ${RECONNECT_MS}\n\n`);
      let open = true;
      const write = (chunk: string): boolean => {
        if (!open) return false;
        // A slow reader must not hold the writers or grow memory: once what it has not taken yet
        // passes the bound, drop it; it resumes from its last id.
        if (raw.writableLength > options.maxBufferBytes) {
          req.log.warn({ buffered: raw.writableLength }, 'event stream subscriber too slow, disconnected');
          raw.destroy();
          return false;
        }
        raw.write(chunk);
        return true;
      };
      const end = (reason?: EndReason) => {
        if (!open) return;
        if (reason !== undefined) write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
        open = false;
        live.stop();
        raw.end();
        recordRequest(metrics, req, 200, reply.elapsedTime);
      };
      const sink: StreamSink = {
        event: (e, epoch) => write(`id: ${e.seq}-${epoch}\ndata: ${e.body}\n\n`),
        snapshot: (s, epoch) =>
          write(
            `id: ${s.seq}-${epoch}\nevent: snapshot\ndata: ${JSON.stringify({
              seq: s.seq,
              epoch,
              chatroomId,
              app: app.appKey,
              attributes: s.attributes,
            })}\n\n`,
          ),
        close: end,
        drained: () =>
          open && raw.writableNeedDrain
            ? new Promise<void>((resolve) => {
                const done = () => {
                  raw.off('drain', done);
                  raw.off('close', done);
                  resolve();
                };
                raw.on('drain', done);
                raw.on('close', done);
              })
            : null,
      };
      const live = new LiveStream(
        {
          store,
          streams,
          roomId: chatroomId,
          subscriber,
          sink,
          heartbeatMs: options.heartbeatMs,
          heartbeat: () => write(': heartbeat\n\n'),
          goodbye: () => write(`retry: ${RECONNECT_MS}\n: server shutting down, reconnect\n\n`),
        },
        release,
      );
      raw.on('close', () => end());
      try {
        await live.start(since);
      } catch (err) {
        // The headers are out: end the stream rather than leave it open and silent. The client
        // reconnects (after `retry`) and starts again from its last id.
        req.log.warn({ err }, 'event stream could not start; ended');
        end();
      }
    };

    defineRoute(f, '/metadata/chatroom/:chatroomId/events', 'stream', {
      GET: {
        handler: subscribe,
        querystring: EventsQuery,
        summary: 'change events as Server-Sent Events (snapshot, then changes; resume with Last-Event-ID)',
        response: Type.String({ description: 'text/event-stream' }),
      },
    });
  };
}
