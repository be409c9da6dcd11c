import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { Reply } from '../../support/client.js';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

/** What the users-and-chatrooms suites (rooms-users-*.ts, spec sections 5 and 6) share. */

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MISSING_ROOM = '987654321987';

export function assertError(res: Reply, status: number, error: string, description?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.error, error, res.text);
  if (description !== undefined) assert.equal(res.body.error_description, description, res.text);
}

/**
 * A server with one app, and the calls the users-and-chatrooms tests make through its app token.
 * Called inside a describe: it registers the hooks that start the server and close it.
 */
export function roomsUsersFixture(target: Target) {
  let fx: Fixture;
  /** What the before hook set up, for the tests to read. */
  const setUp = {} as { fx: Fixture };
  let seq = 0;
  /** A fresh lower-case name per call, so tests sharing the server never collide. */
  const uniq = (prefix: string) => `${prefix}${++seq}`;

  const register = (body: unknown) => fx.admin.call('POST', '/users', { body });
  const getUser = (u: string) => fx.admin.call('GET', `/users/${u}`);
  const assertNoUser = async (u: string) => {
    const res = await getUser(u);
    assert.equal(res.status, 404, `user ${u} should not exist: ${res.text}`);
  };
  const members = async (room: string): Promise<string[]> => {
    const res = await fx.admin.call('GET', `/chatrooms/${room}/users`);
    assert.equal(res.status, 200, res.text);
    return (res.body.data as Array<Record<string, string>>).map((e) => e.owner ?? e.member!).sort();
  };
  const details = async (room: string) => {
    const res = await fx.admin.call('GET', `/chatrooms/${room}`);
    assert.equal(res.status, 200, res.text);
    return res.body.data[0];
  };
  const set = async (room: string, user: string, metaData: Record<string, string>, autoDelete?: string, forced = false) => {
    const body = autoDelete === undefined ? { metaData } : { metaData, autoDelete };
    const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, { successKeys: Object.keys(metaData), errorKeys: {} });
  };
  const attrs = async (room: string): Promise<Record<string, string>> => {
    const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: {} });
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  };
  const removeMember = async (room: string, users: string) => {
    const res = await fx.admin.call('DELETE', `/chatrooms/${room}/users/${users}`);
    assert.equal(res.status, 200, res.text);
    return res;
  };

  before(async () => {
    fx = await startFixture(target);
    setUp.fx = fx;
  });
  after(() => fx.close());

  return Object.assign(setUp, {
    uniq,
    register,
    getUser,
    assertNoUser,
    members,
    details,
    set,
    attrs,
    removeMember,
  });
}
