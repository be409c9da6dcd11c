// What the race and crash rounds share: the stores to run on, roomkv instances, a seeded random
// source (the seed is printed in every failure so a round can be replayed), and calls that record
// when they ran and what they answered.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { AutoDelete } from '../../src/domain/attributes.js';
import { appToken, makeApp, tempDir, userToken, writeAppsFile, type TestApp } from '../support/apps.js';
import { call } from '../support/client.js';
import { redisEnv, spawnServer, startTarget, type ChildServer } from '../support/server.js';
import type { Attr, AttrRequest, Held, ObservedCall, RoomState } from './model.js';

export const STORES = ['sqlite', 'redis', 'redis-cluster'] as const;
export type StoreKind = (typeof STORES)[number];

/** The environment that selects `kind`, or why it is missing (Redis not started: see redisEnv). */
export function storeEnv(kind: StoreKind): { env: Record<string, string> } | { missing: string } {
  // Pinned, so that a ROOMKV_STORE in the caller's environment cannot move the SQLite rounds.
  if (kind === 'sqlite') return { env: { ROOMKV_STORE: 'sqlite' } };
  return redisEnv(kind);
}

/** An app whose rate limit never decides a race. */
export function raceApp(): TestApp {
  return makeApp({ limits: { rateLimitPerSecond: 1_000_000 } });
}

/** A positive integer from the environment, or the default. */
export function sizeFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

/** mulberry32: small, fast and good enough to pick calls; the same seed replays the same choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** SOAK_SEED when set (to replay a failure), else a fresh one. */
export function seedFromEnv(): number {
  return process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : Math.floor(Math.random() * 2 ** 31);
}

export class Dice {
  constructor(
    readonly seed: number,
    private readonly next = seededRandom(seed),
  ) {}
  float(): number {
    return this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  autoDelete(): AutoDelete {
    return this.chance(0.5) ? 'DELETE' : 'NO_DELETE';
  }
}

/** Several roomkv processes (or one in this process for SQLite) serving one app on one store. */
export interface Instances {
  urls: string[];
  close(): Promise<void>;
}

/**
 * SQLite: one instance, in this process (one process owns the file). Redis and Redis Cluster:
 * `count` roomkv processes sharing the store (one key prefix), as in production.
 */
export async function startInstances(kind: StoreKind, env: Record<string, string>, app: TestApp, count: number): Promise<Instances> {
  if (kind === 'sqlite') {
    const server = await startTarget({ name: 'sqlite', env: () => env }, [app]);
    return { urls: [server.url], close: () => server.close() };
  }
  const dataDir = tempDir();
  const common = { ...env, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir), ROOMKV_DATA_DIR: dataDir };
  const servers: ChildServer[] = await Promise.all(Array.from({ length: count }, () => spawnServer(common)));
  return {
    urls: servers.map((s) => s.url),
    close: async () => {
      const codes = await Promise.all(servers.map((s) => s.stop()));
      assert.deepEqual(
        codes,
        codes.map(() => 0),
        'every instance stops cleanly',
      );
    },
  };
}

export function prefixOf(app: TestApp): string {
  return `/${app.org}/${app.app}`;
}

/** An app-token call that must answer 200; returns `data`. */
export async function adminOk(url: string, app: TestApp, method: string, path: string, body?: unknown): Promise<any> {
  const res = await call(url, method, `${prefixOf(app)}${path}`, { token: appToken(app), ...(body === undefined ? {} : { body }) });
  assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
  return res.body.data ?? res.body;
}

export async function createUsers(url: string, app: TestApp, names: string[]): Promise<void> {
  await adminOk(
    url,
    app,
    'POST',
    '/users',
    names.map((username) => ({ username, password: 'pw-123456' })),
  );
}

export async function createRoom(url: string, app: TestApp, owner: string, members: string[]): Promise<string> {
  const data = await adminOk(url, app, 'POST', '/chatrooms', { name: 'reliability', description: 'd', owner, members });
  return data.id as string;
}

/** Every attribute of a room with its owner and flag (GET .../chatrooms/{id}/attributes, app token). */
export async function readRecords(url: string, app: TestApp, room: string): Promise<Map<string, Attr>> {
  const rows = (await adminOk(url, app, 'GET', `/chatrooms/${room}/attributes`)) as Array<{
    key: string;
    value: string;
    owner: string;
    autoDelete: AutoDelete;
  }>;
  return new Map(rows.map((r) => [r.key, { value: r.value, owner: r.owner, autoDelete: r.autoDelete }]));
}

export function requestPath(room: string, req: AttrRequest): { method: string; path: string; body: unknown } {
  const path = `/metadata/chatroom/${room}/user/${req.user}${req.forced ? '/forced' : ''}`;
  const conditions = {
    ...(req.ifRevision !== undefined ? { ifRevision: req.ifRevision } : {}),
    ...(req.atomic !== undefined ? { atomic: req.atomic } : {}),
  };
  if (req.op === 'set')
    return { method: 'PUT', path, body: { metaData: Object.fromEntries(req.pairs), autoDelete: req.autoDelete, ...conditions } };
  if (req.op === 'increment') {
    const bounds = { ...(req.min !== undefined ? { min: req.min } : {}), ...(req.max !== undefined ? { max: req.max } : {}) };
    return {
      method: 'PUT',
      path,
      body: { increment: Object.fromEntries(req.deltas), ...bounds, autoDelete: req.autoDelete, ...conditions },
    };
  }
  return { method: 'DELETE', path, body: { keys: req.keys, ...conditions } };
}

/**
 * A room as the model sees it: every attribute with its revision (get with `detail`, app token) and
 * the seq of its latest event (the history route). Read while no call is in flight.
 */
export async function readRoom(url: string, app: TestApp, room: string): Promise<RoomState> {
  const detail = (await adminOk(url, app, 'POST', `/metadata/chatroom/${room}`, { detail: true })) as Record<string, Held>;
  const attrs = new Map(
    Object.entries(detail).map(([k, d]) => [k, { value: d.value, owner: d.owner, autoDelete: d.autoDelete, revision: d.revision }]),
  );
  let seq = 0;
  for (;;) {
    const page = (await adminOk(url, app, 'GET', `/metadata/chatroom/${room}/history?since=${seq}&limit=1000`)) as {
      events: Array<{ seq: number }>;
      next: number | null;
    };
    for (const e of page.events) seq = Math.max(seq, e.seq);
    if (page.next === null || page.events.length === 0) return { attrs, seq };
    seq = page.next;
  }
}

/** The token a call is made with: the member's own 007 user token, or the app token. */
export function tokenFor(app: TestApp, user: string, asApp: boolean): string {
  return asApp ? appToken(app) : userToken(app, user);
}

/** Sends one attribute call and records its interval and answer; anything but a 200 fails the round. */
export async function observe(url: string, app: TestApp, room: string, req: AttrRequest, token: string): Promise<ObservedCall> {
  const { method, path, body } = requestPath(room, req);
  const startedAt = performance.now();
  const res = await call(url, method, `${prefixOf(app)}${path}`, { token, body });
  const endedAt = performance.now();
  assert.equal(res.status, 200, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
  const data = res.body?.data;
  assert.ok(Array.isArray(data?.successKeys) && typeof data?.errorKeys === 'object', `${method} ${path}: ${res.text}`);
  // values: an increment's new values (spec section 10); no other call answers them.
  if (req.op !== 'increment') assert.equal(data.values, undefined, `${method} ${path}: values in ${res.text}`);
  const values = data.values === undefined ? {} : { values: data.values as Record<string, string> };
  return { request: req, startedAt, endedAt, outcome: { successKeys: data.successKeys, errorKeys: data.errorKeys, ...values } };
}
