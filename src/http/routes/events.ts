import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppRecord } from '../../config/apps.js';
import type { EndReason, StreamSink } from '../../events/room-stream.js';
import { LiveStream, OpenStreams } from '../../events/live-stream.js';
import type { EventLog, LiveFeed, RoomStore } from '../../store/types.js';
import type { StreamOpening, StreamService } from '../../service/streams.js';
import { tenant } from '../context.js';
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

type OpenedStream = Extract<StreamOpening, { status: 'open' }>;

/**
 * GET .../metadata/chatroom/{id}/events: Server-Sent Events. A fresh subscriber gets a `snapshot`
 * event (the whole map, its seq and the log's epoch), then every change as an unnamed event whose
 * `id` is `{seq}-{epoch}`. `Last-Event-ID` or `?since=` resumes after that point. When the server
 * ends the stream (token expired, membership ended, room destroyed) an `end` event says why. With
 * presence on, `presence` events (no id) tell when a member comes online or goes offline. The
 * token may come as `?access_token=`, since a browser's EventSource cannot send headers.
 */
export function eventRoutes(
  opener: StreamService,
  store: EventLog & LiveFeed & RoomStore,
  options: EventStreamOptions,
  streams: OpenStreams,
  metrics: Metrics,
): FastifyPluginAsync {
  return async (f) => {
    /** Sends the opened stream: the reply is hijacked and written as text/event-stream until it ends. */
    const serve = async (req: FastifyRequest, reply: FastifyReply, app: AppRecord, opening: OpenedStream) => {
      const { roomId: chatroomId, since, subscriber, release } = opening;
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
        // Presence (spec section 9): a named event with no id, so a resume never asks for it again.
        presence: (body) => write(`event: presence\ndata: ${body}\n\n`),
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
        schema: { querystring: EventsQuery },
        handler: async (req, reply) => {
          const caller = tenant(req);
          const lastEventId = req.headers['last-event-id'];
          // Last-Event-ID (an EventSource reconnecting) wins over ?since=.
          const at = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : req.query.since;
          const opening = await opener.open(caller, req.params.chatroomId, at, req.query.epoch);
          // With nothing left, 204 tells an EventSource to stop reconnecting.
          if (opening.status === 'ended') return reply.code(204).send();
          return serve(req, reply, caller.app, opening);
        },
        summary: 'change events as Server-Sent Events (snapshot, then changes; resume with Last-Event-ID)',
        response: Type.String({ description: 'text/event-stream' }),
      },
    });
  };
}
