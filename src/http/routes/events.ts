import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { AppRecord } from '../../config/apps.js';
import type { StoredEvent } from '../../domain/events.js';
import { EncodedOnce } from '../../events/encoded-once.js';
import { behindOf, writeInTick, type AfterTick } from '../../events/tick-writes.js';
import type { EndReason } from '../../events/room-stream.js';
import { LiveStream, OpenStreams, type LiveSink } from '../../events/live-stream.js';
import type { EventLog, LiveFeed, RoomStore, Snapshot } from '../../store/types.js';
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

/** An HTTP/1.1 chunk (its size in hex, CRLF, the bytes, CRLF) of `text`. */
function chunk(text: string): Buffer {
  return Buffer.from(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
}

/** A change event's chunk, made once for every stream of its room. */
const EVENT_CHUNKS = new EncodedOnce((e, epoch) => chunk(eventText(e, epoch)));
const HEARTBEAT = ': heartbeat\n\n';
const HEARTBEAT_CHUNK = chunk(HEARTBEAT);

function eventText(e: StoredEvent, epoch: string): string {
  return `id: ${e.seq}-${epoch}\ndata: ${e.body}\n\n`;
}

/**
 * One event stream's output. Once its head is out, a stream on a chunked HTTP/1.1 response (every
 * GET from a client of this century) writes its chunks to the socket itself: a change event is one
 * buffer, made once for the whole room (EVENT_CHUNKS), written with the rest of the tick's
 * (writeInTick), where the response's own write would make a string per subscriber and send the
 * chunk's size, data and end as three pieces. Ending goes through the response (its last chunk), so the connection
 * stays usable after. Anything else (HTTP/1.0, a HEAD, a request pipelined behind another whose
 * response still holds the socket) is written through the response, as text.
 */
class SseStream implements LiveSink, AfterTick {
  live: LiveStream | null = null;
  private open = true;
  private readonly raw: ServerResponse;
  /** The socket this stream writes its chunks to; null: it writes through the response. */
  private readonly socket: Socket | null;

  constructor(
    private readonly req: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly appKey: string,
    private readonly chatroomId: string,
    private readonly maxBufferBytes: number,
    private readonly metrics: Metrics,
  ) {
    this.raw = reply.raw;
    const direct = req.raw.method === 'GET' && this.raw.chunkedEncoding && this.raw.socket !== null;
    this.socket = direct ? this.raw.socket : null;
    this.raw.on('close', () => this.close());
  }

  event(e: StoredEvent, epoch: string): boolean {
    return this.direct() ? this.writeBytes(EVENT_CHUNKS.get(e, epoch)) : this.writeText(eventText(e, epoch));
  }

  snapshot(s: Snapshot, epoch: string): boolean {
    const body = JSON.stringify({ seq: s.seq, epoch, chatroomId: this.chatroomId, app: this.appKey, attributes: s.attributes });
    return this.send(`id: ${s.seq}-${epoch}\nevent: snapshot\ndata: ${body}\n\n`);
  }

  /** Presence (spec section 9): a named event with no id, so a resume never asks for it again. */
  presence(body: string): boolean {
    return this.send(`event: presence\ndata: ${body}\n\n`);
  }

  heartbeat(): boolean {
    return this.direct() ? this.writeBytes(HEARTBEAT_CHUNK) : this.writeText(HEARTBEAT);
  }

  goodbye(): void {
    this.send(`retry: ${RECONNECT_MS}\n: server shutting down, reconnect\n\n`);
  }

  close(reason?: EndReason): void {
    if (!this.open) return;
    if (reason !== undefined) this.send(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    this.open = false;
    this.live?.stop();
    this.raw.end();
    recordRequest(this.metrics, this.req, 200, this.reply.elapsedTime);
  }

  drained(): Promise<void> | null {
    const out: Writable = this.socket ?? this.raw;
    if (!this.open || !out.writableNeedDrain) return null;
    return new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        this.raw.off('close', done);
        resolve();
      };
      out.on('drain', done);
      this.raw.on('close', done);
    });
  }

  private send(text: string): boolean {
    return this.direct() ? this.writeBytes(chunk(text)) : this.writeText(text);
  }

  /**
   * Whether a chunk may go to the socket itself: only once the response holds nothing of its own
   * that has not reached the socket (its head and first writes may wait in the response, as they
   * do on Node 24 while the server has the socket corked), else the chunk would overtake them.
   */
  private direct(): boolean {
    return this.socket !== null && this.raw.writableLength === this.socket.writableLength;
  }

  /**
   * A slow reader must not hold the writers or grow memory: once what it has not taken yet passes
   * the bound, drop it; it resumes from its last id.
   */
  private keepsUp(): boolean {
    if (!this.open) return false;
    // What this tick gave the socket is not behind yet: it is offered to the kernel at the tick's end.
    const buffered =
      this.socket === null ? this.raw.writableLength : this.raw.writableLength - this.socket.writableLength + behindOf(this.socket);
    if (buffered <= this.maxBufferBytes) return true;
    this.req.log.warn({ buffered }, 'event stream subscriber too slow, disconnected');
    this.raw.destroy();
    return false;
  }

  private writeBytes(bytes: Buffer): boolean {
    if (!this.keepsUp()) return false;
    writeInTick(this.socket!, bytes, this);
    return true;
  }

  /** The bound again once the tick's writes are offered to the kernel (the last burst counts too). */
  afterTick(): void {
    this.keepsUp();
  }

  private writeText(text: string): boolean {
    if (!this.keepsUp()) return false;
    this.raw.write(text);
    return true;
  }
}

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
      // The head and `retry` first reach the socket (on Node 24 they may wait in the response while
      // the server holds the socket corked): a stream writes its chunks to the socket after them.
      await new Promise<void>((resolve) => {
        raw.once('close', resolve);
        raw.write(`retry: ${RECONNECT_MS}\n\n`, () => {
          raw.off('close', resolve);
          resolve();
        });
      });
      // Gone meanwhile: nothing to stream to, and the stream's place is given back.
      if (raw.destroyed) {
        opening.release();
        return;
      }
      const sse = new SseStream(req, reply, app.appKey, opening.roomId, options.maxBufferBytes, metrics);
      const live = new LiveStream({
        store,
        streams,
        roomId: opening.roomId,
        subscriber: opening.subscriber,
        sink: sse,
        heartbeatMs: options.heartbeatMs,
      });
      sse.live = live;
      try {
        await live.start(opening.since);
      } catch (err) {
        // The headers are out: end the stream rather than leave it open and silent. The client
        // reconnects (after `retry`) and starts again from its last id.
        req.log.warn({ err }, 'event stream could not start; ended');
        sse.close();
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
