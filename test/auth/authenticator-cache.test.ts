import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Authenticator } from '../../src/auth/authenticator.js';
import { AppRegistry, loadAppsFile } from '../../src/config/apps.js';
import { ApiError } from '../../src/domain/errors.js';
import { appToken, makeApp, removeTempDir, tempDir, userToken, writeAppsFile } from '../support/apps.js';
import { at } from '../support/at.js';

const dir = tempDir();
const made = makeApp();
const registry = new AppRegistry(loadAppsFile(writeAppsFile([made, makeApp()], dir)));
const app = at(registry.apps, 0);
const otherApp = at(registry.apps, 1);
after(() => removeTempDir(dir));
/** Well-formed-looking 007 tokens under the length bound that fail to inflate: each is a cached refusal. */
const badToken = () => `007${randomBytes(300).toString('base64')}`;

function refuse(auth: Authenticator, token: string): void {
  assert.throws(
    () => auth.authenticate(`Bearer ${token}`, app),
    (err: unknown) => err instanceof ApiError && err.status === 401,
  );
}

describe('Authenticator cache', () => {
  it('drops refusals once they expire, so a steady stream of bad tokens does not pile up', () => {
    let now = 1_000_000;
    const auth = new Authenticator(() => now);
    for (let i = 0; i < 500; i++) refuse(auth, badToken());
    assert.equal(auth.size, 500);
    now += 61_000;
    for (let i = 0; i < 500; i++) refuse(auth, badToken());
    assert.equal(auth.size, 500, 'the first 500 expired and left as new ones came');
  });

  it('stays bounded under any number of distinct bad tokens, and still serves a good one', () => {
    const auth = new Authenticator(() => 1_000_000_000_000, 400);
    for (let i = 0; i < 2000; i++) refuse(auth, badToken());
    assert.ok(auth.size <= 400, String(auth.size));
    assert.equal(
      auth.authenticate(`Bearer ${appToken({ ...makeApp(), appId: app.appId, appCertificate: app.appCertificate })}`, app).kind,
      'app',
    );
  });

  it('a token verified for one app is never served from the cache to another app', () => {
    const auth = new Authenticator(() => Date.now());
    const token = userToken(made, 'alice');
    const first = auth.authenticate(`Bearer ${token}`, app);
    assert.equal(first.kind === 'user' && first.userId, 'alice');
    // The grant is cached under the token: another app must verify it (and refuse it), not find it.
    assert.throws(
      () => auth.authenticate(`Bearer ${token}`, otherApp),
      (err: unknown) => err instanceof ApiError && err.status === 401,
    );
    assert.equal(auth.authenticate(`Bearer ${token}`, app), first, 'the first app is still answered from its cache');
  });

  it('a cached grant ends when its token expires: expired, then refused from the cache', () => {
    let now = Date.now();
    const auth = new Authenticator(() => now);
    const token = userToken(made, 'bob', 60);
    assert.equal(auth.authenticate(`Bearer ${token}`, app).kind, 'user');
    now += 61_000;
    for (let i = 0; i < 2; i++)
      assert.throws(
        () => auth.authenticate(`Bearer ${token}`, app),
        (err: unknown) => err instanceof ApiError && err.status === 401,
      );
  });

  it('refuses a token over 2,048 characters as corrupt without caching it', () => {
    const auth = new Authenticator();
    assert.throws(
      () => auth.authenticate(`Bearer 007${'A'.repeat(3000)}`, app),
      (err: unknown) => err instanceof ApiError && err.error === 'auth_bad_access_token',
    );
    assert.equal(auth.size, 0);
  });
});
