// roomkv/client as a WeChat mini-program runs it: no WebSocket class, only `wx.connectSocket` and
// its SocketTask (here a shim over the `ws` package, with the mini-program's callback shapes), and
// no `URL`. The client finds `wx` by itself, follows a room on a real server, writes, and resumes
// after the network is cut.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createClient, type RoomkvClient, type WxLike, type WxSocketTask } from '../../src/client/index.js';
import { userToken } from '../support/apps.js';
import { startFixture, type Fixture } from '../support/fixture.js';
import { sqliteTarget } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { changes, converged, NodeWebSocket, oneTo, roomWith } from './live-support.js';
import { startProxy, type TcpProxy } from './tcp-proxy.js';

/** `wx.connectSocket` over the `ws` package, answering as the mini-program base library does. */
function wxShim(): WxLike & { urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    connectSocket({ url }) {
      urls.push(url);
      const ws = new NodeWebSocket(url);
      const on: {
        open?: (r: unknown) => void;
        message?: (r: { data: unknown }) => void;
        close?: (r: object) => void;
        error?: (r: object) => void;
      } = {};
      ws.onopen = () => on.open?.({ header: {} });
      ws.onmessage = (e) => on.message?.({ data: e.data });
      ws.onclose = (e) => on.close?.({ code: e.code, reason: e.reason });
      ws.onerror = () => on.error?.({ errMsg: 'connectSocket:fail' });
      const task: WxSocketTask = {
        onOpen: (cb) => void (on.open = cb),
        onMessage: (cb) => void (on.message = cb),
        onClose: (cb) => void (on.close = cb),
        onError: (cb) => void (on.error = cb),
        send: ({ data, fail }) => {
          try {
            ws.send(data);
          } catch (err) {
            fail?.({ errMsg: `sendSocketMessage:fail ${String(err)}` });
          }
        },
        close: ({ code, reason } = {}) => ws.close(code, reason),
      };
      return task;
    },
  };
}

describe('roomkv/client in a mini-program (wx.connectSocket shim)', () => {
  let f: Fixture;
  let proxy: TcpProxy;
  let client: RoomkvClient | undefined;
  const g = globalThis as { WebSocket?: unknown; URL?: unknown; wx?: WxLike };
  const saved = { WebSocket: g.WebSocket, URL: g.URL };
  before(async () => {
    f = await startFixture(sqliteTarget, { rateLimitPerSecond: 10_000 });
    proxy = await startProxy(f.server.url);
  });
  afterEach(() => {
    client?.close();
    delete g.wx;
  });
  after(async () => {
    await proxy.close();
    await f.close();
  });

  it('finds wx by itself, follows a room, writes, and resumes after the network is cut', async () => {
    const id = await roomWith(f, ['mia', 'max']);
    const shim = wxShim();
    g.wx = shim;
    // What a mini-program lacks: hidden while the client is made and runs its first connection.
    g.WebSocket = undefined;
    g.URL = undefined;
    try {
      client = createClient({ baseUrl: proxy.url, org: f.app.org, app: f.app.app, token: userToken(f.app, 'mia'), reconnectDelayMs: 20 });
      const room = client.room(id);
      await room.ready();
      assert.deepEqual(await room.set({ seat1: 'mia' }), { successKeys: ['seat1'], errorKeys: {} });
      await converged(room, 1, { seat1: 'mia' });
    } finally {
      g.WebSocket = saved.WebSocket;
      g.URL = saved.URL;
    }
    assert.deepEqual(shim.urls, [`${proxy.url.replace('http', 'ws')}/${f.app.org}/${f.app.app}/ws`]);
    const room = client.room(id);
    const seqs = changes(room);
    proxy.cut();
    const max = f.user('max');
    for (let i = 1; i <= 3; i++)
      await max.call('PUT', `/metadata/chatroom/${id}/user/max`, { body: { metaData: { [`seat${i + 1}`]: 'max' } } });
    await waitFor('a reconnect attempt', () => shim.urls.length >= 2);
    proxy.restore();
    await converged(room, 4, { seat1: 'mia', seat2: 'max', seat3: 'max', seat4: 'max' });
    assert.deepEqual(seqs, oneTo(4).slice(1));
    assert.equal(room.attributes.get('seat4')?.owner, 'max');
  });
});
