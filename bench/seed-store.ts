/**
 * Writes what is too slow to write over HTTP straight through roomkv's own store, before its server
 * starts (SQLite) or beside it (Redis): the benchmark's users (registering 10,000 users over HTTP
 * would spend minutes in scrypt; they all share one precomputed hash here) and, for the scale run,
 * the preload of 20,000 rooms x 50 keys. Prints one JSON line with the timings.
 *
 *   node --import tsx bench/seed-store.ts <spec.json>
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventRouting } from '../src/domain/events.js';
import type { Store } from '../src/store/types.js';

export interface SeedSpec {
  kind: 'sqlite' | 'redis';
  dataDir?: string;
  redisUrl?: string;
  redisPrefix?: string;
  appId: string;
  appKey: string;
  users: string[];
  preload?: { rooms: number; keysPerRoom: number; membersPerRoom: number; users: number };
  /**
   * A compiled build's folder (the --compare build): its own store writes the seed, so the data is
   * in its schema and key layout. Absent: this tree's src/.
   */
  build?: string;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SeedSpec;
const mod = (path: string) =>
  import(spec.build ? pathToFileURL(resolve(spec.build, `${path}.js`)).href : new URL(`../src/${path}.js`, import.meta.url).href);
const { hashPassword } = await mod('auth/passwords');
const { DEFAULT_LIMITS } = await mod('domain/limits');
const { connectRedis } = await mod('store/redis/connect');
const { RedisStore } = await mod('store/redis/redis-store');
const { SqliteStore } = await mod('store/sqlite/sqlite-store');
const eventLog = { minEvents: 1000, minAgeMs: 600_000 };
const routing: EventRouting = { appKey: spec.appKey, endpointsFor: () => [] };

async function open(): Promise<Store> {
  if (spec.kind === 'sqlite') {
    // NORMAL: the preload need not be fsynced call by call; the server reopens it with FULL.
    return new SqliteStore({ path: join(spec.dataDir!, 'roomkv.sqlite'), synchronous: 'NORMAL', eventLog });
  }
  const client = await connectRedis({ url: spec.redisUrl!, commandTimeoutMs: 30_000 });
  return new RedisStore({ client, prefix: spec.redisPrefix!, eventLog });
}

/** Runs `fn` over 0..n-1 with at most `width` calls in flight (SQLite calls complete synchronously). */
async function pool(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const store = await open();
const hashPw = hashPassword as (pw: string) => Promise<string>;
const width = spec.kind === 'redis' ? 64 : 1;
const t0 = performance.now();
const hash = await hashPw('bench-password');
const preloadUsers = spec.preload ? Array.from({ length: spec.preload.users }, (_, i) => `p${String(i).padStart(5, '0')}`) : [];
const allUsers = [...spec.users, ...preloadUsers];
const BATCH = 500;
await pool(Math.ceil(allUsers.length / BATCH), width, (b) =>
  store.createUsers(
    spec.appId,
    allUsers.slice(b * BATCH, (b + 1) * BATCH).map((username) => ({ username, passwordHash: hash })),
  ),
);
const usersMs = performance.now() - t0;

let preloadMs = 0;
let attributes = 0;
if (spec.preload) {
  const { rooms, keysPerRoom, membersPerRoom } = spec.preload;
  const limits = { ...DEFAULT_LIMITS, maxBatchSize: 1000, maxAttributesPerRoom: 1000 };
  const perMember = Math.ceil(keysPerRoom / membersPerRoom);
  const t1 = performance.now();
  await pool(rooms, width, async (r) => {
    const members = Array.from({ length: membersPerRoom }, (_, m) => preloadUsers[(r * membersPerRoom + m) % preloadUsers.length]!);
    const room = await store.createRoom(spec.appId, {
      name: `preload-${r}`,
      description: 'scale preload',
      owner: members[0]!,
      maxusers: 10_000,
      members: members.slice(1),
    });
    for (let m = 0; m < membersPerRoom; m++) {
      const pairs: Array<[string, unknown]> = [];
      for (let k = m * perMember; k < Math.min(keysPerRoom, (m + 1) * perMember); k++) {
        pairs.push([`attr${String(k).padStart(2, '0')}`, `v-${r}-${k}-${'x'.repeat(12)}`]);
      }
      const out = await store.setAttributes({
        appId: spec.appId,
        roomId: room.id,
        user: members[m]!,
        forced: false,
        autoDelete: 'DELETE',
        pairs,
        limits,
        routing,
      });
      attributes += out.successKeys.length;
      if (Object.keys(out.errorKeys).length > 0) throw new Error(`preload: ${JSON.stringify(out.errorKeys)}`);
    }
    if ((r + 1) % 5000 === 0) process.stderr.write(`seed: ${r + 1}/${rooms} rooms, ${Math.round((performance.now() - t1) / 1000)} s\n`);
  });
  preloadMs = performance.now() - t1;
}
await store.close();
console.log(JSON.stringify({ users: allUsers.length, usersMs: Math.round(usersMs), preloadMs: Math.round(preloadMs), attributes }));
process.exit(0);
