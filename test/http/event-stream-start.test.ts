// An event stream whose start fails after its headers went out (the store's subscribe refuses,
// as a Redis subscriber connection can while it reconnects) is ended at once, so that the client
// reconnects: it must not stay open, heartbeating, with nothing behind it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppRegistry, loadAppsFile } from '../../src/config/apps.js';
import { loadConfig } from '../../src/config/config.js';
import { Errors } from '../../src/domain/errors.js';
import { buildApp } from '../../src/http/app.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import { appToken, makeApp, tempDir, writeAppsFile } from '../support/apps.js';
import { client } from '../support/client.js';
import { openStream } from '../support/sse.js';

describe('an event stream that cannot start', () => {
  const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
  const dir = tempDir();
  const store = new SqliteStore({ path: join(dir, 'roomkv.sqlite'), synchronous: 'FULL', eventLog: { minEvents: 100, minAgeMs: 60_000 } });
  let refuse = true;
  // The real store, but its live feed refuses while `refuse` is set.
  const faulty = Object.create(store) as Store;
  faulty.subscribe = (appId, roomId, listener) =>
    refuse ? Promise.reject(Errors.storeUnavailable('subscriber connection not ready')) : store.subscribe(appId, roomId, listener);
  let f: Awaited<ReturnType<typeof buildApp>>;
  let url = '';

  before(async () => {
    // A short heartbeat: a stream left open would show it within the test's wait.
    const config = loadConfig({ ROOMKV_DATA_DIR: dir, ROOMKV_SSE_HEARTBEAT_MS: '200' });
    f = await buildApp({ config, apps: new AppRegistry(loadAppsFile(writeAppsFile([app]))), store: faulty, logger: false });
    url = await f.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await f.close();
    await store.close();
  });

  it('is ended, and the client, reconnecting, gets the room once the feed works again', async () => {
    const c = client(url, `/${app.org}/${app.app}`, appToken(app));
    assert.equal((await c.call('POST', '/users', { body: [{ username: 'owner', password: 'pw-123456' }] })).status, 200);
    const made = await c.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'owner' } });
    const room = made.body.data.id as string;
    const eventsUrl = `${url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`;

    const failed = await openStream(eventsUrl, { token: appToken(app) });
    assert.equal(failed.status, 200, 'the headers were out before the feed refused');
    const ended = await Promise.race([failed.closed.then(() => 'ended'), new Promise((r) => setTimeout(() => r('still open'), 5000))]);
    assert.equal(ended, 'ended', `the stream ended: ${failed.raw()}`);
    assert.equal(failed.endReason, 'end', 'ended by the server');
    assert.deepEqual(failed.messages, [], 'no event was sent');
    assert.equal(failed.retry, 1000, 'it told the client when to reconnect');

    refuse = false;
    const again = await openStream(eventsUrl, { token: appToken(app) });
    const snap = await again.next(undefined, 5000);
    assert.equal(snap.event, 'snapshot');
    again.close();
  });
});
