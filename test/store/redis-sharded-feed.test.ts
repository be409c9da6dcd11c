import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { StoredEvent } from '../../src/domain/events.js';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import { redisEnv, type RedisTestEnv } from '../support/server.js';
import { LOG_LIMITS, NO_WEBHOOKS } from '../support/routing.js';
import { waitFor } from '../support/wait.js';

/**
 * The Redis live feed on sharded pub/sub (src/store/redis/redis-feed.ts): the write scripts
 * SPUBLISH on a channel in the room's slot, and an instance SSUBSCRIBEs on the master that owns
 * it. Two stores stand for two roomkv instances: one writes, the other listens. Its connections
 * carry a name of their own, so that a test can find and kill the feed's connection.
 */
const WAIT_MS = 15_000;

/** The node connections of a target: the one Redis, or every master of the cluster. */
async function nodesOf(env: RedisTestEnv): Promise<Redis[]> {
  const addrs = env.ROOMKV_REDIS_CLUSTER_NODES?.split(',') ?? [];
  const nodes =
    addrs.length === 0
      ? [new Redis(env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379')]
      : addrs.map((a) => new Redis({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) }));
  const masters: Redis[] = [];
  for (const n of nodes) {
    const [role] = (await n.call('ROLE')) as [string];
    if (role === 'master') masters.push(n);
    else n.disconnect();
  }
  return masters;
}

const keyslot = async (node: Redis, name: string) => Number(await node.call('CLUSTER', 'KEYSLOT', name));
const shardChannels = async (node: Redis, pattern: string) => ((await node.call('PUBSUB', 'SHARDCHANNELS', pattern)) as string[]).sort();

/** The master serving `slot`, by CLUSTER SLOTS as the nodes see it. */
async function ownerOf(nodes: Redis[], slot: number): Promise<Redis> {
  const ranges = (await nodes[0]!.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  const range = ranges.find(([from, to]) => from <= slot && slot <= to);
  assert.ok(range, `slot ${slot} is served`);
  const [host, port] = range[2];
  const node = nodes.find((n) => n.options.port === port && n.options.host === host);
  assert.ok(node, `the master ${host}:${port} is one of the nodes`);
  return node;
}

/** Moves a slot and its keys from one master to another, as `redis-cli --cluster reshard` does. */
async function moveSlot(slot: number, from: Redis, to: Redis, all: Redis[]): Promise<void> {
  const fromId = String(await from.call('CLUSTER', 'MYID'));
  const toId = String(await to.call('CLUSTER', 'MYID'));
  await to.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
  await from.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
  for (;;) {
    const keys = (await from.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
    if (keys.length === 0) break;
    await from.call('MIGRATE', to.options.host!, to.options.port!, '', 0, 5000, 'KEYS', ...keys);
  }
  await to.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  await from.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  for (const n of all) if (n !== from && n !== to) await n.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
}

/** Calls of a command on a node so far, from INFO commandstats (0 before its first). */
async function calls(node: Redis, command: string): Promise<number> {
  const info = await node.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/** A server that speaks enough RESP to pass for Redis `version`: PING, INFO, and OK to the rest. */
async function fakeRedis(version: string): Promise<{ url: string; close(): void }> {
  const server = createServer((socket) => {
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      // Each command is an array of bulk strings: *N, then $len and the text N times.
      for (;;) {
        const lines = buf.split('\r\n');
        const n = Number(lines[0]!.slice(1));
        if (!lines[0]!.startsWith('*') || lines.length < 2 * n + 2) return;
        const name = lines[2]!.toUpperCase();
        buf = lines.slice(2 * n + 1).join('\r\n');
        const info = `# Server\r\nredis_version:${version}\r\nloading:0\r\n`;
        socket.write(name === 'PING' ? '+PONG\r\n' : name === 'INFO' ? `$${info.length}\r\n${info}\r\n` : '+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('the Redis version at start', () => {
  it('a Redis older than 7.0 (no sharded pub/sub) stops start-up, naming its version', async () => {
    const fake = await fakeRedis('6.2.14');
    try {
      await assert.rejects(
        connectRedis({ url: fake.url, commandTimeoutMs: 1000 }),
        new RegExp(`Redis at ${fake.url} is version 6\\.2\\.14: roomkv needs Redis 7\\.0 or newer`),
      );
    } finally {
      fake.close();
    }
  });
});

for (const kind of ['redis', 'redis-cluster'] as const) {
  const found = redisEnv(kind);
  if ('missing' in found) {
    describe(`the live feed on sharded pub/sub [${kind}]`, { skip: found.missing }, () => {});
    continue;
  }

  describe(`the live feed on sharded pub/sub [${kind}]`, () => {
    const prefix = found.env.ROOMKV_REDIS_PREFIX;
    const cluster = kind === 'redis-cluster';
    /** The listening instance's connection name: its feed's connections have it too. */
    const readerName = `rkfeedtest-${randomBytes(4).toString('hex')}`;
    let reader: RedisStore;
    let writer: RedisStore;
    let nodes: Redis[];
    let gaps = 0;

    const connect = (connectionName?: string) =>
      connectRedis({
        url: found.env.ROOMKV_REDIS_URL ?? 'redis://127.0.0.1:6379',
        clusterNodes: found.env.ROOMKV_REDIS_CLUSTER_NODES,
        commandTimeoutMs: 2000,
        connectionName,
      });

    before(async () => {
      reader = new RedisStore({ client: await connect(readerName), prefix, eventLog: LOG_LIMITS });
      writer = new RedisStore({ client: await connect(), prefix, eventLog: LOG_LIMITS });
      reader.onFeedGap(() => gaps++);
      nodes = await nodesOf(found.env);
    });
    after(async () => {
      await reader.close();
      await writer.close();
      for (const n of nodes) n.disconnect();
    });

    async function newRoom(): Promise<{ app: string; room: string }> {
      const app = randomUUID().replaceAll('-', '');
      await writer.createUsers(app, [
        { username: 'alice', passwordHash: 'x' },
        { username: 'bob', passwordHash: 'x' },
      ]);
      const room = (await writer.createRoom(app, { name: 'r', description: '', owner: 'alice', maxusers: 10, members: ['bob'] })).id;
      return { app, room };
    }

    const set = (app: string, room: string, pairs: Record<string, string>) =>
      writer.setAttributes({
        appId: app,
        roomId: room,
        user: 'alice',
        forced: false,
        autoDelete: 'NO_DELETE',
        pairs: Object.entries(pairs),
        limits: DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      });

    /** A listener on the reader: what it got, and its unsubscribe. */
    async function listen(app: string, room: string): Promise<{ got: StoredEvent[]; stop: () => void }> {
      const got: StoredEvent[] = [];
      const stop = await reader.subscribe(app, room, (e) => got.push(e));
      return { got, stop };
    }

    const seqs = (got: StoredEvent[]) => got.map((e) => e.seq);
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

    /** The room's channel as the nodes list it: found on the owning master by the app's part of its name. */
    const channelPattern = (app: string) => `${prefix}*${app}*`;

    it('events written through another instance reach every listener once, in seq order; membership messages too', async () => {
      const { app, room } = await newRoom();
      const one = await listen(app, room);
      const two = await listen(app, room);
      const N = 40;
      // Concurrent writes: the store orders them by seq, and the feed keeps that order.
      await Promise.all(upTo(N).map((i) => set(app, room, { [`k${i % 7}`]: String(i) })));
      await waitFor('every event on both listeners', () => one.got.length >= N && two.got.length >= N, WAIT_MS);
      assert.deepEqual(seqs(one.got), upTo(N));
      assert.deepEqual(seqs(two.got), upTo(N));
      assert.equal(one.got[0], two.got[0], 'one event object for every listener of the instance');
      for (const e of one.got) {
        const body = JSON.parse(e.body) as { seq: number; chatroomId: string; reason: string };
        assert.deepEqual([body.seq, body.chatroomId, body.reason], [e.seq, room, 'set']);
      }

      // bob leaves: a membership message (seq 0, the user) comes through as it is
      await writer.removeMembers(app, room, ['bob'], NO_WEBHOOKS);
      await waitFor('the membership message', () => one.got.find((e) => e.seq === 0), WAIT_MS);
      assert.deepEqual(
        one.got.filter((e) => e.seq === 0),
        [{ seq: 0, body: 'bob' }],
      );

      // an unsubscribed listener gets nothing more; the other still does
      one.stop();
      const before = one.got.length;
      await set(app, room, { after: '1' });
      await waitFor('the next event on the listener left', () => two.got.find((e) => e.seq === N + 1), WAIT_MS);
      assert.equal(one.got.length, before);
      two.stop();
    });

    it("the channel is in the room's slot, a shard channel on its master only: no classic pub/sub traffic", async () => {
      const { app, room } = await newRoom();
      const classic: Array<[number, string]> = [];
      // A classic pattern subscriber on every node: sharded messages never reach one.
      const watchers = await Promise.all(
        nodes.map(async (n, i) => {
          const w = n.duplicate();
          w.on('pmessage', (_p: string, channel: string) => classic.push([i, channel]));
          await w.psubscribe(`${prefix}*`);
          return w;
        }),
      );
      try {
        const publishesBefore = await Promise.all(nodes.map((n) => calls(n, 'publish')));
        const { got, stop } = await listen(app, room);
        const N = 10;
        for (let i = 1; i <= N; i++) await set(app, room, { k: String(i) });
        await waitFor('the events', () => got.length >= N, WAIT_MS);

        const listed = await Promise.all(nodes.map((n) => shardChannels(n, channelPattern(app))));
        const holders = listed.map((l, i) => [i, l] as const).filter(([, l]) => l.length > 0);
        assert.equal(holders.length, 1, `one node lists the room's shard channel: ${JSON.stringify(listed)}`);
        const [at, [channel]] = holders[0]!;
        assert.ok(channel!.includes(`{${app}:${room}}`), `${channel} carries the room's hash tag`);
        if (cluster) {
          const slot = await keyslot(nodes[0]!, `${prefix}{${app}:${room}}:room`);
          assert.equal(await keyslot(nodes[0]!, channel!), slot, 'the channel is in the slot of the room keys');
          assert.equal(await ownerOf(nodes, slot), nodes[at], "the room's master holds the channel");
        }
        // PUBSUB SHARDCHANNELS lists a channel while it has subscribers: the one listener leaves it
        stop();
        await waitFor('the channel left', async () => (await shardChannels(nodes[at]!, channelPattern(app))).length === 0, WAIT_MS);
        for (const n of nodes) assert.deepEqual(await n.call('PUBSUB', 'CHANNELS', `${prefix}*`), [], 'no classic channel');
        // The cluster is this test run's own; a single Redis may be shared with other programs, which may PUBLISH.
        if (cluster) assert.deepEqual(await Promise.all(nodes.map((n) => calls(n, 'publish'))), publishesBefore, 'no node ran a PUBLISH');
        assert.ok((await calls(nodes[at]!, 'spublish')) >= N, 'the master of the room ran the SPUBLISHes');
        // The pattern subscribers' connections have read everything sent before this PING's answer.
        await Promise.all(watchers.map((w) => w.ping()));
        assert.deepEqual(classic, [], 'no classic subscriber saw a message');
      } finally {
        for (const w of watchers) w.disconnect();
      }
    });

    it('a killed subscriber connection: the feed subscribes again, then reports a gap; later events arrive', async () => {
      const { app, room } = await newRoom();
      const { got, stop } = await listen(app, room);
      await set(app, room, { k: '1' });
      await waitFor('the first event', () => got.length === 1, WAIT_MS);
      const gapsBefore = gaps;
      let killed = 0;
      for (const n of nodes) {
        const list = String(await n.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
        for (const line of list.split('\n')) {
          const id = /^id=(\d+) .*name=(\S+)/.exec(line);
          if (id?.[2] === readerName) killed += Number(await n.call('CLIENT', 'KILL', 'ID', id[1]!));
        }
      }
      assert.ok(killed >= 1, 'the feed had a connection to kill');
      await waitFor('the gap reported once the channel is live again', () => gaps > gapsBefore, WAIT_MS);
      const listed = await Promise.all(nodes.map((n) => shardChannels(n, channelPattern(app))));
      assert.equal(listed.flat().length, 1, 'the channel is subscribed again, on one node');
      await set(app, room, { k: '2' });
      await waitFor('the event after the reconnect', () => got.length === 2, WAIT_MS);
      assert.deepEqual(seqs(got), [1, 2]);
      stop();
    });

    if (cluster) {
      it('a slot moved to another master: the feed follows it, reports a gap, and gets the next events from there', async () => {
        const { app, room } = await newRoom();
        const slot = await keyslot(nodes[0]!, `${prefix}{${app}:${room}}:room`);
        const from = await ownerOf(nodes, slot);
        const to = nodes.find((n) => n !== from)!;
        const { got, stop } = await listen(app, room);
        await set(app, room, { k: '1' });
        await waitFor('the first event', () => got.length === 1, WAIT_MS);
        const gapsBefore = gaps;
        try {
          await moveSlot(slot, from, to, nodes);
          // The old master drops its subscribers of the slot's channels; the feed moves to the new one.
          await waitFor('the gap reported once the channel is live on its new master', () => gaps > gapsBefore, WAIT_MS);
          assert.deepEqual(await shardChannels(from, channelPattern(app)), []);
          assert.equal((await shardChannels(to, channelPattern(app))).length, 1);
          // The writer's client still sends the room's script to the old master: MOVED, then the new one.
          await set(app, room, { k: '2' });
          await set(app, room, { k: '3' });
          await waitFor('the events from the new master', () => got.length === 3, WAIT_MS);
          assert.deepEqual(seqs(got), [1, 2, 3]);
        } finally {
          stop();
          await moveSlot(slot, to, from, nodes);
        }
      });

      it('a subscription to a slot that moved since the instance last looked: SSUBSCRIBE answered MOVED, then placed on the new master', async () => {
        const { app, room } = await newRoom();
        const slot = await keyslot(nodes[0]!, `${prefix}{${app}:${room}}:room`);
        const from = await ownerOf(nodes, slot);
        const to = nodes.find((n) => n !== from)!;
        await moveSlot(slot, from, to, nodes);
        try {
          const { got, stop } = await listen(app, room);
          assert.equal((await shardChannels(to, channelPattern(app))).length, 1);
          await set(app, room, { k: '1' });
          await waitFor('the event from the new master', () => got.length === 1, WAIT_MS);
          stop();
        } finally {
          await moveSlot(slot, to, from, nodes);
        }
      });
    }
  });
}
