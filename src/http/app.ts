import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Errors } from '../domain/errors.js';
import { errorBody } from './envelope.js';
import { Authenticator } from '../auth/authenticator.js';
import { LoginGuard, type LoginCounters } from '../auth/login-guard.js';
import type { AppRegistry } from '../config/apps.js';
import type { Config } from '../config/config.js';
import type { Store } from '../store/types.js';
import { tenantHook } from './context.js';
import { Metrics } from './metrics.js';
import { opsRoutes } from './routes/ops.js';
import { registerDocs } from './openapi.js';
import { recordRequest } from './request-log.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { RateLimiter } from './rate-limit.js';
import { attributeRoutes } from './routes/attributes.js';
import { historyRoutes } from './routes/history.js';
import { chatroomRoutes } from './routes/chatrooms.js';
import { tokenRoutes } from './routes/token.js';
import { userRoutes } from './routes/users.js';
import { eventRoutes, OpenStreams } from './routes/events.js';
import { webhookRoutes } from './routes/webhooks.js';
import { presenceRoutes } from './routes/presence.js';
import { PresenceTracker } from '../events/presence-tracker.js';
import { ExpirySweeper } from '../events/expiry-sweeper.js';
import { attributeRecordRoutes } from './routes/console-api.js';
import { consoleRoutes } from './routes/console.js';
import { makeServices } from '../service/index.js';
import { webSocketLimits, webSocketRoutes } from './ws/routes.js';

export interface AppDeps {
  config: Pick<
    Config,
    | 'bodyLimit'
    | 'corsOrigins'
    | 'sseHeartbeatMs'
    | 'sseMaxBufferBytes'
    | 'requestTimeoutMs'
    | 'keepAliveTimeoutMs'
    | 'maxConnections'
    | 'metricsToken'
    | 'maxStreamsPerUser'
    | 'maxStreamsPerApp'
    | 'tokenMaxTtlS'
    | 'loginFailuresPerUser'
    | 'loginFailuresPerApp'
    | 'loginFailureWindowS'
    | 'loginConcurrencyPerApp'
  >;
  apps: AppRegistry;
  store: Store;
  logger: Logger | false;
  limiter?: RateLimiter;
  /** The failed-login counters: in memory unless given (the Redis store shares them across instances). */
  loginCounters?: LoginCounters;
  /** Made here when not given; the server passes its own so webhooks report to the same registry. */
  metrics?: Metrics;
  streams?: OpenStreams;
  /** Set while the server drains before closing: answers say Connection: close, /readyz says 503. */
  lifecycle?: { draining: boolean };
  clock?: () => number;
}

const ROUTES = new WeakMap<FastifyInstance, Array<{ method: string; url: string; hidden: boolean }>>();

/** Every route the app registered (method, URL pattern, hidden from the OpenAPI document or not). */
export function registeredRoutes(f: FastifyInstance): ReadonlyArray<{ method: string; url: string; hidden: boolean }> {
  return ROUTES.get(f) ?? [];
}

/** The deepest JSON body accepted; roomkv's deepest legitimate body nests 3 levels. */
const MAX_JSON_DEPTH = 32;

/**
 * Whether `[`/`{` nest deeper than `max` anywhere outside strings: one pass, no allocation, and it
 * stops at the first level too many. Malformed text is left for JSON.parse to report.
 */
export function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, stepping over each escaped character.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** A JSON body or WebSocket message, refused (json_parse) when it nests deeper than MAX_JSON_DEPTH. */
export function parseJsonText(text: string): unknown {
  // JSON.parse of `[[[...` half a million levels deep costs ~40x a flat body of the same size.
  if (nestingExceeds(text, MAX_JSON_DEPTH)) throw Errors.jsonTooDeep(MAX_JSON_DEPTH);
  return JSON.parse(text);
}

/** Agora's prefixes: `/{org}/{app}` and `/app-id/{appId}` name the same app (spec section 1). */
const PREFIXES = ['/:org/:app', '/app-id/:appId'];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, apps } = deps;
  const clock = deps.clock ?? Date.now;
  const streams = deps.streams ?? new OpenStreams({ maxPerUser: config.maxStreamsPerUser, maxPerApp: config.maxStreamsPerApp });
  const auth = new Authenticator(clock);
  const metrics = deps.metrics ?? new Metrics(apps.apps, deps.store, () => streams.size);
  const store = metrics.instrument(deps.store);
  const f = Fastify({
    loggerInstance: deps.logger === false ? undefined : (deps.logger as unknown as FastifyBaseLogger),
    bodyLimit: config.bodyLimit,
    // A flood of slow or idle clients must not hold the server: a request arrives whole in time.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionTimeout: 0,
    // Requests read while closing are served (with Connection: close) rather than refused.
    return503OnClosing: false,
    // Node checks the request timeouts this often (30 s by default): make the cut-off prompt.
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.requestTimeoutMs / 4))) },
    // A URL that is not valid percent-encoded UTF-8 still gets the Agora error envelope.
    frameworkErrors: (err, _req, reply) => {
      const api = Errors.illegalArgument(`malformed request: ${err.message}`);
      void (reply as FastifyReply).code(api.status).type('application/json').send(errorBody(api, reply.elapsedTime));
    },
    // `__proto__` and `constructor` are legal attribute keys: parse them as data (JSON.parse makes
    // own properties) and never merge request objects into plain ones downstream.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
    // One line per request, written in onResponse below with the app and the route.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  const routes: Array<{ method: string; url: string; hidden: boolean }> = [];
  ROUTES.set(f, routes);
  f.addHook('onRoute', (r) => {
    for (const method of [r.method].flat())
      routes.push({ method, url: r.url, hidden: (r.schema as { hide?: boolean } | undefined)?.hide === true });
  });
  // Response schemas document the API (/openapi.json); bodies are written with JSON.stringify, which
  // keeps every field and treats `__proto__` keys of the null-prototype maps as data.
  f.setSerializerCompiler(() => (data) => JSON.stringify(data));
  f.server.headersTimeout = config.requestTimeoutMs;
  // A connection that never starts a request is closed after the request timeout; once one starts,
  // Node's request, header and keep-alive timeouts take over (and event streams stay open).
  // (A plain timer: a socket's own idle timeout proved unreliable here when hundreds connect at once.)
  // Once the first request arrives the timer and its close listener go: a connection held open (an
  // event stream, a WebSocket) keeps neither (about 300 bytes each).
  const firstRequestTimers = new WeakMap<Socket, NodeJS.Timeout>();
  const firstRequestArrived = (socket: Socket) => {
    const timer = firstRequestTimers.get(socket);
    if (timer !== undefined) {
      clearTimeout(timer);
      firstRequestTimers.delete(socket);
      socket.off('close', closedBeforeRequest);
    }
  };
  // One function for every socket: the emitter calls it with the socket as `this`.
  function closedBeforeRequest(this: Socket): void {
    firstRequestArrived(this);
  }
  f.server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), config.requestTimeoutMs);
    timer.unref();
    firstRequestTimers.set(socket, timer);
    socket.on('close', closedBeforeRequest);
  });
  f.server.on('request', (req: IncomingMessage) => firstRequestArrived(req.socket));
  f.server.maxConnections = config.maxConnections;
  f.decorateRequest('rk', null);
  f.setErrorHandler(errorHandler(config.bodyLimit));
  f.setNotFoundHandler(notFoundHandler(apps));

  // Only JSON is accepted; an empty body (get with no body) parses as "no body".
  f.removeAllContentTypeParsers();
  f.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const s = text as string;
    if (s.length === 0) return done(null, undefined);
    try {
      done(null, parseJsonText(s));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const origins = config.corsOrigins.trim();
  await f.register(cors, {
    origin:
      origins === '*'
        ? '*'
        : origins
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean),
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id'],
    maxAge: 86_400,
  });

  const lifecycle = deps.lifecycle ?? { draining: false };
  // Callback-style hooks: no promise per request on the hot path.
  f.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id);
    if (lifecycle.draining) reply.header('connection', 'close');
    done(null, payload);
  });
  // Hijacked replies (event streams) skip this hook; they record themselves when they end.
  f.addHook('onResponse', (req, reply, done) => {
    recordRequest(metrics, req, reply.statusCode, reply.elapsedTime);
    done();
  });

  await registerDocs(f);
  await f.register(opsRoutes({ store, metricsToken: config.metricsToken, metrics, lifecycle }));
  await f.register(consoleRoutes(apps, auth));

  const limiter = deps.limiter ?? new RateLimiter();
  const hook = tenantHook({ apps, auth, store, limiter });
  const guard = new LoginGuard(config, deps.loginCounters);
  store.onFeedGap(() => streams.resyncAll());
  // Presence (spec section 9): the live streams of the apps with presence on are counted in the
  // store. Stopped before the streams are ended below, so that the shutdown is recorded as one
  // release of this instance, not as each stream going (PresenceStore.releasePresence).
  const presence = new PresenceTracker(
    store,
    apps.apps.map((a) => ({ appId: a.appId, graceMs: a.presence.leaveAfterOfflineMs, routing: a.routing })),
    f.log,
  );
  if (presence.enabled) {
    streams.observe(presence);
    f.addHook('onReady', () => presence.start());
  }
  f.addHook('preClose', () => presence.stop());
  // Keys with a ttl (spec section 10): their sweep runs on every instance, the store removes each once.
  const expiry = new ExpirySweeper(
    store,
    apps.apps.map((a) => ({ appId: a.appId, routing: a.routing })),
    f.log,
  );
  f.addHook('onReady', async () => expiry.start());
  f.addHook('preClose', () => expiry.stop());
  // Event streams never end by themselves: end them first, so that close() can drain the rest.
  f.addHook('preClose', async () => streams.closeAll());
  const streamOptions = { heartbeatMs: config.sseHeartbeatMs, maxBufferBytes: config.sseMaxBufferBytes };
  const login = { guard, maxTtlS: config.tokenMaxTtlS, clock };
  const services = makeServices({ store, counter: metrics, streams, auth, login });
  for (const prefix of PREFIXES) {
    await f.register(
      async (scope) => {
        scope.addHook('onRequest', hook);
        await scope.register(attributeRoutes(services.attributes));
        await scope.register(historyRoutes(services.history));
        await scope.register(userRoutes(services.users));
        await scope.register(chatroomRoutes(services.rooms));
        await scope.register(tokenRoutes(services.tokens));
        await scope.register(eventRoutes(services.streams, store, streamOptions, streams, metrics));
        await scope.register(presenceRoutes(services.presence));
        await scope.register(webhookRoutes(services.webhooks));
        await scope.register(attributeRecordRoutes(services.attributes));
      },
      { prefix },
    );
  }
  // A WebSocket upgrade is the socket's first and last request: it is kept from the first-request timer.
  await f.register(
    webSocketRoutes({
      prefixes: PREFIXES,
      tenantHook: hook,
      attributes: services.attributes,
      streams: services.streams,
      store,
      openStreams: streams,
      auth,
      limiter,
      metrics,
      parseJson: parseJsonText,
      accepted: firstRequestArrived,
      limits: webSocketLimits(config),
    }),
  );
  return f;
}
