import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { at } from '../../support/at.js';
import type { Target } from '../../support/server.js';
import { assertError, roomsUsersFixture, UUID } from './rooms-users-support.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

/** Spec section 6 (see roomsUsersFixture): registering and reading users, and no password in clear at rest. */
export function roomsUsersRegisterSuite(target: Target): void {
  describe(`users and chatrooms [${target.name}]`, () => {
    const h = roomsUsersFixture(target);
    const { uniq, register, getUser, assertNoUser } = h;

    describe('register and get users', () => {
      it('registers one user with the entities shape and reads it back', async () => {
        const name = uniq('solo');
        const startedAt = Date.now();
        const res = await register({ username: name, password: 'pw-123456' });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.action, 'post');
        assert.equal(res.body.uri, `${h.fx.server.url}/${h.fx.app.org}/${h.fx.app.app}/users`);
        assert.equal(res.body.entities.length, 1);
        const e = res.body.entities[0];
        assert.deepEqual(Object.keys(e).sort(), ['activated', 'created', 'modified', 'type', 'username', 'uuid']);
        assert.match(e.uuid, UUID);
        assert.equal(e.type, 'user');
        assert.equal(e.username, name);
        assert.equal(e.activated, true);
        assert.equal(typeof e.created, 'number');
        assert.equal(typeof e.modified, 'number');
        assert.ok(e.created >= startedAt - 1000 && e.created <= Date.now() + 1000, `created ${e.created}`);
        const got = await getUser(name);
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.action, 'get');
        assert.deepEqual(got.body.entities, [e]);
      });

      it('registers an array of 60 users in one call', async () => {
        const names = Array.from({ length: 60 }, () => uniq('bulk'));
        const res = await register(names.map((username) => ({ username: username.toUpperCase(), password: 'pw-123456' })));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.entities.length, 60);
        assert.deepEqual(
          res.body.entities.map((e: { username: string }) => e.username),
          names,
        );
        assert.equal(new Set(res.body.entities.map((e: { uuid: string }) => e.uuid)).size, 60);
        for (const e of res.body.entities) {
          assert.equal(e.type, 'user');
          assert.equal(e.activated, true);
          assert.match(e.uuid, UUID);
        }
        for (const n of [at(names, 0), at(names, 29), at(names, 59)]) {
          const got = await getUser(n);
          assert.equal(got.status, 200, got.text);
          assert.equal(got.body.entities[0].username, n);
        }
      });

      it('refuses more than 60 users in one call and creates none', async () => {
        const names = Array.from({ length: 61 }, () => uniq('over'));
        const res = await register(names.map((username) => ({ username, password: 'pw-123456' })));
        assertError(res, 400, 'illegal_argument');
        await assertNoUser(at(names, 0));
        await assertNoUser(at(names, 60));
      });

      it('fails the whole array on a duplicate inside it, whatever its case', async () => {
        const a = uniq('dupa');
        const b = uniq('dupb');
        const res = await register([
          { username: a, password: 'pw-123456' },
          { username: b, password: 'pw-123456' },
          { username: b.toUpperCase(), password: 'pw-123456' },
        ]);
        assertError(res, 400, 'duplicate_unique_property_exists');
        await assertNoUser(a);
        await assertNoUser(b);
      });

      it('fails the whole array on a duplicate of an existing user', async () => {
        const existing = uniq('exist');
        await h.fx.createUsers(existing);
        const first = uniq('fresh');
        const last = uniq('fresh');
        const res = await register([
          { username: first, password: 'pw-123456' },
          { username: existing, password: 'pw-123456' },
          { username: last, password: 'pw-123456' },
        ]);
        assertError(res, 400, 'duplicate_unique_property_exists');
        await assertNoUser(first);
        await assertNoUser(last);
        assert.equal((await getUser(existing)).status, 200);
      });

      it('fails the whole array on one bad username', async () => {
        const first = uniq('okay');
        const last = uniq('okay');
        const res = await register([
          { username: first, password: 'pw-123456' },
          { username: 'not valid!', password: 'pw-123456' },
          { username: last, password: 'pw-123456' },
        ]);
        assertError(res, 400, 'illegal_argument');
        await assertNoUser(first);
        await assertNoUser(last);
      });

      it('treats usernames case-insensitively and stores them lower-case', async () => {
        const name = uniq('dave');
        const mixed = `D${name.slice(1)}`;
        const res = await register({ username: mixed, password: 'pw-123456' });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.entities[0].username, name);
        const got = await getUser(name.toUpperCase());
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.entities[0].username, name);
        assert.equal(got.body.entities[0].uuid, res.body.entities[0].uuid);
        const again = await register({ username: name.toUpperCase(), password: 'pw-123456' });
        assertError(again, 400, 'duplicate_unique_property_exists');
      });

      it('accepts the full username alphabet up to 64 characters', async () => {
        const dotted = `${uniq('a.b-c_d')}`;
        const long = `${uniq('l')}`.padEnd(64, '9');
        const res = await register([
          { username: dotted, password: 'pw-123456' },
          { username: long, password: 'pw-123456' },
        ]);
        assert.equal(res.status, 200, res.text);
        assert.equal((await getUser(dotted)).status, 200);
        assert.equal((await getUser(long)).status, 200);
      });

      it('refuses usernames outside 1-64 of a-z 0-9 _ - . with 400 illegal_argument', async () => {
        for (const username of ['has space', 'a@b', 'caf\u00e9', 'semi;colon', 'plus+', '', 'x'.repeat(65)]) {
          const res = await register({ username, password: 'pw-123456' });
          assertError(res, 400, 'illegal_argument');
          assert.equal(typeof res.body.error_description, 'string');
        }
      });

      it('answers 404 service_resource_not_found for an unknown user', async () => {
        const res = await getUser(uniq('nobody'));
        assertError(res, 404, 'service_resource_not_found', 'Service resource not found');
      });
    });

    describe('secrets at rest', () => {
      it('never writes a password in clear under the data directory', async () => {
        const name = uniq('secret');
        const password = `Clear-Pw-${randomBytes(12).toString('hex')}`;
        const res = await register({ username: name, password });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.text.includes(password), false, 'the answer must not echo the password');
        // a password grant proves the password really was taken in before looking for it on disk
        const token = await h.fx.admin.call('POST', '/token', { body: { grant_type: 'password', username: name, password } });
        assert.equal(token.status, 200, token.text);
        const needle = Buffer.from(password, 'utf8');
        const files = filesUnder(h.fx.server.dataDir);
        assert.ok(files.length > 0, 'the data directory holds at least the apps file');
        for (const file of files) {
          assert.equal(readFileSync(file).includes(needle), false, `${file} holds the password in clear`);
        }
      });
    });
  });
}
