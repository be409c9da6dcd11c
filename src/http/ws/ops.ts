import type { FastifyBaseLogger } from 'fastify';
import { Errors, type ApiError } from '../../domain/errors.js';
import type { AttributeService } from '../../service/attributes.js';
import { requireActsAs, type ServiceContext } from '../../service/context.js';
import type { StreamService } from '../../service/streams.js';
import { toApiError } from '../errors.js';
import { keyOutcomesBody } from '../key-reasons.js';
import type { RateLimiter } from '../rate-limit.js';
import { GetBody, KeysBody, SetBody } from '../schemas.js';
import {
  ActsAsFields,
  BAD_ID,
  BAD_OP,
  ENVELOPE_FIELDS,
  OPS,
  ResumeFields,
  RoomFields,
  endMessage,
  messageId,
  replyError,
  replyOk,
  type MessageId,
  type Op,
} from './protocol.js';
import type { OpenedStream, Subscription } from './subscription.js';
import type { MessageValidator } from './validate.js';

/** What an op asks of the connection it came on. */
export interface OpConnection {
  /** The caller as a REST call with the connection's token would be now: verified again, its user looked up again. */
  caller(): Promise<ServiceContext>;
  isSubscribed(roomId: string): boolean;
  /** Registers the subscription an opening makes; it starts once its reply is sent. */
  subscribe(opening: OpenedStream): Subscription;
  unsubscribe(roomId: string): void;
  send(text: string): boolean;
}

/** An op's reply, and what to do once it is sent (a subscription starts sending after its reply). */
export interface OpOutcome {
  reply: string;
  after?: () => void;
}

export interface OpsDeps {
  attributes: AttributeService;
  streams: StreamService;
  limiter: RateLimiter;
  validator: MessageValidator;
  /** JSON.parse with the REST body parser's depth limit. */
  parseJson(text: string): unknown;
  bodyLimit: number;
  log: FastifyBaseLogger;
}

type Message = Record<string, unknown>;

/** The REST call's body in a set, delete or get message: every field but the op's own. */
function bodyOf(msg: Message): Message {
  const body: Message = {};
  for (const [k, v] of Object.entries(msg)) if (!(ENVELOPE_FIELDS as readonly string[]).includes(k)) body[k] = v;
  return body;
}

const isOp = (op: unknown): op is Op => typeof op === 'string' && (OPS as readonly string[]).includes(op);

/**
 * The ops of an authenticated connection (spec section 9). Each is authorised, rate-limited and
 * validated as its REST call is, in the REST order of checks (what the path names, then the
 * token, then the budget, then the body), and calls the same service: its reply carries the REST
 * call's `data`, or its status, `error` and `error_description`.
 */
export class WsOps {
  constructor(private readonly d: OpsDeps) {}

  async run(conn: OpConnection, text: string): Promise<OpOutcome> {
    let msg: unknown;
    try {
      msg = this.d.parseJson(text);
    } catch (err) {
      return { reply: replyError(null, this.apiError(err)) };
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { reply: replyError(null, Errors.messageNotAnObject()) };
    const m = msg as Message;
    const id = messageId(m.id);
    if (id === undefined) return { reply: replyError(null, Errors.illegalArgument(BAD_ID)) };
    try {
      return await this.op(conn, id, m);
    } catch (err) {
      return { reply: replyError(id, this.apiError(err)) };
    }
  }

  private async op(conn: OpConnection, id: MessageId, m: Message): Promise<OpOutcome> {
    const { op } = m;
    if (op === 'auth') throw Errors.alreadyAuthenticated();
    if (!isOp(op)) throw Errors.illegalArgument(BAD_OP);
    switch (op) {
      case 'ping':
        return { reply: replyOk(id, `{"timestamp":${Date.now()}}`) };
      case 'unsubscribe': {
        const { room } = this.d.validator.check(RoomFields, m, 'message');
        conn.unsubscribe(room);
        return { reply: replyOk(id, JSON.stringify({ chatroomId: room })) };
      }
      case 'subscribe':
        return this.subscribe(conn, id, m);
      case 'get': {
        const { room } = this.d.validator.check(RoomFields, m, 'message');
        const ctx = await this.admit(conn);
        const body = this.d.validator.check(GetBody, bodyOf(m), 'body');
        return { reply: replyOk(id, await this.d.attributes.get(ctx, { roomId: room, keys: body?.keys, detail: body?.detail })) };
      }
      case 'set': {
        const { room, user, forced = false } = this.d.validator.check(ActsAsFields, m, 'message');
        const ctx = await this.admit(conn, user);
        const { metaData, increment, min, max, autoDelete, ifRevision, atomic, ttl } = this.d.validator.check(SetBody, bodyOf(m), 'body');
        const outcome = await this.d.attributes.set(ctx, {
          roomId: room,
          username: user,
          forced,
          metaData,
          increment,
          min,
          max,
          autoDelete,
          ifRevision,
          atomic,
          ttl,
        });
        return { reply: replyOk(id, JSON.stringify(keyOutcomesBody(outcome))) };
      }
      case 'delete': {
        const { room, user, forced = false } = this.d.validator.check(ActsAsFields, m, 'message');
        const ctx = await this.admit(conn, user);
        const { keys, ifRevision, atomic } = this.d.validator.check(KeysBody, bodyOf(m), 'body');
        const outcome = await this.d.attributes.delete(ctx, { roomId: room, username: user, forced, keys, ifRevision, atomic });
        return { reply: replyOk(id, JSON.stringify(keyOutcomesBody(outcome))) };
      }
    }
  }

  /** Opens the stream as GET .../events does (same checks, same caps, same budget); it starts after the reply. */
  private async subscribe(conn: OpConnection, id: MessageId, m: Message): Promise<OpOutcome> {
    const { room } = this.d.validator.check(RoomFields, m, 'message');
    if (conn.isSubscribed(room)) throw Errors.alreadySubscribed(room);
    const ctx = await this.admit(conn);
    const { since, epoch } = this.d.validator.check(ResumeFields, { since: m.since, epoch: m.epoch }, 'message');
    const opening = await this.d.streams.open(ctx, room, since === undefined ? undefined : String(since), epoch);
    const reply = replyOk(id, JSON.stringify({ chatroomId: room }));
    // A destroyed room whose log has nothing after `since`: what SSE answers with 204.
    if (opening.status === 'ended') return { reply, after: () => conn.send(endMessage(room, 'room_destroyed')) };
    const sub = conn.subscribe(opening);
    return { reply, after: () => sub.start() };
  }

  /** The caller, allowed to act as `user` when the op names one, with one call of its app's budget spent. */
  private async admit(conn: OpConnection, user?: string): Promise<ServiceContext> {
    const ctx = await conn.caller();
    if (user !== undefined) requireActsAs(ctx, user);
    await this.d.limiter.consume(ctx.app);
    return ctx;
  }

  private apiError(err: unknown): ApiError {
    const api = toApiError(err, this.d.bodyLimit);
    if (api !== null) return api;
    this.d.log.error({ err }, 'unhandled error in a websocket op');
    return Errors.internal();
  }
}
