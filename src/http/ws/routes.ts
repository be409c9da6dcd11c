import websocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Authenticator } from '../../auth/authenticator.js';
import type { Config } from '../../config/config.js';
import { Errors } from '../../domain/errors.js';
import type { OpenStreams } from '../../events/live-stream.js';
import type { AttributeService } from '../../service/attributes.js';
import type { StreamService } from '../../service/streams.js';
import type { EventLog, LiveFeed, RoomStore } from '../../store/types.js';
import { appOf, type RouteConfig } from '../context.js';
import type { Metrics } from '../metrics.js';
import type { RateLimiter } from '../rate-limit.js';
import { HeldRequest } from '../request-log.js';
import { WsConnection, type ConnectionDeps, type ConnectionLimits } from './connection.js';
import { WsOps } from './ops.js';
import { CloseCode } from './protocol.js';
import { LiveConnections, type ConnectionLimits as RegistryLimits } from './registry.js';
import { upgradeOnlyWebSockets } from './upgrades.js';
import { MessageValidator } from './validate.js';

export type WsLimits = ConnectionLimits & RegistryLimits;

/** A socket that failed the protocol (a frame too large, bad UTF-8) is dropped after this if its peer does not close. */
const PROTOCOL_ERROR_GRACE_MS = 1000;
/** However long requests may take to arrive, an unauthenticated socket gets at most this for its `auth` message. */
const MAX_AUTH_TIMEOUT_MS = 5000;

/**
 * The WebSocket bounds, from the settings the other transports already have: a message is a
 * request body (ROOMKV_BODY_LIMIT); the auth message must come as a request must
 * (ROOMKV_REQUEST_TIMEOUT_MS, at most 5 s); connections per user and app are capped as event
 * streams are; unauthenticated sockets may hold a quarter of ROOMKV_MAX_CONNECTIONS; pings and
 * the cut-off of a slow reader follow the event streams' heartbeat and buffer settings.
 */
export function webSocketLimits(
  config: Pick<
    Config,
    'bodyLimit' | 'requestTimeoutMs' | 'maxConnections' | 'maxStreamsPerUser' | 'maxStreamsPerApp' | 'sseHeartbeatMs' | 'sseMaxBufferBytes'
  >,
): WsLimits {
  return {
    maxMessageBytes: config.bodyLimit,
    authTimeoutMs: Math.min(config.requestTimeoutMs, MAX_AUTH_TIMEOUT_MS),
    maxPending: Math.max(1, Math.floor(config.maxConnections / 4)),
    maxPerUser: config.maxStreamsPerUser,
    maxPerApp: config.maxStreamsPerApp,
    heartbeatMs: config.sseHeartbeatMs,
    maxBufferBytes: config.sseMaxBufferBytes,
  };
}

export interface WsDeps {
  /** The tenant prefixes (`/:org/:app`, `/app-id/:appId`): the route is `{prefix}/ws`. */
  prefixes: readonly string[];
  /** The tenant hook of every route: it resolves the app (404 before any upgrade). */
  tenantHook: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  attributes: AttributeService;
  streams: StreamService;
  store: EventLog & LiveFeed & Pick<RoomStore, 'isMember' | 'getUser' | 'getUserByUuid'>;
  openStreams: OpenStreams;
  auth: Authenticator;
  limiter: RateLimiter;
  metrics: Metrics;
  /** JSON.parse with the REST body parser's depth limit. */
  parseJson(text: string): unknown;
  /** The socket became a WebSocket: the HTTP server's wait for its first request no longer applies. */
  accepted(socket: Socket): void;
  limits: WsLimits;
}

const WsQuery = Type.Object({
  access_token: Type.Optional(Type.String({ description: 'the token; or send {"op":"auth","token":"..."} first' })),
});

/** ws has already sent the close frame the error calls for (1009, 1007, ...): the peer gets a moment to close. */
function protocolError(err: Error, ws: WebSocket, log: FastifyBaseLogger): void {
  log.info({ err }, 'websocket protocol error, closed');
  setTimeout(() => ws.terminate(), PROTOCOL_ERROR_GRACE_MS).unref();
}

/**
 * An open WebSocket holds nothing of its upgrade request. @fastify/websocket leaves the response
 * it made for the upgrade on the TCP socket (ServerResponse, and through its listeners Fastify's
 * Reply and Request, the IncomingMessage and its headers) and an 'error' listener on the
 * WebSocket that holds the Request and Reply: about 5 KB a connection for as long as it is open.
 * The response lets go of the socket (it was never sent: the handshake answered), and the
 * 'error' listener is replaced by one that does the same (protocolError) with the logger alone.
 */
function letGoOfRequest(ws: WebSocket, req: FastifyRequest, res: ServerResponse | undefined, held: HeldRequest): void {
  if (res !== undefined && res.socket === req.raw.socket) res.detachSocket(req.raw.socket);
  ws.removeAllListeners('error');
  ws.on('error', (err) => protocolError(err, ws, held.log));
}

/** The upgrade request's token, as `Bearer <token>`: the Authorization header, else `?access_token=`. */
function tokenOf(req: FastifyRequest): string | undefined {
  if (req.headers.authorization !== undefined) return req.headers.authorization;
  const token = (req.query as { access_token?: string }).access_token;
  // Tokens have no spaces: a '+' of a 007 token sent unencoded arrives as one.
  return token === undefined ? undefined : `Bearer ${token.replace(/ /g, '+')}`;
}

/**
 * GET `{prefix}/ws` (spec section 9): upgraded to a WebSocket whose ops are the attribute calls and
 * room subscriptions. The app is resolved before the upgrade (404 as any route); the token is
 * verified after it, so a bad one closes the socket with 4401. A plain GET gets 426; other methods 405.
 */
export function webSocketRoutes(d: WsDeps): FastifyPluginAsync {
  return async (f) => {
    const registry = new LiveConnections(d.limits);
    let unfilter = () => {};
    await f.register(websocket, {
      // A message is at most a request body; larger frames close the socket (1009) before they are buffered.
      options: { maxPayload: d.limits.maxMessageBytes, perMessageDeflate: false, clientTracking: false },
      preClose: (done) => {
        unfilter();
        registry.closeAll(CloseCode.serviceRestart, 'server shutting down, reconnect');
        done();
      },
      errorHandler: (err, socket, req) => protocolError(err, socket, req.log),
    });
    /** The response @fastify/websocket made for each upgrade request, until the connection lets go of it. */
    const upgrades = new WeakMap<IncomingMessage, ServerResponse>();
    unfilter = upgradeOnlyWebSockets(f.server);
    // The GET route's querystring schema has Fastify set up this scope's validator compiler: ops are checked with it.
    const validator = new MessageValidator(() => f.validatorCompiler, d.limits.maxMessageBytes);
    const ops = new WsOps({
      attributes: d.attributes,
      streams: d.streams,
      limiter: d.limiter,
      validator,
      parseJson: d.parseJson,
      bodyLimit: d.limits.maxMessageBytes,
      log: f.log,
    });

    // One object for every connection of the route: a connection keeps only what is its own.
    const shared: ConnectionDeps = {
      auth: d.auth,
      store: d.store,
      registry,
      ops,
      subscriptions: { store: d.store, streams: d.openStreams, heartbeatMs: d.limits.heartbeatMs },
      limits: d.limits,
      metrics: d.metrics,
    };
    const open = (ws: WebSocket, req: FastifyRequest) => {
      const socket = req.raw.socket;
      d.accepted(socket);
      const held = new HeldRequest(req, f.log);
      const app = appOf(req);
      const header = tokenOf(req);
      letGoOfRequest(ws, req, upgrades.get(req.raw), held);
      new WsConnection(ws, socket, shared, app, held, header);
    };

    f.addHook('onRequest', d.tenantHook);
    const config: RouteConfig = { auth: 'none' };
    for (const prefix of d.prefixes) {
      const url = `${prefix}/ws`;
      f.route<RouteGenericInterface, RouteConfig>({
        method: 'GET',
        url,
        config,
        // Not in /openapi.json: OpenAPI cannot describe a WebSocket; the README does.
        schema: { hide: true, querystring: WsQuery },
        preHandler: async (req, reply) => {
          if (!req.ws) return;
          if (tokenOf(req) === undefined && !registry.hasRoomForPending()) throw Errors.tooManyPendingSockets();
          upgrades.set(req.raw, reply.raw);
        },
        handler: async () => {
          throw Errors.upgradeRequired();
        },
        wsHandler: open,
      });
      f.route({
        method: ['POST', 'PUT', 'DELETE', 'PATCH'],
        url,
        config,
        schema: { hide: true },
        handler: async () => {
          throw Errors.methodNotSupported();
        },
      });
    }
  };
}
