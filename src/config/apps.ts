import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LimitsSchema, DEFAULT_LIMITS, type Limits } from '../domain/limits.js';
import { appUuid } from '../domain/ids.js';
import { EVENT_REASONS, operationOf, type EventReason, type EventRouting } from '../domain/events.js';
import { createHash } from 'node:crypto';
import { ConfigError } from './config.js';

const Hex32 = Type.String({ pattern: '^[0-9a-fA-F]{32}$' });
const Name = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });
/** The longest presence grace an app may declare: a week. */
const MAX_LEAVE_AFTER_OFFLINE_MS = 7 * 24 * 3600 * 1000;
/** The most events one batched POST carries. */
export const MAX_BATCH_EVENTS = 1000;
/** The longest a batch waits to fill: well inside a Redis claim's lease (60 s). */
export const MAX_BATCH_DELAY_MS = 10_000;

export const AppSchema = Type.Object(
  {
    org: Name,
    app: Name,
    appId: Hex32,
    appCertificate: Hex32,
    clientId: Type.String({ minLength: 1 }),
    clientSecret: Type.String({ minLength: 1 }),
    limits: Type.Optional(Type.Partial(LimitsSchema)),
    presence: Type.Optional(
      Type.Object(
        {
          leaveAfterOfflineMs: Type.Integer({
            minimum: 0,
            maximum: MAX_LEAVE_AFTER_OFFLINE_MS,
            description: 'a member with no live connection to a room for this long leaves it; 0: presence off',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    webhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            url: Type.String({ pattern: '^https?://[^\\s]+$', description: 'where events are POSTed' }),
            secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key of the signature header' }),
            events: Type.Optional(
              Type.Array(
                Type.Union([
                  ...EVENT_REASONS.map((r) => Type.Literal(r)),
                  Type.Literal('updateChatRoomAttributes'),
                  Type.Literal('removeChatRoomAttributes'),
                ]),
                { description: 'reasons or operations to send; all when absent' },
              ),
            ),
            format: Type.Optional(
              Type.Union([Type.Literal('roomkv'), Type.Literal('agora')], {
                description: "roomkv: the event's JSON (the default); agora: Agora Chat's set_metadata / delete_metadata callback bodies",
              }),
            ),
            agoraSecret: Type.Optional(
              Type.String({ minLength: 1, description: "key of the agora format's `security` MD5; `secret` when absent" }),
            ),
            batch: Type.Optional(
              Type.Object(
                {
                  maxEvents: Type.Integer({ minimum: 1, maximum: MAX_BATCH_EVENTS, description: 'events in one POST at most' }),
                  maxDelayMs: Type.Integer({
                    minimum: 0,
                    maximum: MAX_BATCH_DELAY_MS,
                    description: 'how long a due event waits for others to fill its batch',
                  }),
                },
                { additionalProperties: false, description: 'POST arrays of events (roomkv format only)' },
              ),
            ),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: true },
);

export const AppsFileSchema = Type.Object({ apps: Type.Array(AppSchema, { minItems: 1 }) });

/**
 * The first path segments roomkv serves itself (the console, the docs, the probes, the second
 * tenant prefix). An org of one of these names would share its URLs with them, so none may be
 * declared; test/ops/openapi.test.ts checks this list against the routes the server registers.
 */
export const RESERVED_ORGS: readonly string[] = ['app-id', 'console', 'docs', 'healthz', 'readyz', 'metrics', 'openapi.json'];

/** What a webhook's `events` may name: a reason or an operation. */
export const WEBHOOK_EVENT_NAMES: readonly string[] = [...EVENT_REASONS, 'updateChatRoomAttributes', 'removeChatRoomAttributes'];

/** A schema error in words a person can act on: a mistyped event name lists the valid ones. */
function describeError(e: { path: string; message: string; value: unknown }): string {
  if (/^\/apps\/\d+\/webhooks\/\d+\/events\/\d+$/.test(e.path)) {
    return `${JSON.stringify(e.value)} is not an event name: use ${WEBHOOK_EVENT_NAMES.join(', ')}`;
  }
  return e.message;
}

export type AppDeclaration = Static<typeof AppSchema>;

export interface WebhookEndpoint {
  /** Stable id derived from the URL: names the endpoint's outbox queues. */
  readonly id: string;
  readonly url: string;
  readonly secret: string;
  readonly events: readonly string[] | null;
  /** The bodies POSTed: roomkv's events, or Agora Chat's callbacks rendered from them (events/agora-callback.ts). */
  readonly format: 'roomkv' | 'agora';
  /** The key of the agora format's `security` field, when not `secret`. */
  readonly agoraSecret: string | null;
  /** POSTs carry a JSON array of up to maxEvents events, sent when full or maxDelayMs after the first was due; null: one event a POST. */
  readonly batch: Readonly<{ maxEvents: number; maxDelayMs: number }> | null;
}

export interface AppRecord {
  readonly org: string;
  readonly app: string;
  readonly appKey: string;
  readonly appId: string;
  readonly appCertificate: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly uuid: string;
  readonly limits: Readonly<Limits>;
  readonly webhooks: readonly WebhookEndpoint[];
  /** Spec section 9: a member offline this long leaves its room; 0 = presence off (the default). */
  readonly presence: Readonly<{ leaveAfterOfflineMs: number }>;
  /** Which webhook endpoints want an event, for the store's outbox. */
  readonly routing: EventRouting;
}

/** Looks apps up by `org/app` (case-insensitive, as upstream) and by App ID. */
export class AppRegistry {
  private readonly byName = new Map<string, AppRecord>();
  private readonly byId = new Map<string, AppRecord>();

  constructor(readonly apps: readonly AppRecord[]) {
    for (const a of apps) {
      this.byName.set(`${a.org}/${a.app}`.toLowerCase(), a);
      this.byId.set(a.appId.toLowerCase(), a);
    }
  }

  byOrgApp(org: string, app: string): AppRecord | undefined {
    return this.byName.get(`${org}/${app}`.toLowerCase());
  }

  byAppId(appId: string): AppRecord | undefined {
    return this.byId.get(appId.toLowerCase());
  }
}

function endpointId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

function toRecord(d: AppDeclaration): AppRecord {
  const webhooks: WebhookEndpoint[] = (d.webhooks ?? []).map((w) =>
    Object.freeze({
      id: endpointId(w.url),
      url: w.url,
      secret: w.secret,
      events: w.events ? Object.freeze([...w.events]) : null,
      format: w.format ?? 'roomkv',
      agoraSecret: w.agoraSecret ?? null,
      batch: w.batch ? Object.freeze({ ...w.batch }) : null,
    }),
  );
  // Precomputed per reason: the store asks on every write.
  const byReason = new Map<EventReason, readonly string[]>(
    EVENT_REASONS.map((reason) => [
      reason,
      Object.freeze(
        webhooks.filter((w) => w.events === null || w.events.includes(reason) || w.events.includes(operationOf(reason))).map((w) => w.id),
      ),
    ]),
  );
  const appKey = `${d.org}#${d.app}`;
  return Object.freeze({
    org: d.org,
    app: d.app,
    appKey,
    appId: d.appId.toLowerCase(),
    appCertificate: d.appCertificate.toLowerCase(),
    clientId: d.clientId,
    clientSecret: d.clientSecret,
    uuid: appUuid(d.appId),
    limits: Object.freeze({ ...DEFAULT_LIMITS, ...(d.limits ?? {}) }),
    webhooks: Object.freeze(webhooks),
    presence: Object.freeze({ leaveAfterOfflineMs: d.presence?.leaveAfterOfflineMs ?? 0 }),
    routing: Object.freeze({ appKey, endpointsFor: (reason: EventReason) => byReason.get(reason) ?? [] }),
  });
}

/** Validates an apps file's content; every problem is named with its place in the file. */
export function parseAppsFile(text: string, source: string): AppRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${source}: not valid JSON: ${(err as Error).message}`]);
  }
  const problems = [...Value.Errors(AppsFileSchema, json)].map((e) => `${source}: ${e.path || '/'}: ${describeError(e)}`);
  const declared = (json as { apps?: unknown } | null)?.apps;
  for (const [i, a] of (Array.isArray(declared) ? declared : []).entries()) {
    const org = (a as { org?: unknown } | null)?.org;
    if (typeof org === 'string' && RESERVED_ORGS.includes(org.toLowerCase())) {
      problems.push(
        `${source}: /apps/${i}/org: '${org}' is reserved: roomkv serves /${org.toLowerCase()} itself (reserved: ${RESERVED_ORGS.join(', ')})`,
      );
    }
    const hooks = (a as { webhooks?: unknown } | null)?.webhooks;
    for (const [j, w] of (Array.isArray(hooks) ? hooks : []).entries()) {
      const hook = w as { format?: unknown; batch?: unknown } | null;
      if (hook?.format === 'agora' && hook.batch !== undefined) {
        problems.push(
          `${source}: /apps/${i}/webhooks/${j}/batch: the agora format sends one callback a POST, as Agora Chat does: batch needs the roomkv format`,
        );
      }
    }
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  const apps = (json as Static<typeof AppsFileSchema>).apps.map(toRecord);
  const seen = new Set<string>();
  for (const a of apps) {
    for (const k of [`${a.org}/${a.app}`.toLowerCase(), a.appId]) {
      if (seen.has(k)) problems.push(`${source}: app ${k} is declared twice`);
      seen.add(k);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return apps;
}

export function loadAppsFile(path: string): AppRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`ROOMKV_APPS_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseAppsFile(text, path);
}

const DEMO_FILE = 'demo-app.json';

/**
 * The development app made on first start when no apps file is given. Its credentials are random
 * and kept in the data dir (mode 0600), so tokens minted for it survive restarts.
 */
export function loadOrCreateDemoApp(dataDir: string): { app: AppRecord; created: boolean } {
  const path = join(dataDir, DEMO_FILE);
  if (existsSync(path)) {
    // The schema asks for one app at least (minItems), so a file that parses holds one.
    const [app] = parseAppsFile(readFileSync(path, 'utf8'), path);
    if (app === undefined) throw new Error(`internal: ${path} parsed to no app`);
    return { app, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const decl: AppDeclaration = {
    org: 'demo',
    app: 'demo',
    appId: randomBytes(16).toString('hex'),
    appCertificate: randomBytes(16).toString('hex'),
    clientId: `YXA6${randomBytes(12).toString('base64url')}`,
    clientSecret: `YXA6${randomBytes(24).toString('base64url')}`,
  };
  writeFileSync(path, `${JSON.stringify({ apps: [decl] }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { app: toRecord(decl), created: true };
}
