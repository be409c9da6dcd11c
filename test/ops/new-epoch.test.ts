import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { appToken, makeApp, removeTempDir, tempDir } from '../support/apps.js';
import { client } from '../support/client.js';
import { redisTarget, sqliteTarget, startTarget, type Target } from '../support/server.js';
import { json, openStream } from '../support/sse.js';
import { runCli } from './cli-run.js';

const WAIT_MS = 15_000;

/**
 * `roomkv new-epoch` after a restore: a resume point of the history before it (even one whose seq
 * the restored log holds) gets a snapshot, where before it the same point resumes exactly. On
 * SQLite the epoch is the file's, kept across restarts; on Redis, the deployment's.
 */
function epochSuite(target: Target, restartForCli: boolean): void {
  describe(`roomkv new-epoch [${target.name}]`, () => {
    const dataDir = tempDir();
    after(() => removeTempDir(dataDir));

    it('a resume from before a new epoch gets a snapshot; one from the same epoch, across a restart, the missed events', async () => {
      const app = makeApp({ limits: { rateLimitPerSecond: 100_000 } });
      const env = target.env();
      let server = await startTarget(target, [app], { dataDir, env });
      const admin = () => client(server.url, `/${app.org}/${app.app}`, appToken(app));
      let room = '';
      const url = () => `${server.url}/${app.org}/${app.app}/metadata/chatroom/${room}/events`;
      try {
        assert.equal((await admin().call('POST', '/users', { body: [{ username: 'alice', password: 'pw-123456' }] })).status, 200);
        const made = await admin().call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'alice' } });
        room = made.body.data.id as string;
        for (const v of ['1', '2'])
          assert.equal((await admin().call('PUT', `/metadata/chatroom/${room}/user/alice`, { body: { metaData: { k: v } } })).status, 200);
        const first = await openStream(url(), { token: appToken(app) });
        const snap = await first.next(undefined, WAIT_MS);
        first.close();
        const epoch = json(snap).epoch as string;
        assert.equal(snap.id, `2-${epoch}`);

        // the same history after a restart: the missed event, not a snapshot
        await server.close();
        server = await startTarget(target, [app], { dataDir, env });
        const same = await openStream(url(), { token: appToken(app), headers: { 'Last-Event-ID': `1-${epoch}` } });
        const missed = await same.next(undefined, WAIT_MS);
        same.close();
        assert.equal(missed.event, undefined, missed.data);
        assert.equal(missed.id, `2-${epoch}`);

        if (restartForCli) await server.close();
        const cli = await runCli(['new-epoch'], { ...env, ROOMKV_DATA_DIR: dataDir });
        assert.equal(cli.code, 0, cli.stderr);
        const renewed = /new log epoch ([0-9a-z]+)/.exec(cli.stdout)?.[1];
        assert.ok(renewed && renewed !== epoch, cli.stdout);
        if (restartForCli) server = await startTarget(target, [app], { dataDir, env });

        const resumed = await openStream(url(), { token: appToken(app), headers: { 'Last-Event-ID': `1-${epoch}` } });
        const again = await resumed.next(undefined, WAIT_MS);
        resumed.close();
        assert.equal(again.event, 'snapshot', again.data);
        assert.deepEqual([json(again).seq, json(again).epoch, json(again).attributes], [2, renewed, { k: '2' }]);
      } finally {
        await server.close();
      }
    });
  });
}

epochSuite(sqliteTarget, true);
for (const kind of ['redis', 'redis-cluster'] as const) {
  const t = redisTarget(kind);
  if ('missing' in t) describe(`roomkv new-epoch [${kind}]`, { skip: t.missing }, () => {});
  else epochSuite(t, false);
}
