// roomkv/client against a real listening roomkv (SQLite and Redis), over the `ws` package as a
// Node 20 program would: two members see each other's changes with owners and revisions, calls
// answer per-key outcomes, a dropped network (cut or silent) resumes without loss, and a token due
// to expire is replaced by a new one without a gap.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ChatroomEvent } from '../../src/client/index.js';
import { userToken } from '../support/apps.js';
import { startFixture, type Fixture } from '../support/fixture.js';
import { redisTarget, sqliteTarget, type Target } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { changes, closeClients, converged, oneTo, roomWith, userClient } from './live-support.js';
import { startProxy, type TcpProxy } from './tcp-proxy.js';

const targets: Array<Target | { name: string; missing: string }> = [sqliteTarget, { name: 'redis', ...redisTarget('redis') }];

for (const target of targets) {
  describe(`roomkv/client on a live server [${target.name}]`, { skip: 'missing' in target ? target.missing : false }, () => {
    let f: Fixture;
    let proxy: TcpProxy;
    before(async () => {
      f = await startFixture(target as Target, { rateLimitPerSecond: 10_000 });
      proxy = await startProxy(f.server.url);
    });
    afterEach(closeClients);
    after(async () => {
      await proxy.close();
      await f.close();
    });

    it('two members see each other’s changes, with owner and revision, and the calls answer per key', async () => {
      const id = await roomWith(f, ['ann', 'ben']);
      const seen: ChatroomEvent[] = [];
      const ann = userClient(f.server.url, f.app, 'ann').room(id);
      const ben = userClient(f.server.url, f.app, 'ben', { onChatroomEvent: (e) => seen.push(e) }).room(id);
      await Promise.all([ann.ready(), ben.ready()]);
      assert.deepEqual(await ann.set({ seat1: 'ann', topic: 'music' }), { successKeys: ['seat1', 'topic'], errorKeys: {} });
      assert.deepEqual(await ben.set({ seat1: 'ben', seat2: 'ben' }), {
        successKeys: ['seat2'],
        errorKeys: { seat1: "key 'seat1' is not part of you" },
      });
      await converged(ann, 2, { seat1: 'ann', topic: 'music', seat2: 'ben' });
      await converged(ben, 2, { seat1: 'ann', topic: 'music', seat2: 'ben' });
      assert.deepEqual(ben.attributes.get('seat1'), { value: 'ann', owner: 'ann', revision: 1 });
      assert.deepEqual(ann.attributes.get('seat2'), { value: 'ben', owner: 'ben', revision: 2 });
      assert.deepEqual(await ben.set({ seat1: 'ben' }, { forced: true }), { successKeys: ['seat1'], errorKeys: {} });
      assert.deepEqual(await ann.delete(['topic', 'seat1']), {
        successKeys: ['topic'],
        errorKeys: { seat1: "key 'seat1' is not part of you" },
      });
      await converged(ann, 4, { seat1: 'ben', seat2: 'ben' });
      await converged(ben, 4, { seat1: 'ben', seat2: 'ben' });
      assert.deepEqual(await ann.get(), { seat1: 'ben', seat2: 'ben' });
      assert.deepEqual(seen, [
        { operation: 'updateChatRoomAttributes', id, from: 'ann', attributes: { seat1: 'ann', topic: 'music' } },
        { operation: 'updateChatRoomAttributes', id, from: 'ben', attributes: { seat2: 'ben' } },
        { operation: 'updateChatRoomAttributes', id, from: 'ben', attributes: { seat1: 'ben' } },
        { operation: 'removeChatRoomAttributes', id, from: 'ann', attributes: ['topic'] },
      ]);
      // A replica built from a snapshot knows values only (the snapshot has no owners yet).
      const late = userClient(f.server.url, f.app, 'ann').room(id);
      await late.ready();
      assert.deepEqual(Object.fromEntries(late.attributes), { seat1: { value: 'ben' }, seat2: { value: 'ben' } });
      assert.equal(late.seq, 4);
    });

    for (const silent of [false, true]) {
      it(`resumes after the network ${silent ? 'goes silent (found by pings)' : 'is cut'}: no event lost or doubled`, async () => {
        const id = await roomWith(f, [`own${Number(silent)}`, `mem${Number(silent)}`]);
        const writer = f.user(`own${Number(silent)}`);
        const client = userClient(proxy.url, f.app, `mem${Number(silent)}`, { pingIntervalMs: 200, pingTimeoutMs: 200 });
        const room = client.room(id);
        await room.ready();
        const seqs = changes(room);
        const write = async (i: number) => {
          const res = await writer.call('PUT', `/metadata/chatroom/${id}/user/own${Number(silent)}`, {
            body: { metaData: { [`k${i % 4}`]: `v${i}` } },
          });
          assert.equal(res.status, 200, res.text);
        };
        for (let i = 1; i <= 3; i++) await write(i);
        await waitFor('the first writes', () => room.seq === 3);
        const statuses: string[] = [];
        client.on('status', (s) => statuses.push(s.status));
        proxy.cut({ silent });
        for (let i = 4; i <= 9; i++) await write(i);
        await waitFor('the client to notice', () => statuses.includes('reconnecting'));
        proxy.restore();
        await converged(room, 9, { k0: 'v8', k1: 'v9', k2: 'v6', k3: 'v7' });
        assert.deepEqual(seqs, oneTo(9));
        assert.equal(statuses.at(-1), 'open');
      });
    }

    it('moves to a new token before the old one expires, without a gap', async () => {
      const id = await roomWith(f, ['tia', 'tom']);
      let asked = 0;
      const client = userClient(f.server.url, f.app, 'tia', {
        token: undefined,
        // 007 tokens of 8 s, renewed at half their life: a move has 4 s to open, authenticate and
        // subscribe on a loaded machine (with 3 s tokens one took longer and its stream ended first).
        getToken: () => {
          asked += 1;
          return { token: userToken(f.app, 'tia', 8), expiresAt: Date.now() + 8000 };
        },
      });
      const room = client.room(id);
      await room.ready();
      const seqs = changes(room);
      const statuses: string[] = [];
      room.on('status', (s) => statuses.push(s));
      const tom = f.user('tom');
      let n = 0;
      while (asked < 3) {
        n += 1;
        const res = await tom.call('PUT', `/metadata/chatroom/${id}/user/tom`, { body: { metaData: { tick: String(n) } } });
        assert.equal(res.status, 200, res.text);
      }
      await converged(room, n, { tick: String(n) });
      assert.deepEqual(seqs, oneTo(n));
      assert.deepEqual(statuses, [], 'the room stayed live through two moves');
      assert.equal(client.status, 'open');
    });
  });
}
