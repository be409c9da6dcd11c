import assert from 'node:assert/strict';
import { appToken, userToken, type TestApp } from '../../support/apps.js';
import { client } from '../../support/client.js';
import type { Fixture } from '../../support/fixture.js';
import type { ServerHandle } from '../../support/server.js';
import { json, openStream, type SseMessage, type SseStream } from '../../support/sse.js';
import { waitFor } from '../../support/wait.js';
import { connectWithToken, type WsClient } from './ws-client.js';

/** What the presence suites share: a short grace, streams opened and awaited, the room read back. */

/** A grace short enough for many rounds, long enough for a stream to open well within it. */
export const GRACE_MS = 600;
export const WAIT_MS = 20_000;
export const NO_LIMIT = { rateLimitPerSecond: 100_000 };
export const PRESENCE = { presence: { leaveAfterOfflineMs: GRACE_MS } };

/**
 * The app as seen through one roomkv instance at `url`, for the helpers here: several instances on
 * one Redis are the same service, each with its own address.
 */
export function through(url: string, app: TestApp, close: () => Promise<void> = async () => {}): Fixture {
  const prefix = `/${app.org}/${app.app}`;
  const admin = client(url, prefix, appToken(app));
  return {
    server: { url, dataDir: '', appsFile: '', close } satisfies ServerHandle,
    app,
    admin,
    adminById: client(url, `/app-id/${app.appId}`, appToken(app)),
    user: (username) => client(url, prefix, userToken(app, username)),
    async createUsers(...names) {
      const res = await admin.call('POST', '/users', { body: names.map((username) => ({ username, password: 'pw-123456' })) });
      assert.equal(res.status, 200, res.text);
    },
    async createRoom(owner, members = []) {
      const res = await admin.call('POST', '/chatrooms', { body: { name: 'room', description: 'test room', owner, members } });
      assert.equal(res.status, 200, res.text);
      return res.body.data.id as string;
    },
    close,
  };
}

export function eventsUrl(fx: Fixture, room: string): string {
  return `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}/events`;
}

/** Opens a room's event stream with `token` (an app token when none) and waits for its snapshot. */
export async function sse(fx: Fixture, room: string, token = appToken(fx.app), query?: Record<string, string>): Promise<SseStream> {
  const s = await openStream(eventsUrl(fx, room), { token, query });
  assert.equal(s.status, 200, s.text);
  assert.equal((await s.next(undefined, WAIT_MS)).event, 'snapshot');
  return s;
}

/** Closes a stream from the client's side and waits until it is over. */
export async function hangUp(s: SseStream): Promise<void> {
  s.close();
  await s.closed;
}

/** A WebSocket with `token`, subscribed to `room`, past its snapshot. */
export async function wsSubscribed(fx: Fixture, room: string, token = appToken(fx.app)): Promise<WsClient> {
  const c = await connectWithToken(fx, token);
  const reply = await c.request({ op: 'subscribe', room });
  assert.equal(reply.status, 200, JSON.stringify(reply));
  await c.next((m) => m.type === 'snapshot' && m.chatroomId === room);
  return c;
}

export const isPresence = (m: SseMessage) => m.event === 'presence';
export const presenceOf = (s: SseStream) => s.messages.filter(isPresence).map((m) => json(m));
/** The change events a stream received (unnamed SSE messages). */
export const eventsOf = (s: SseStream) => s.messages.filter((m) => m.event === undefined).map((m) => json(m));

/** The next presence message of `user` with `status` on an SSE stream. */
export async function nextPresence(s: SseStream, user: string, status: 'online' | 'offline'): Promise<any> {
  const m = await s.next((x) => isPresence(x) && json(x).user === user && json(x).status === status, WAIT_MS);
  assert.equal(m.id, undefined, 'a presence message has no id: it is not replayed');
  return json(m);
}

/** The event with which `user` left by presence, on an SSE stream. */
export async function offlineLeave(s: SseStream, user: string): Promise<any> {
  return json(await s.next((m) => m.event === undefined && json(m).reason === 'member_offline' && json(m).from === user, WAIT_MS));
}

/** GET .../presence as `as` (the fixture's app token when none). */
export async function online(fx: Fixture, room: string, as?: string): Promise<{ status: number; body: any }> {
  const c = as === undefined ? fx.admin : fx.user(as);
  return c.call('GET', `/metadata/chatroom/${room}/presence`);
}

export async function onlineList(fx: Fixture, room: string): Promise<string[]> {
  const res = await online(fx, room);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data.online;
}

export async function members(fx: Fixture, room: string): Promise<string[]> {
  const res = await fx.admin.call('GET', `/chatrooms/${room}/users?pagenum=1&pagesize=100`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body.data as Array<Record<string, string>>).map((m) => m.owner ?? m.member!);
}

export async function waitMembership(fx: Fixture, room: string, user: string, member: boolean): Promise<void> {
  await waitFor(`${user} ${member ? '' : 'no longer '}a member`, async () => (await members(fx, room)).includes(user) === member, WAIT_MS);
}

export async function addMember(fx: Fixture, room: string, user: string): Promise<void> {
  const res = await fx.admin.call('POST', `/chatrooms/${room}/users/${user}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/** Sets keys as `user` through the app token (so that the set makes no one online). */
export async function put(fx: Fixture, room: string, user: string, metaData: Record<string, string>, autoDelete = 'DELETE'): Promise<void> {
  const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, { body: { metaData, autoDelete } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body.data.errorKeys, {}, res.text);
}

/** `user` is online for a moment: a stream opened and closed; answers the offline message seen on `watch`. */
export async function blip(fx: Fixture, room: string, user: string, watch: SseStream): Promise<any> {
  const s = await sse(fx, room, userToken(fx.app, user));
  await nextPresence(watch, user, 'online');
  await hangUp(s);
  return nextPresence(watch, user, 'offline');
}

/**
 * A witness that time has passed: `user` (a member, not the owner) takes a DELETE key, is online for
 * a moment and is waited for until it has left by presence. Any member that went offline before it
 * has been looked at by then.
 */
export async function witnessLeaves(fx: Fixture, room: string, user: string, watch: SseStream): Promise<void> {
  await put(fx, room, user, { [`witness_${user}`]: '1' });
  await blip(fx, room, user, watch);
  await offlineLeave(watch, user);
}

/** Resolves at the time `at` (ms since the epoch): the races start a reconnect at a chosen moment. */
export function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}
