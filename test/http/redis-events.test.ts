import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile } from '../support/apps.js';
import { client, type Client } from '../support/client.js';
import { redisEnv, spawnServer, type ChildServer } from '../support/server.js';
import { json, openStream, type SseStream } from '../support/sse.js';

/**
 * Change events across roomkv processes on one Redis (and on a Redis Cluster): a subscriber on
 * one instance sees what is written through another, every event once, in seq order, and a resume
 * on either instance replays from the shared log.
 */
const WAIT_MS = 20_000;

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`change events across instances [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`change events across two instances on one ${kind}`, () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
    const prefix = `/${app.org}/${app.app}`;
    const writers = ['wa', 'wb', 'wc', 'wd'];
    let servers: [ChildServer, ChildServer];
    let a: Client;
    const open: SseStream[] = [];
    const eventsUrl = (server: ChildServer, room: string) => `${server.url}${prefix}/metadata/chatroom/${room}/events`;
    const subscribe = async (server: ChildServer, room: string, headers: Record<string, string> = {}) => {
      const s = await openStream(eventsUrl(server, room), { token: appToken(app), headers });
      open.push(s);
      assert.equal(s.status, 200, s.text);
      return s;
    };

    before(async () => {
      const common = { ...found.env, ROOMKV_APPS_FILE: writeAppsFile([app]), ROOMKV_DATA_DIR: tempDir() };
      servers = await Promise.all([spawnServer(common), spawnServer(common)]);
      a = client(servers[0].url, prefix, appToken(app));
      const users = await a.call('POST', '/users', {
        body: ['owner', ...writers].map((username) => ({ username, password: 'pw-123456' })),
      });
      assert.equal(users.status, 200, users.text);
    });
    after(async () => {
      for (const s of open) s.close();
      await Promise.all(open.map((s) => s.closed));
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('200 writes by 4 concurrent writers through A: a subscriber on B gets every seq once, in order; a resume on A replays exactly the rest', async () => {
      const made = await a.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'owner', members: writers } });
      assert.equal(made.status, 200, made.text);
      const room = made.body.data.id as string;
      const seed = await a.call('PUT', `/metadata/chatroom/${room}/user/owner`, { body: { metaData: { seed: 's' } } });
      assert.deepEqual(seed.body.data, { successKeys: ['seed'], errorKeys: {} });

      const onB = await subscribe(servers[1], room);
      const onA = await subscribe(servers[0], room);
      const epochs = new Set<string>();
      for (const s of [onB, onA]) {
        const snap = await s.next(undefined, WAIT_MS);
        assert.equal(snap.event, 'snapshot');
        assert.deepEqual(json(snap), {
          seq: 1,
          epoch: snap.epoch,
          chatroomId: room,
          app: `${app.org}#${app.app}`,
          attributes: { seed: 's' },
        });
        epochs.add(snap.epoch!);
      }
      assert.equal(epochs.size, 1, 'both instances name the same log epoch');

      const ROUNDS = 50;
      await Promise.all(
        writers.map(async (w) => {
          const c = client(servers[0].url, prefix, userToken(app, w));
          for (let j = 0; j < ROUNDS; j++) {
            const res = await c.call('PUT', `/metadata/chatroom/${room}/user/${w}`, { body: { metaData: { [w]: String(j) } } });
            assert.equal(res.status, 200, res.text);
            assert.deepEqual(res.body.data, { successKeys: [w], errorKeys: {} });
          }
        }),
      );
      const total = writers.length * ROUNDS;
      const last = 1 + total;

      await onB.next((m) => m.seq === String(last), WAIT_MS);
      const seen = onB.messages.slice(1);
      assert.deepEqual(
        seen.map((m) => Number(m.seq)),
        Array.from({ length: total }, (_, i) => i + 2),
        'B: seqs 2..201, once each, in order',
      );
      const bodies = seen.map(json);
      for (const [i, b] of bodies.entries()) {
        assert.equal(b.seq, i + 2);
        assert.equal(b.id, `${room}:${b.seq}`);
        assert.equal(b.reason, 'set');
        assert.equal(b.operation, 'updateChatRoomAttributes');
      }
      for (const w of writers) {
        const mine = bodies.filter((b) => b.from === w).map((b) => b.attributes);
        assert.deepEqual(
          mine,
          Array.from({ length: ROUNDS }, (_, j) => ({ [w]: String(j) })),
          `${w}'s writes, in its order`,
        );
      }
      // the instance that wrote them delivers the very same events
      await onA.next((m) => m.seq === String(last), WAIT_MS);
      assert.deepEqual(
        onA.messages.slice(1).map((m) => m.data),
        seen.map((m) => m.data),
      );

      // a client that saw up to seq 100 on B resumes on A: exactly 101..201 again, then live
      const mid = 100;
      const resumed = await subscribe(servers[0], room, { 'Last-Event-ID': String(mid) });
      await resumed.next((m) => m.seq === String(last), WAIT_MS);
      assert.deepEqual(
        resumed.messages.map((m) => m.data),
        seen.filter((m) => Number(m.seq) > mid).map((m) => m.data),
        'the replay is the rest of what B saw, byte for byte, and nothing else',
      );
      assert.ok(
        resumed.messages.every((m) => m.event === undefined),
        'no snapshot on resume',
      );

      onB.close();
      const live = await a.call('PUT', `/metadata/chatroom/${room}/user/owner`, { body: { metaData: { live: '1' } } });
      assert.deepEqual(live.body.data, { successKeys: ['live'], errorKeys: {} });
      const next = json(await resumed.next(undefined, WAIT_MS));
      assert.deepEqual([next.seq, next.from, next.attributes], [last + 1, 'owner', { live: '1' }]);
      assert.equal(resumed.messages.length, last - mid + 1);

      // and a resume on B from the same point gets the same
      const resumedOnB = await subscribe(servers[1], room, { 'Last-Event-ID': String(mid) });
      await resumedOnB.next((m) => m.seq === String(last + 1), WAIT_MS);
      assert.deepEqual(
        resumedOnB.messages.map((m) => m.data),
        resumed.messages.map((m) => m.data),
      );
    });
  });
}

// A burst of subscribers on an instance that has not subscribed to anything yet: its subscriber
// connection is still connecting when most of the SUBSCRIBEs are issued. Each stream must get its
// snapshot and then its room's events; none may be left open and silent.
for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`a burst of new event streams [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`a burst of new event streams on a fresh instance [${kind}]`, () => {
    const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
    const prefix = `/${app.org}/${app.app}`;
    const ROOMS = 150;
    let server: ChildServer;
    const open: SseStream[] = [];

    before(async () => {
      // Heartbeats every second: a stream also re-reads its room's log at each one.
      server = await spawnServer({
        ...found.env,
        ROOMKV_APPS_FILE: writeAppsFile([app]),
        ROOMKV_DATA_DIR: tempDir(),
        ROOMKV_SSE_HEARTBEAT_MS: '1000',
      });
    });
    after(async () => {
      for (const s of open) s.close();
      await Promise.all(open.map((s) => s.closed));
      await server.stop();
    });

    it(`${ROOMS} streams opened within a moment each get their snapshot, then their room's next event`, async () => {
      const a = client(server.url, prefix, appToken(app));
      assert.equal((await a.call('POST', '/users', { body: [{ username: 'owner', password: 'pw-123456' }] })).status, 200);
      const rooms: string[] = [];
      for (let i = 0; i < ROOMS; i++) {
        const made = await a.call('POST', '/chatrooms', { body: { name: `r${i}`, description: 'd', owner: 'owner' } });
        assert.equal(made.status, 200, made.text);
        rooms.push(made.body.data.id);
      }
      // Spread over about 150 ms, so that some SUBSCRIBEs go out while the connection is being set up.
      const streams = await Promise.all(
        rooms.map(async (room, i) => {
          await new Promise((r) => setTimeout(r, i));
          return openStream(`${server.url}${prefix}/metadata/chatroom/${room}/events`, { token: appToken(app) });
        }),
      );
      open.push(...streams);
      for (const s of streams) assert.equal(s.status, 200, s.text);
      const snapshots = await Promise.allSettled(streams.map((s) => s.next(undefined, WAIT_MS)));
      const missing = snapshots
        .map((r, i) => (r.status === 'rejected' ? `${rooms[i]}: ${String(r.reason)}` : null))
        .filter((x) => x !== null);
      assert.deepEqual(missing, [], `${missing.length} of ${ROOMS} streams got no snapshot`);
      for (const r of snapshots) assert.equal((r as PromiseFulfilledResult<{ event?: string }>).value.event, 'snapshot');

      await Promise.all(
        rooms.map(async (room) => {
          const res = await a.call('PUT', `/metadata/chatroom/${room}/user/owner`, { body: { metaData: { k: room } } });
          assert.equal(res.status, 200, res.text);
        }),
      );
      await Promise.all(
        streams.map(async (s, i) => {
          const e = json(await s.next(undefined, WAIT_MS));
          assert.deepEqual([e.seq, e.chatroomId, e.attributes], [1, rooms[i], { k: rooms[i] }]);
        }),
      );
    });
  });
}
