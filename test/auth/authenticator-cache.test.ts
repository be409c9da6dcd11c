import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Authenticator } from '../../src/auth/authenticator.js';
import { AppRegistry, loadAppsFile } from '../../src/config/apps.js';
import { ApiError } from '../../src/domain/errors.js';
import { appToken, makeApp, removeTempDir, tempDir, writeAppsFile } from '../support/apps.js';
import { at } from '../support/at.js';

const dir = tempDir();
const app = at(new AppRegistry(loadAppsFile(writeAppsFile([makeApp()], dir))).apps, 0);
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

  it('refuses a token over 2,048 characters as corrupt without caching it', () => {
    const auth = new Authenticator();
    assert.throws(
      () => auth.authenticate(`Bearer 007${'A'.repeat(3000)}`, app),
      (err: unknown) => err instanceof ApiError && err.error === 'auth_bad_access_token',
    );
    assert.equal(auth.size, 0);
  });
});
