// The connection of roomkv/client against an in-memory server (fake-roomkv.ts): calls and their
// answers, what a lost link does to calls in flight, pings that find a silent link, refused and
// expiring tokens (a new token is moved to without losing an event), failover between URLs, the
// wx.connectSocket adapter, and close.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { RoomkvError, wxTransport, type Transport, type WxLike, type WxSocketTask } from '../../src/client/index.js';
import { waitFor } from '../support/wait.js';
import { changes, closeAll, oneTo, setup, untilSeq } from './helpers.js';

afterEach(closeAll);

/** A `wx` whose SocketTasks run over `transport`, as a mini-program's would over the network. */
function fakeWx(transport: Transport, opts: { errorWithoutClose?: boolean } = {}): WxLike & { tasks: WxSocketTask[] } {
  const tasks: WxSocketTask[] = [];
  return {
    tasks,
    connectSocket({ url }) {
      const cbs: Record<string, (res: any) => void> = {};
      const socket = transport(url, {
        open: () => cbs.open?.({}),
        message: (data) => cbs.message?.({ data }),
        close: (code, reason) => {
          // A mini-program host may report a failure as onError alone.
          if (opts.errorWithoutClose && code === 1006) cbs.error?.({ errMsg: 'connectSocket:fail' });
          else cbs.close?.({ code, reason });
        },
        error: () => cbs.error?.({ errMsg: 'error' }),
      });
      const task: WxSocketTask = {
        onOpen: (cb) => void (cbs.open = cb),
        onMessage: (cb) => void (cbs.message = cb),
        onClose: (cb) => void (cbs.close = cb),
        onError: (cb) => void (cbs.error = cb),
        send: ({ data }) => socket.send(data),
        close: ({ code, reason } = {}) => socket.close(code, reason),
      };
      tasks.push(task);
      return task;
    },
  };
}

describe('roomkv/client connection', () => {
  it('set, delete and get answer as the REST calls; errors carry their status, error and description', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    const set = await room.set({ seat1: 'alice' }, { autoDelete: 'NO_DELETE', extra: { atomic: true } });
    assert.deepEqual(set, { successKeys: ['seat1'], errorKeys: {} });
    // the writer is the user the server authenticated the token as
    const sent = server.last.sent.find((m) => m.op === 'set');
    assert.deepEqual(sent, {
      atomic: true,
      op: 'set',
      room: 'r1',
      user: 'alice',
      metaData: { seat1: 'alice' },
      autoDelete: 'NO_DELETE',
      id: sent.id,
    });
    assert.deepEqual(await room.get(['seat1', 'nope']), { seat1: 'alice' });
    assert.deepEqual(await room.delete(['seat1', 'nope'], { forced: true, user: 'bob' }), {
      successKeys: ['seat1'],
      errorKeys: { nope: "key 'nope' does not exist" },
    });
    assert.equal(server.last.sent.find((m) => m.op === 'delete').user, 'bob');
    const refused = await client
      .room('r2')
      .set({ bad: 'x' }, { user: 'nobody' })
      .catch((e: unknown) => e);
    assert.ok(refused instanceof RoomkvError);
    assert.deepEqual([refused.status, refused.error, refused.description], [401, 'unauthorized', 'user is not in chatroom']);
    assert.equal(refused.outcomeUnknown, false);
  });

  it('an app token must name the writer', async () => {
    const { client } = setup({ token: 'app-token' });
    await assert.rejects(client.room('r1').set({ a: '1' }), /a write needs a user/);
  });

  it('a write whose link is lost fails as connection_lost (it may have been applied); a read is sent again', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    server.write('r1', 'bob', { k: 'v' });
    await untilSeq(room, 1);
    const first = server.last;
    first.silent = true;
    const write = room.set({ a: '1' }).catch((e: unknown) => e);
    const read = room.get(['k']);
    await waitFor('both calls sent', () => first.sent.filter((m) => m.op === 'set' || m.op === 'get').length === 2);
    first.drop(1006);
    const err = (await write) as RoomkvError;
    assert.ok(err instanceof RoomkvError);
    assert.equal(err.error, 'connection_lost');
    assert.equal(err.outcomeUnknown, true);
    assert.deepEqual(await read, { k: 'v' });
    assert.notEqual(server.last, first);
  });

  it('a subscribe with no answer in time is undone before it is tried again', async () => {
    const { server, client } = setup({ requestTimeoutMs: 100 });
    server.slowSubscribe = 150;
    const room = client.room('r1');
    await room.ready();
    await waitFor('live', () => room.status === 'live');
    const ops = () => server.last.sent.filter((m) => m.op !== 'ping' && m.op !== 'auth').map((m) => m.op);
    assert.deepEqual(ops(), ['subscribe', 'unsubscribe', 'subscribe']);
    server.write('r1', 'bob', { a: '1' });
    await untilSeq(room, 1);
  });

  it('a link that stops answering pings is replaced, and the room resumes', async () => {
    const { server, client } = setup({ pingIntervalMs: 30, pingTimeoutMs: 30 });
    const room = client.room('r1');
    await room.ready();
    const seqs = changes(room);
    server.write('r1', 'bob', { a: '1' });
    await untilSeq(room, 1);
    const first = server.last;
    first.silent = true;
    server.write('r1', 'bob', { a: '2' });
    await waitFor('the silent link closed', () => first.closed !== null);
    assert.deepEqual(first.closed, { code: 4000, reason: 'ping timeout' });
    await untilSeq(room, 2);
    assert.deepEqual(seqs, [1, 2]);
  });

  it('asks getToken again when the server refuses the token (4401)', async () => {
    const given: string[] = [];
    const tokens = ['user:alice#old', 'user:alice#new'];
    const { server, client } = setup({
      token: undefined,
      getToken: async () => {
        given.push(tokens[given.length] ?? 'user:alice#new');
        return given.at(-1)!;
      },
    });
    server.refused.add('user:alice#old');
    const room = client.room('r1');
    await room.ready();
    assert.deepEqual(given, ['user:alice#old', 'user:alice#new']);
    assert.equal(server.last.token, 'user:alice#new');
  });

  it('with a fixed token that the server refuses, closes and says why', async () => {
    const { server, client, errors } = setup({ token: 'user:alice#bad' });
    server.refused.add('user:alice#bad');
    const room = client.room('r1');
    await assert.rejects(room.ready(), /closed/);
    assert.equal(client.status, 'closed');
    assert.match(String(errors.at(-1)), /refused the token/);
  });

  it('moves to a new token before the old one expires: subscribed on the new link first, no event lost or doubled', async () => {
    let n = 0;
    const { server, client } = setup({
      token: undefined,
      refreshBeforeMs: 60_000,
      getToken: () => ({ token: `user:alice#${++n}`, expiresAt: Date.now() + 2200 }),
    });
    const room = client.room('r1');
    await room.ready();
    const seqs = changes(room);
    const statuses: string[] = [];
    room.on('status', (s) => statuses.push(s));
    const first = server.last;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        server.write('r1', 'bob', { tick: String(Date.now()) });
        await new Promise((r) => setImmediate(r));
      }
    })();
    await waitFor('the old link replaced', () => first.closed !== null, 5000);
    writing = false;
    await writer;
    const last = server.room('r1').seq;
    await untilSeq(room, last);
    assert.deepEqual(first.closed, { code: 1000, reason: 'replaced' });
    assert.equal(server.last.token, 'user:alice#2');
    assert.deepEqual(seqs, oneTo(last));
    assert.deepEqual(statuses, [], 'the room stayed live through the move');
  });

  it('renews before the expiry the server gives when getToken gave none', async () => {
    let n = 0;
    const server = new (await import('./fake-roomkv.js')).FakeRoomkv();
    server.expiresAt = Date.now() + 2000;
    const { client } = setup({ token: undefined, getToken: () => `user:alice#${++n}` }, server);
    await client.room('r1').ready();
    await waitFor('a second token', () => server.sockets.some((s) => s.token === 'user:alice#2'), 5000);
  });

  it('a stream ended as token_expired moves to a new token and resumes', async () => {
    let n = 0;
    const { server, client } = setup({ token: undefined, getToken: () => `user:alice#${++n}` });
    const room = client.room('r1');
    await room.ready();
    const seqs = changes(room);
    const first = server.last;
    first.subs.delete('r1');
    first.push({ type: 'end', chatroomId: 'r1', reason: 'token_expired' });
    server.write('r1', 'bob', { a: '1' });
    await waitFor('a new link', () => server.last !== first && server.last.subs.has('r1'));
    first.drop(4401, 'Unable to authenticate due to expired access token');
    server.write('r1', 'bob', { a: '2' });
    await untilSeq(room, 2);
    assert.deepEqual(seqs, [1, 2]);
    assert.equal(server.last.token, 'user:alice#2');
  });

  it('fails over to the next URL when one is down', async () => {
    const { server, client } = setup({ baseUrl: ['https://a.test/', 'https://b.test'] });
    server.down.add('wss://a.test/org/app/ws');
    const room = client.room('r1');
    await room.ready();
    assert.deepEqual(
      server.sockets.map((s) => s.url),
      ['wss://a.test/org/app/ws', 'wss://b.test/org/app/ws'],
    );
  });

  it('runs over wx.connectSocket, also when the host reports a failure as an error alone', async () => {
    const { FakeRoomkv } = await import('./fake-roomkv.js');
    const server = new FakeRoomkv();
    const wx = fakeWx(server.transport, { errorWithoutClose: true });
    const { client } = setup({ transport: wxTransport(wx), appId: 'abc', org: undefined, app: undefined }, server);
    const room = client.room('r1');
    await room.ready();
    assert.equal(server.last.url, 'ws://kv.test/app-id/abc/ws');
    assert.deepEqual(await room.set({ seat: 'alice' }), { successKeys: ['seat'], errorKeys: {} });
    await untilSeq(room, 1);
    server.last.drop(1006);
    server.write('r1', 'bob', { b: '1' });
    await untilSeq(room, 2);
    assert.equal(wx.tasks.length, 2);
  });

  it('close ends every room and fails the calls still waiting', async () => {
    const { server, client } = setup();
    const room = client.room('r1');
    await room.ready();
    server.last.silent = true;
    const pending = room.get();
    client.close();
    await assert.rejects(pending, /connection_lost|closed/);
    assert.equal(room.status, 'ended');
    assert.equal(room.endReason, 'closed');
    await assert.rejects(room.get(), /closed/);
    assert.throws(() => client.room('r2'), /closed/);
  });
});
