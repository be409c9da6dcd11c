// kill -9 of roomkv under load, on each store, and Redis itself paused and killed under load. After
// each restart every acknowledged pair is there with its value, owner and flag, no pair is half
// there, and the store passes its own integrity check.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { appToken, tempDir, writeAppsFile, type TestApp } from '../support/apps.js';
import { call } from '../support/client.js';
import { LOG_LIMITS } from '../support/routing.js';
import { redisEnv, spawnServer, type ChildServer } from '../support/server.js';
import { createRoom, createUsers, Dice, prefixOf, raceApp, readRecords, STORES, storeEnv, type StoreKind } from './harness.js';
import { Ledger } from './ledger.js';
import { startLoad, WRITERS } from './load.js';
import { freePort } from '../support/ports.js';
import { assertSqliteIntact } from '../support/sqlite-integrity.js';
import { at } from '../support/at.js';

const DB_FILE = 'roomkv.sqlite';

export interface CrashSizes {
  crashRounds: number;
  outageRounds: number;
  seed: number;
}

export function crashSuite(sizes: CrashSizes): void {
  for (const kind of STORES) crashRounds(kind, sizes);
  outageRounds(sizes);
}

/** Reads every room back and compares it with the ledger; returns the acknowledged calls checked. */
async function verifyAll(url: string, app: TestApp, ledger: Ledger, when: string): Promise<number> {
  let checked = 0;
  const problems: string[] = [];
  for (const room of ledger.rooms()) {
    const result = ledger.check(room, await readRecords(url, app, room));
    checked += result.checked;
    problems.push(...result.problems);
  }
  assert.deepEqual(problems, [], `${when}: ${problems.length} problems`);
  return checked;
}

async function newRooms(url: string, app: TestApp, ledger: Ledger): Promise<Map<string, string>> {
  const rooms = new Map<string, string>();
  for (const w of WRITERS) {
    const room = await createRoom(url, app, w, []);
    rooms.set(w, room);
    ledger.open(room);
  }
  return rooms;
}

async function redisIntegrity(
  conn: { url?: string; clusterNodes?: string },
  prefix: string,
  appId: string,
  rooms: string[],
): Promise<void> {
  const client = await connectRedis({ url: conn.url ?? 'redis://127.0.0.1:6379', clusterNodes: conn.clusterNodes, commandTimeoutMs: 5000 });
  const store = new RedisStore({ client, prefix, eventLog: LOG_LIMITS });
  try {
    const problems: string[] = [];
    // Per room: the app's usage counter is moved beside a room's script, so a kill mid-call may
    // leave it off; every per-room invariant holds whatever the moment of the kill.
    for (const room of rooms) problems.push(...(await store.integrityCheck({ appId, roomId: room })));
    assert.deepEqual(problems, [], 'Redis: every room intact');
  } finally {
    await store.close();
  }
}

function crashRounds(kind: StoreKind, sizes: CrashSizes): void {
  const found = storeEnv(kind);
  const title = `kill -9 of roomkv under load [${kind}] (seed ${sizes.seed})`;
  if ('missing' in found) {
    describe(title, { skip: found.missing }, () => {});
    return;
  }
  describe(title, () => {
    const app = raceApp();
    const dataDir = tempDir();
    const env = { ...found.env, ROOMKV_DATA_DIR: dataDir, ROOMKV_APPS_FILE: writeAppsFile([app], dataDir) };
    const ledger = new Ledger();
    const dice = new Dice(sizes.seed);
    let checked = 0;
    let server: ChildServer | undefined;
    after(async () => {
      if (server && server.child.exitCode === null && server.child.signalCode === null) await server.kill9();
    });

    it(`${sizes.crashRounds} rounds: every acknowledged pair survives, none half-applied, integrity check clean`, async () => {
      const kills: string[] = [];
      server = await spawnServer(env);
      await createUsers(server.url, app, WRITERS);
      for (let round = 1; round <= sizes.crashRounds; round++) {
        if (round > 1) {
          server = await spawnServer(env);
          await verifyAll(server.url, app, ledger, `after kill ${round - 1} (${kills.join('; ')})`);
        }
        const current: ChildServer = server;
        const rooms = await newRooms(current.url, app, ledger);
        // 45 sets per writer at most (the room limit), 8 writers: the kill always comes first.
        const killAt = dice.int(8, 240);
        const load = startLoad({
          app,
          url: () => current.url,
          ledger,
          rooms,
          tag: `c${round}`,
          dice,
          retryUnavailable: false,
          maxCallsPerWriter: 60,
        });
        await load.progress.when(
          `${killAt} acknowledged calls`,
          () => load.progress.acked >= killAt || load.progress.unexpected.length > 0,
        );
        await current.kill9();
        await load.done;
        assert.deepEqual(load.progress.unexpected, [], `round ${round}: every answered call succeeds`);
        assert.equal(current.child.signalCode, 'SIGKILL');
        kills.push(`round ${round}: killed after ${load.progress.acked} acknowledged calls`);
      }
      server = await spawnServer(env);
      checked = await verifyAll(server.url, app, ledger, `after the last kill (${kills.join('; ')})`);
      assert.equal(await server.stop(), 0, `graceful stop:\n${server.output().slice(-2000)}`);
      assert.ok(checked >= sizes.crashRounds * 8, `only ${checked} acknowledged calls checked`);

      if (kind === 'sqlite') {
        await assertSqliteIntact(join(dataDir, DB_FILE));
      } else {
        const prefix = found.env.ROOMKV_REDIS_PREFIX;
        assert.ok(prefix !== undefined, 'a Redis target names its key prefix');
        await redisIntegrity(
          { url: found.env.ROOMKV_REDIS_URL, clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES },
          prefix,
          app.appId,
          ledger.rooms(),
        );
      }
      console.log(`reliability: ${kind} crash rounds=${sizes.crashRounds} acked writes checked=${checked} lost=0`);
    });
  });
}

// ---- Redis outage: a Redis of the test's own, paused and killed under load

/** redis-server with AOF and fsync on every write: what it acknowledged survives its kill -9. */
class OwnRedis {
  child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 20_000);
      child.stdout!.on('data', (d: Buffer) => {
        // Keep reading after start: a full pipe would block Redis.
        if (out.length < 20_000) out += d.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  }

  pause(): void {
    this.child!.kill('SIGSTOP');
  }
  resume(): void {
    this.child!.kill('SIGCONT');
  }

  async kill9(): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

function outageRounds(sizes: CrashSizes): void {
  const found = redisEnv('redis');
  const title = `Redis paused and killed under load (own redis-server, AOF always) (seed ${sizes.seed})`;
  if ('missing' in found) {
    describe(title, { skip: found.missing }, () => {});
    return;
  }
  describe(title, () => {
    const app = raceApp();
    const prefix = 'rkoutage:';
    const ledger = new Ledger();
    const dice = new Dice(sizes.seed ^ 0x5bd1e995);
    let redis: OwnRedis;
    let server: ChildServer;
    before(async () => {
      redis = new OwnRedis(await freePort(), tempDir('roomkv-own-redis-'));
      await redis.start();
      const dataDir = tempDir();
      server = await spawnServer({
        ROOMKV_STORE: 'redis',
        ROOMKV_REDIS_URL: redis.url,
        ROOMKV_REDIS_PREFIX: prefix,
        ROOMKV_REDIS_TIMEOUT_MS: '1000',
        ROOMKV_APPS_FILE: writeAppsFile([app], dataDir),
        ROOMKV_DATA_DIR: dataDir,
      });
    });
    after(async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) await server.kill9();
      redis.resume();
      await redis.kill9();
    });

    it(`${sizes.outageRounds} rounds of SIGSTOP/SIGCONT then kill -9/restart: calls answer 503, every acknowledged pair survives`, async () => {
      await createUsers(server.url, app, WRITERS);
      for (let round = 1; round <= sizes.outageRounds; round++) {
        const rooms = await newRooms(server.url, app, ledger);
        const load = startLoad({ app, url: () => server.url, ledger, rooms, tag: `o${round}`, dice, retryUnavailable: true });
        const p = load.progress;
        const allWritersAcked = (since: Map<string, number>, n: number) => () =>
          WRITERS.every((w) => (p.ackedBy.get(w) ?? 0) - (since.get(w) ?? 0) >= n);

        const pauseAt = dice.int(8, 60);
        await p.when(`${pauseAt} acknowledged calls`, () => p.acked >= pauseAt);
        redis.pause();
        let mark = p.unavailable;
        await p.when('503s while Redis is paused', () => p.unavailable - mark >= 4);
        const paused = await call(server.url, 'POST', `${prefixOf(app)}/metadata/chatroom/${rooms.get(at(WRITERS, 0))}`, {
          token: appToken(app),
          body: {},
        });
        assert.equal(paused.status, 503, paused.text);
        assert.equal(paused.body.error, 'service_unavailable');
        redis.resume();
        await p.when('every writer acknowledged after SIGCONT', allWritersAcked(new Map(p.ackedBy), 2));

        await redis.kill9();
        mark = p.unavailable;
        await p.when('503s while Redis is down', () => p.unavailable - mark >= 8);
        await redis.start();
        await p.when('every writer acknowledged after the restart', allWritersAcked(new Map(p.ackedBy), 2));
        await load.stop();

        assert.deepEqual(p.unexpected, [], `round ${round}: only 200 and 503 (${p.summary()})`);
        assert.deepEqual([...p.statuses.keys()].sort(), [200, 503], `round ${round}: ${p.summary()}`);
        assert.equal(server.child.exitCode, null, 'roomkv kept running through the outage');
        await verifyAll(server.url, app, ledger, `outage round ${round}`);
      }
      // Nothing was left in flight (every call was repeated until answered): all of it is checked.
      const checked = await verifyAll(server.url, app, ledger, 'after the outage rounds');
      assert.equal(checked, ledger.acknowledged());
      assert.equal(await server.stop(), 0, `graceful stop:\n${server.output().slice(-2000)}`);
      await redisIntegrity({ url: redis.url }, prefix, app.appId, ledger.rooms());
      console.log(`reliability: redis outage rounds=${sizes.outageRounds} acked writes checked=${checked} lost=0`);
    });
  });
}

/** The ledger's check must be able to say no. */
export function ledgerSelfTest(): void {
  describe('the pair ledger rejects lost, half-applied and stray writes', () => {
    const attr = (value: string, owner = 'w') => ({ value, owner, autoDelete: 'DELETE' as const });
    const ledgerOf = (set: 'acked' | 'unknown', del: 'none' | 'acked' | 'unknown') => {
      const l = new Ledger();
      l.add({ room: '1', writer: 'w', keys: ['a', 'b'], value: 'v', autoDelete: 'DELETE', set, del });
      return l;
    };
    it('an acknowledged pair that is gone is lost', () => {
      assert.equal(ledgerOf('acked', 'none').check('1', new Map()).lost, 1);
      assert.equal(
        ledgerOf('acked', 'none').check(
          '1',
          new Map([
            ['a', attr('v')],
            ['b', attr('v')],
          ]),
        ).checked,
        1,
      );
    });
    it('one key of a pair without its twin is half-applied, even for a call with no answer', () => {
      assert.match(
        ledgerOf('unknown', 'none')
          .check('1', new Map([['a', attr('v')]]))
          .problems.join(),
        /half-applied/,
      );
      assert.deepEqual(ledgerOf('unknown', 'none').check('1', new Map()).problems, []);
    });
    it('a wrong owner, value or a key nobody wrote is reported', () => {
      assert.match(
        ledgerOf('acked', 'none')
          .check(
            '1',
            new Map([
              ['a', attr('v', 'x')],
              ['b', attr('v', 'x')],
            ]),
          )
          .problems.join(),
        /holds/,
      );
      assert.match(
        ledgerOf('acked', 'none')
          .check(
            '1',
            new Map([
              ['a', attr('v')],
              ['b', attr('v2')],
            ]),
          )
          .problems.join(),
        /holds/,
      );
      assert.match(
        ledgerOf('acked', 'none')
          .check(
            '1',
            new Map([
              ['a', attr('v')],
              ['b', attr('v')],
              ['c', attr('v')],
            ]),
          )
          .problems.join(),
        /never written/,
      );
    });
    it('an acknowledged delete must stay done', () => {
      assert.equal(
        ledgerOf('acked', 'acked').check(
          '1',
          new Map([
            ['a', attr('v')],
            ['b', attr('v')],
          ]),
        ).lost,
        1,
      );
      assert.equal(ledgerOf('acked', 'acked').check('1', new Map()).checked, 2);
    });
  });
}
