import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../domain/errors.js';
import { RoomStream, type StreamSink } from '../../events/room-stream.js';
import type { Store } from '../../store/types.js';
import { ctx } from '../context.js';
import { EventsQuery } from '../schemas.js';
import { Type } from '@sinclair/typebox';
import { defineRoute } from './define-route.js';
import type { Metrics } from '../metrics.js';
import { recordRequest } from '../request-log.js';

export interface EventStreamOptions {
  heartbeatMs: number;
  maxBufferBytes: number;
}

interface OpenStream {
  close(): void;
  resync(): void;
}

/**
 * The open streams of this instance: shutdown ends them with a reconnect hint, and a feed that may
 * have dropped events (a Redis reconnect) makes each look at its room's log again.
 */
export class OpenStreams {
  private readonly open = new Set<OpenStream>();

  add(stream: OpenStream): () => void {
    this.open.add(stream);
    return () => this.open.delete(stream);
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }

  resyncAll(): void {
    for (const s of [...this.open]) s.resync();
  }
}

const RECONNECT_MS = 1000;

/**
 * GET .../metadata/chatroom/{id}/events: Server-Sent Events. A fresh subscriber gets a `snapshot`
 * event (the whole map and its seq), then every change as an unnamed event whose `id` is its seq.
 * `Last-Event-ID` or `?since=` resumes after that seq. The token may come as `?access_token=`,
 * since a browser's EventSource cannot send headers.
 */
export function eventRoutes(store: Store, options: EventStreamOptions, streams: OpenStreams, metrics: Metrics): FastifyPluginAsync {
  return async (f) => {
    const subscribe = async (req: FastifyRequest, reply: FastifyReply) => {
      const c = ctx(req);
      const { chatroomId } = req.params as { chatroomId: string };
      const q = req.query as EventsQuery;
      const lastId = req.headers['last-event-id'];
      const sinceText = typeof lastId === 'string' && lastId !== '' ? lastId : q.since;
      if (sinceText !== undefined && !/^[0-9]{1,15}$/.test(sinceText)) throw Errors.illegalArgument('Last-Event-ID / since must be an event seq');
      const since = sinceText === undefined ? undefined : Number(sinceText);
      const log = await store.readEvents(c.app!.appId, chatroomId, since ?? Number.MAX_SAFE_INTEGER, 1);
      if (!log.exists) {
        // A destroyed room's log lets a resume read its last events; with nothing left, 204 tells
        // an EventSource to stop reconnecting.
        if (since === undefined || log.lastSeq === 0) throw Errors.roomNotFound(chatroomId);
        if (since >= log.lastSeq) return reply.code(204).send();
      } else if (c.principal?.kind === 'user' && !(await store.isMember(c.app!.appId, chatroomId, c.actor!))) {
        throw Errors.notInRoom();
      }

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
      const sink: StreamSink = {
        event: (e) => write(`id: ${e.seq}\ndata: ${e.body}\n\n`),
        snapshot: (s) => write(`id: ${s.seq}\nevent: snapshot\ndata: ${JSON.stringify({
          seq: s.seq, chatroomId, app: c.app!.appKey, attributes: s.attributes,
        })}\n\n`),
        close: () => end(),
        drained: () => (open && raw.writableNeedDrain
          ? new Promise<void>((resolve) => {
            const done = () => {
              raw.off('drain', done);
              raw.off('close', done);
              resolve();
            };
            raw.on('drain', done);
            raw.on('close', done);
          })
          : null),
      };
      const stream = new RoomStream(store, c.app!.appId, chatroomId, sink);
      // Each heartbeat also looks at the room's log: an event the live feed lost without a trace
      // (a Redis subscriber connection that reconnected unseen) reaches the stream by the next one.
      const heartbeat = setInterval(() => {
        if (write(': heartbeat\n\n')) stream.resync();
      }, options.heartbeatMs);
      const forget = streams.add({
        close: () => {
          write(`retry: ${RECONNECT_MS}\n: server shutting down, reconnect\n\n`);
          end();
        },
        resync: () => stream.resync(),
      });
      function end() {
        if (!open) return;
        open = false;
        clearInterval(heartbeat);
        forget();
        stream.stop();
        raw.end();
        recordRequest(metrics, req, 200, reply.elapsedTime);
      }
      raw.on('close', end);
      try {
        await stream.start(since);
      } catch (err) {
        // The headers are out: end the stream rather than leave it open and silent. The client
        // reconnects (after `retry`) and starts again from its last id.
        req.log.warn({ err }, 'event stream could not start; ended');
        end();
      }
    };

    defineRoute(f, '/metadata/chatroom/:chatroomId/events', 'stream', {
      GET: { handler: subscribe, querystring: EventsQuery, summary: 'change events as Server-Sent Events (snapshot, then changes; resume with Last-Event-ID)',
        response: Type.String({ description: 'text/event-stream' }) },
    });
  };
}
