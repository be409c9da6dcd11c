// Drives the official Agora Chat web SDK (npm `agora-chat@1.4.0`) from Node so tests can check
// roomkv against the exact requests the real client sends. See spec/API.md section 8.
import { createRequire } from 'node:module';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export interface SdkConnectionOptions {
  apiUrl: string;
  org: string;
  app: string;
  userId: string;
  accessToken: string;
}

export interface SdkConnection {
  conn: any;
  requests: RecordedRequest[];
  close(): void;
}

// The wx.request-style options the SDK hands to `globalThis.request` on its "node" platform path.
interface WxRequestOptions {
  url: string;
  method?: string;
  header?: Record<string, unknown>;
  headers?: Record<string, unknown>;
  data?: unknown;
  timeout?: number;
  success?: (res: { statusCode: number; data: unknown; header: Record<string, string> }) => void;
  fail?: (err: { errMsg: string }) => void;
  complete?: (res: unknown) => void;
}

interface LiveConnection {
  conn: any;
  apiUrl: string;
  requests: RecordedRequest[];
}

const live = new Set<LiveConnection>();
let sdk: any;

function loadSdk(): any {
  if (sdk) return sdk;
  const g = globalThis as any;
  // The UMD wrapper evaluates `self` before anything else; Node has no `self`.
  if (g.self === undefined) g.self = g;
  // `request` is a free global the SDK resolves per call, so one dispatcher serves all connections.
  g.request = dispatch;
  const mod = createRequire(import.meta.url)('agora-chat');
  sdk = mod.default ?? mod;
  // Every REST call logs at debug level to the console, which drowns test output.
  sdk.logger?.setConsoleLogVisibility?.(false);
  return sdk;
}

// The SDK gives no per-connection hook for its transport, so requests are attributed by apiUrl
// prefix, narrowed by bearer token when several connections share a server.
function owners(url: string, headers: Record<string, string>): LiveConnection[] {
  const byHost = [...live].filter((c) => url.startsWith(c.apiUrl));
  const auth = headers['Authorization'] ?? headers['authorization'];
  const byToken = byHost.filter((c) => auth === `Bearer ${c.conn.context.accessToken}`);
  return byToken.length > 0 ? byToken : byHost;
}

function dispatch(opts: WxRequestOptions): void {
  void send(opts);
}

async function send(opts: WxRequestOptions): Promise<void> {
  const method = (opts.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.header ?? opts.headers ?? {})) {
    if (v !== undefined && v !== null) headers[k] = String(v);
  }
  let body: string | undefined;
  // The SDK already folds GET data into the query string but still passes it along.
  if (method !== 'GET' && method !== 'HEAD' && opts.data !== undefined && opts.data !== null) {
    body = typeof opts.data === 'string' ? opts.data : JSON.stringify(opts.data);
  }

  const targets = owners(opts.url, headers);
  if (targets.length === 0) {
    // Never let the SDK reach a real host (e.g. Agora's telemetry) from a test run.
    opts.fail?.({ errMsg: `request:fail no live SDK connection for ${opts.url}` });
    return;
  }
  for (const t of targets) t.requests.push({ method, url: opts.url, headers: { ...headers }, body });

  let res: Response;
  let text: string;
  try {
    res = await fetch(opts.url, {
      method,
      headers,
      body,
      signal: opts.timeout ? AbortSignal.timeout(opts.timeout) : undefined,
    });
    text = await res.text();
  } catch (err) {
    // The SDK maps exactly this errMsg to REQUEST_TIMEOUT; anything else becomes a generic failure.
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    opts.fail?.({ errMsg: timedOut ? 'request:fail timeout' : `request:fail ${String(err)}` });
    opts.complete?.({});
    return;
  }

  let data: unknown = text;
  try {
    data = text === '' ? '' : JSON.parse(text);
  } catch {
    // Like wx.request, a body that is not JSON is handed over as the raw string.
  }
  const response = { statusCode: res.status, data, header: Object.fromEntries(res.headers) };
  try {
    opts.success?.(response);
  } catch (err) {
    // The SDK's success handler assigns onto `data`, so a non-object 200 body throws inside it and
    // would leave the SDK's promise pending forever; fail instead so the test sees a rejection.
    opts.fail?.({ errMsg: `request:fail success handler threw: ${String(err)}` });
  }
  opts.complete?.(response);
}

export async function createSdkConnection(opts: SdkConnectionOptions): Promise<SdkConnection> {
  const SDK = loadSdk();

  // The constructor starts a 60 s setInterval (the telemetry rate-limit reset, created once per
  // process) and keeps no public handle to it; capture whatever it schedules so it can be unref'd.
  const intervals: ReturnType<typeof setInterval>[] = [];
  const realSetInterval = globalThis.setInterval;
  const capturing = ((...args: Parameters<typeof setInterval>) => {
    const handle = realSetInterval(...args);
    intervals.push(handle);
    return handle;
  }) as typeof setInterval;
  globalThis.setInterval = capturing;
  let conn: any;
  try {
    conn = new SDK.connection({ appKey: `${opts.org}#${opts.app}`, apiUrl: opts.apiUrl, isHttpDNS: false });
  } finally {
    globalThis.setInterval = realSetInterval;
  }
  for (const h of intervals) h.unref();

  // What a successful websocket login would have filled in. The attribute calls read
  // context.{orgName, appName, accessToken, userId}; the rest keeps other REST calls consistent.
  const appKey = `${opts.org}#${opts.app}`;
  Object.assign(conn.context, {
    orgName: opts.org,
    appName: opts.app,
    appKey,
    userId: opts.userId,
    accessToken: opts.accessToken,
  });
  Object.assign(conn.context.jid, { appKey, name: opts.userId });
  conn.orgName = opts.org;
  conn.appName = opts.app;
  conn.user = opts.userId;
  conn.token = opts.accessToken;
  conn.apiUrl = opts.apiUrl;

  const entry: LiveConnection = { conn, apiUrl: opts.apiUrl, requests: [] };
  live.add(entry);
  return {
    conn,
    requests: entry.requests,
    close() {
      live.delete(entry);
      for (const h of intervals) clearInterval(h);
      intervals.length = 0;
    },
  };
}
