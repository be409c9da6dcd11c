import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Principal } from '../../src/auth/authenticator.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import { LoginGuard } from '../../src/auth/login-guard.js';
import { parseAppsFile, type AppRecord } from '../../src/config/apps.js';
import { ApiError } from '../../src/domain/errors.js';
import { OpenStreams } from '../../src/events/live-stream.js';
import { openContext, type ServiceContext } from '../../src/service/context.js';
import { makeServices, type Services } from '../../src/service/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { makeApp } from '../support/apps.js';
import { at } from '../support/at.js';
import { LOG_LIMITS } from '../support/routing.js';

/**
 * The service layer on its own, as a transport without Fastify (a WebSocket) calls it: plain
 * inputs and outputs, refusals as the catalogue's ApiError, who may do what decided here.
 */

async function refused(call: Promise<unknown>, status: number, error: string): Promise<void> {
  await assert.rejects(call, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.error, error);
    return true;
  });
}

describe('service layer', () => {
  const HOUR = 3_600_000;
  let store: SqliteStore;
  let app: AppRecord;
  let services: Services;
  let admin: ServiceContext;
  const userCtx = (userId: string) => {
    const principal: Principal = { kind: 'user', userId, issued: false, expiresAt: Date.now() + HOUR };
    return openContext(store, app, principal);
  };

  before(async () => {
    store = new SqliteStore({ path: ':memory:', synchronous: 'NORMAL', eventLog: LOG_LIMITS });
    app = at(parseAppsFile(JSON.stringify({ apps: [makeApp()] }), 'test'), 0);
    const login = {
      guard: new LoginGuard({ loginFailuresPerUser: 10, loginFailuresPerApp: 100, loginFailureWindowS: 60, loginConcurrencyPerApp: 2 }),
      maxTtlS: 3600,
    };
    services = makeServices({
      store,
      counter: { countKeys: () => {} },
      streams: new OpenStreams({ maxPerUser: 1, maxPerApp: 10 }),
      auth: new Authenticator(),
      login,
    });
    admin = await openContext(store, app, { kind: 'app', expiresAt: Date.now() + HOUR });
    await services.users.register(admin, [
      { username: 'Alice', password: 'pw-alice' },
      { username: 'bob', password: 'pw-bob' },
    ]);
  });
  after(() => store.close());

  it('takes app tokens only for administration', async () => {
    const alice = await userCtx('alice');
    await refused(services.users.get(alice, 'alice'), 403, 'forbidden_op');
    await refused(services.rooms.create(alice, { name: 'r', description: '', owner: 'alice' }), 403, 'forbidden_op');
    await refused(services.webhooks.status(alice), 403, 'forbidden_op');
    assert.equal((await services.users.get(admin, 'ALICE')).username, 'alice');
  });

  it('lets a user token set and delete as its own user only, and forced deletes by `admin` skip membership', async () => {
    const { id } = await services.rooms.create(admin, { name: 'r', description: '', owner: 'alice', members: ['bob'] });
    const alice = await userCtx('alice');
    await refused(
      services.attributes.set(alice, { roomId: id, username: 'bob', forced: false, metaData: { k: 'v' } }),
      403,
      'forbidden_op',
    );
    const set = await services.attributes.set(alice, { roomId: id, username: 'ALICE', forced: false, metaData: { k: 'v', j: 'w' } });
    assert.deepEqual(set.successKeys, ['k', 'j']);
    assert.equal(await services.attributes.get(alice, { roomId: id, keys: ['k'] }), '{"k":"v"}');
    // `admin` is no member: an app token's forced delete does not ask; duplicates are dropped.
    const del = await services.attributes.delete(admin, { roomId: id, username: 'admin', forced: true, keys: ['k', 'k'] });
    assert.deepEqual(del.successKeys, ['k']);
    const records = await services.attributes.records(admin, id);
    assert.deepEqual(
      records.map((r) => [r.key, r.owner]),
      [['j', 'alice']],
    );
    await refused(services.attributes.get(admin, { roomId: 'not-a-room' }), 404, 'resource_not_found');
  });

  it('refuses more than 60 members in one removal, and the owner leaving', async () => {
    const { id } = await services.rooms.create(admin, { name: 'r', description: '', owner: 'alice', members: ['bob'] });
    const many = Array.from({ length: 61 }, (_, i) => `u${i}`);
    await refused(services.rooms.removeMembers(admin, id, many), 400, 'illegal_argument');
    await refused(services.rooms.removeMember(admin, id, 'alice'), 403, 'forbidden_op');
    assert.deepEqual(await services.rooms.removeMember(admin, id, 'bob'), { result: true, action: 'remove_member', user: 'bob', id });
  });

  it('opens a stream for members only, within the caps, and ends a destroyed room read to its end', async () => {
    const { id } = await services.rooms.create(admin, { name: 'r', description: '', owner: 'alice' });
    const alice = await userCtx('alice');
    const bob = await userCtx('bob');
    await refused(services.streams.open(bob, id, undefined), 401, 'unauthorized');
    await refused(services.streams.open(alice, id, 'x'), 400, 'illegal_argument');
    const opening = await services.streams.open(alice, id, undefined);
    assert.equal(opening.status, 'open');
    await refused(services.streams.open(alice, id, undefined), 429, 'reach_limit');
    if (opening.status === 'open') opening.release();
    const again = await services.streams.open(alice, id, undefined);
    if (again.status === 'open') again.release();

    await services.attributes.set(alice, { roomId: id, username: 'alice', forced: false, metaData: { k: 'v' } });
    await services.rooms.destroy(admin, id);
    await refused(services.streams.open(alice, id, '0'), 404, 'resource_not_found');
    const end = await services.streams.open(admin, id, '1000');
    assert.equal(end.status, 'ended');
  });
});
