// roomkv/client through two roomkv processes on one Redis, the one it is connected to killed
// (SIGKILL) while a writer keeps writing through the other: the client reconnects to the other
// instance, resumes from its last seq, and applies every event exactly once.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, writeAppsFile } from '../support/apps.js';
import { client as rest } from '../support/client.js';
import { redisEnv, spawnServer, type ChildServer } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { changes, closeClients, converged, oneTo, userClient } from './live-support.js';

const found = redisEnv('redis');

describe('roomkv/client fails over between two instances on Redis', { skip: 'missing' in found ? found.missing : false }, () => {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  let a: ChildServer;
  let b: ChildServer;
  before(async () => {
    if ('missing' in found) return;
    const common = { ...found.env, ROOMKV_APPS_FILE: writeAppsFile([app]), ROOMKV_DATA_DIR: tempDir() };
    [a, b] = await Promise.all([spawnServer(common), spawnServer(common)]);
  });
  afterEach(closeClients);
  after(async () => {
    await Promise.all([a, b].map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.stop() : null)));
  });

  it('carries on through the other instance when the one it uses is killed: no event lost or doubled', async () => {
    const adminB = rest(b.url, `/${app.org}/${app.app}`, appToken(app));
    const users = await adminB.call('POST', '/users', { body: ['wri', 'rea'].map((username) => ({ username, password: 'pw-123456' })) });
    assert.equal(users.status, 200, users.text);
    const made = await adminB.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'wri', members: ['rea'] } });
    const id = made.body.data.id as string;

    const client = userClient([a.url, b.url], app, 'rea');
    const room = client.room(id);
    await room.ready();
    const seqs = changes(room);
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s.status));

    // One writer through B, one call at a time, until told to stop.
    let n = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const res = await adminB.call('PUT', `/metadata/chatroom/${id}/user/wri`, {
          body: { metaData: { n: String(n + 1), [`k${n % 5}`]: 'x' } },
        });
        assert.equal(res.status, 200, res.text);
        n += 1;
      }
    })();
    await waitFor('events through A', () => room.seq >= 20);
    await a.kill9();
    // A is gone: the open link is B's
    await waitFor('the client reconnected', () => statuses.includes('reconnecting') && client.status === 'open');
    const resumedAt = room.seq;
    await waitFor('events through B', () => room.seq >= resumedAt + 20, 20_000);
    writing = false;
    await writer;
    const stored = await adminB.call('POST', `/metadata/chatroom/${id}`, {});
    await converged(room, n, stored.body.data);
    assert.deepEqual(seqs, oneTo(n));
  });
});
