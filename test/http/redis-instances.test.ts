import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile, type TestApp } from '../support/apps.js';
import { call, client, type Client } from '../support/client.js';
import { redisEnv, spawnServer, type ChildServer } from '../support/server.js';
import { freePort } from '../support/ports.js';
import { at } from '../support/at.js';

/**
 * Several roomkv processes on one Redis behave as one service; a Redis outage answers 503 and the
 * service recovers by itself. Each instance is its own process, as in production.
 */
async function twoInstances(env: Record<string, string>, app: TestApp): Promise<[ChildServer, ChildServer]> {
  const appsFile = writeAppsFile([app]);
  const common = { ...env, ROOMKV_APPS_FILE: appsFile, ROOMKV_DATA_DIR: tempDir() };
  return Promise.all([spawnServer(common), spawnServer(common)]);
}

async function setup(c: Client, members: string[]): Promise<string> {
  const users = await c.call('POST', '/users', { body: members.map((username) => ({ username, password: 'pw-123456' })) });
  assert.equal(users.status, 200, users.text);
  const room = await c.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: members[0], members: members.slice(1) } });
  assert.equal(room.status, 200, room.text);
  return room.body.data.id;
}

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`two instances [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`two instances on one ${kind}`, () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
    const prefix = `/${app.org}/${app.app}`;
    let servers: [ChildServer, ChildServer];
    let a: Client;
    let b: Client;
    before(async () => {
      servers = await twoInstances(found.env, app);
      a = client(servers[0].url, prefix, appToken(app));
      b = client(servers[1].url, prefix, appToken(app));
    });
    after(async () => {
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('reads through one instance what was written through the other, at once', async () => {
      const room = await setup(a, ['ann', 'ben']);
      for (let i = 0; i < 20; i++) {
        const w = i % 2 === 0 ? a : b;
        const r = i % 2 === 0 ? b : a;
        const set = await w.call('PUT', `/metadata/chatroom/${room}/user/ann`, { body: { metaData: { round: String(i) } } });
        assert.deepEqual(set.body.data, { successKeys: ['round'], errorKeys: {} });
        const got = await r.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['round'] } });
        assert.deepEqual(got.body.data, { round: String(i) });
      }
      // membership changes made on one are seen by the other
      const removed = await b.call('DELETE', `/chatrooms/${room}/users/ben`);
      assert.equal(removed.status, 200);
      const refused = await a.call('PUT', `/metadata/chatroom/${room}/user/ben`, { body: { metaData: { x: '1' } } });
      assert.equal(refused.status, 401);
    });

    it('accepts on one instance a token issued by the other', async () => {
      const issued = await call(servers[0].url, 'POST', `${prefix}/token`, {
        body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
      });
      assert.equal(issued.status, 200);
      await setup(a, ['tok1']);
      const pw = await call(servers[1].url, 'POST', `${prefix}/token`, {
        body: { grant_type: 'password', username: 'tok1', password: 'pw-123456' },
      });
      assert.equal(pw.status, 200);
      const onB = await b.as(issued.body.access_token).call('GET', '/users/tok1');
      assert.equal(onB.status, 200);
      const userOnA = await a.as(pw.body.access_token).call('POST', `/metadata/chatroom/999`, { body: {} });
      assert.equal(userOnA.status, 404, 'the user token authenticates on the other instance');
    });

    it('races: 20 users on two instances for one new key, exactly one owner', async () => {
      const names = Array.from({ length: 20 }, (_, i) => `racer${i}`);
      const room = await setup(a, names);
      const results = await Promise.all(
        names.map((u, i) =>
          (i % 2 === 0 ? a : b)
            .as(userToken(app, u))
            .call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData: { seat: u } } }),
        ),
      );
      const winners = results.filter((r) => r.body.data.successKeys.length === 1);
      assert.equal(winners.length, 1);
      for (const r of results) {
        if (r !== winners[0]) assert.deepEqual(r.body.data.errorKeys, { seat: "key 'seat' is not part of you" });
      }
      const got = await b.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['seat'] } });
      const winner = got.body.data.seat as string;
      assert.ok(names.includes(winner));
      const again = await a.call('PUT', `/metadata/chatroom/${room}/user/${winner}`, { body: { metaData: { seat: `${winner}!` } } });
      assert.deepEqual(again.body.data.successKeys, ['seat']);
    });

    it('races: 150 new keys into one room through two instances, exactly 100 stored', async () => {
      const names = Array.from({ length: 15 }, (_, i) => `filler${i}`);
      const room = await setup(a, names);
      const results = await Promise.all(
        names.map((u, i) => {
          const metaData = Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`k${i}_${j}`, `${u}`]));
          return (i % 2 === 0 ? a : b).call('PUT', `/metadata/chatroom/${room}/user/${u}`, { body: { metaData } });
        }),
      );
      const ok = results.flatMap((r) => r.body.data.successKeys as string[]);
      const full = results.flatMap((r) => Object.values(r.body.data.errorKeys as Record<string, string>));
      assert.equal(ok.length, 100);
      assert.equal(full.length, 50);
      for (const reason of full) assert.equal(reason, 'size of metadata for this single chatroom exceeds the user defined limit 100');
      const all = await b.call('POST', `/metadata/chatroom/${room}`, {});
      assert.deepEqual(Object.keys(all.body.data).sort(), [...ok].sort());
    });
  });

  describe(`shared rate limit on one ${kind}`, () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 100 } });
    const prefix = `/${app.org}/${app.app}`;
    let servers: ChildServer[];
    before(async () => {
      servers = await twoInstances(found.env, app);
    });
    after(async () => {
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('a burst of 300 calls split across both instances: the app gets its 100 per second, not 100 per instance', async () => {
      const token = appToken(app);
      const started = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 300 }, (_, i) => call(servers[i % 2]!.url, 'POST', `${prefix}/metadata/chatroom/1`, { token, body: {} })),
      );
      const elapsed = Date.now() - started;
      const passed = replies.filter((r) => r.status !== 429);
      const limited = replies.filter((r) => r.status === 429);
      for (const r of passed) assert.equal(r.status, 404, 'allowed calls reach the store (room 1 does not exist)');
      for (const r of limited) assert.equal(r.body.error, 'reach_limit');
      assert.equal(passed.length + limited.length, 300);
      // Fixed one-second windows: within one window exactly 100 pass; a burst that straddles a
      // window edge may pass up to 200, never 300 (which is what two separate budgets would allow
      // over two windows).
      if (elapsed < 900) assert.equal(passed.length, 100, `burst took ${elapsed} ms`);
      else assert.ok(passed.length >= 100 && passed.length <= 200, `${passed.length} passed in ${elapsed} ms`);
    });
  });
}

// ---- outage: a Redis of the test's own, stopped and restarted under load

async function startOwnRedis(port: number, dir: string): Promise<ChildProcess> {
  // AOF with fsync on every write: a kill -9 of this Redis loses nothing it acknowledged.
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('own redis did not start');
}

const ownRedis = redisEnv('redis');
describe('Redis outage', { skip: 'missing' in ownRedis ? ownRedis.missing : false }, () => {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const prefix = `/${app.org}/${app.app}`;
  let port: number;
  let dir: string;
  let redis: ChildProcess;
  let server: ChildServer;
  let api: Client;
  before(async () => {
    port = await freePort();
    dir = tempDir('roomkv-own-redis-');
    redis = await startOwnRedis(port, dir);
    server = await spawnServer({
      ROOMKV_STORE: 'redis',
      ROOMKV_REDIS_URL: `redis://127.0.0.1:${port}`,
      ROOMKV_REDIS_TIMEOUT_MS: '300',
      ROOMKV_APPS_FILE: writeAppsFile([app]),
      ROOMKV_DATA_DIR: tempDir(),
    });
    api = client(server.url, prefix, appToken(app));
  });
  after(async () => {
    await server.stop();
    redis.kill('SIGKILL');
  });

  /**
   * Three writers overwrite their own 20 keys each, in order, until stopped. Per key it records the
   * last acknowledged write and the last attempted one: afterwards the stored value must be the
   * acknowledged one or a later attempt (a call that timed out may still have been applied).
   */
  function load(room: string, tag: string) {
    const acked = new Map<string, number>();
    const attempted = new Map<string, number>();
    const statuses: number[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const key = `${tag}${w}_${i % 20}`;
        attempted.set(key, i);
        const started = Date.now();
        const res = await api.call('PUT', `/metadata/chatroom/${room}/user/owner1`, { body: { metaData: { [key]: `v${i}` } } });
        statuses.push(res.status);
        if (res.status === 200 && res.body.data.successKeys.includes(key)) acked.set(key, i);
        if (res.status === 503) {
          assert.equal(res.body.error, 'service_unavailable');
          assert.ok(Date.now() - started < 3000, 'a call fails fast while Redis is away');
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    };
    const done = Promise.all([0, 1, 2].map(worker));
    return {
      acked,
      attempted,
      statuses,
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  it('answers 503 while Redis is paused or down, recovers by itself, and keeps every acknowledged write', async () => {
    await api.call('POST', '/users', { body: [{ username: 'owner1', password: 'pw-123456' }] });
    const rooms: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await api.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'owner1', maxusers: 10 } });
      rooms.push(r.body.data.id);
    }

    // 1. paused (SIGSTOP): commands time out -> 503, then SIGCONT -> back
    const l1 = load(at(rooms, 0), 'p');
    await new Promise((r) => setTimeout(r, 300));
    redis.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 1200));
    const during = await api.call('POST', `/metadata/chatroom/${rooms[0]}`, {});
    assert.equal(during.status, 503);
    assert.equal(during.body.error, 'service_unavailable');
    redis.kill('SIGCONT');
    await l1.stop();
    assert.ok(l1.statuses.includes(503), 'some calls met the pause');
    assert.ok(
      l1.statuses.every((s) => s === 200 || s === 503),
      `only 200 and 503: ${[...new Set(l1.statuses)]}`,
    );

    // 2. killed and restarted on the same port and files: connection refused -> 503, then back
    const l2 = load(at(rooms, 1), 'k');
    await new Promise((r) => setTimeout(r, 300));
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    const down = await api.call('POST', `/metadata/chatroom/${rooms[1]}`, {});
    assert.equal(down.status, 503);
    await new Promise((r) => setTimeout(r, 500));
    redis = await startOwnRedis(port, dir);
    await new Promise((r) => setTimeout(r, 1500));
    await l2.stop();

    // recovered by itself: no restart of roomkv
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await api.call('POST', `/metadata/chatroom/${rooms[1]}`, {})).status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ok, 'roomkv serves again once Redis is back');
    const readyAgain = await api.call('PUT', `/metadata/chatroom/${rooms[1]}/user/owner1`, { body: { metaData: { after: 'yes' } } });
    assert.deepEqual(readyAgain.body.data.successKeys, ['after']);

    // every acknowledged write is there, with its value
    for (const [i, l] of [l1, l2].entries()) {
      const all = await api.call('POST', `/metadata/chatroom/${rooms[i]}`, {});
      assert.equal(all.status, 200);
      assert.ok(l.acked.size > 0);
      for (const [key, i] of l.acked) {
        const stored = Number(String(all.body.data[key]).slice(1));
        assert.ok(stored >= i && stored <= l.attempted.get(key)!, `${key}: acknowledged v${i}, stored ${all.body.data[key]}`);
      }
    }
  });
});

describe('store selection at start-up', () => {
  it('an unknown store stops start-up, naming ROOMKV_STORE', async () => {
    await assert.rejects(
      spawnServer({ ROOMKV_STORE: 'mongo', ROOMKV_DATA_DIR: tempDir(), ROOMKV_APPS_FILE: writeAppsFile([makeApp()]) }),
      (err: Error) => /exited with 1/.test(err.message) && /ROOMKV_STORE/.test(err.message),
    );
  });

  it('a Redis that cannot be reached stops start-up with a clear message', async () => {
    const port = await freePort();
    await assert.rejects(
      spawnServer({
        ROOMKV_STORE: 'redis',
        ROOMKV_REDIS_URL: `redis://127.0.0.1:${port}`,
        ROOMKV_REDIS_TIMEOUT_MS: '300',
        ROOMKV_DATA_DIR: tempDir(),
        ROOMKV_APPS_FILE: writeAppsFile([makeApp()]),
      }),
      (err: Error) => /exited with 1/.test(err.message) && new RegExp(`cannot reach Redis at redis://127.0.0.1:${port}`).test(err.message),
    );
  });
});
