// What the client's tests against real servers share: the WebSocket class for Node 20 (the `ws`
// package's; Node 22+ has a global one too), clients that are closed after each test, and a
// room with members.
import { createRequire } from 'node:module';
import { createClient, type ClientOptions, type Room, type RoomkvClient, type WebSocketConstructor } from '../../src/client/index.js';
import { userToken, type TestApp } from '../support/apps.js';
import type { Fixture } from '../support/fixture.js';
import { waitFor } from '../support/wait.js';

export const NodeWebSocket = createRequire(import.meta.url)('ws') as WebSocketConstructor;

const open = new Set<RoomkvClient>();

/** A client of `app` acting as `user` (a 007 user token) on `baseUrl`, over the `ws` package. */
export function userClient(baseUrl: string | string[], app: TestApp, user: string, opts: Partial<ClientOptions> = {}): RoomkvClient {
  const client = createClient({
    baseUrl,
    org: app.org,
    app: app.app,
    token: userToken(app, user),
    WebSocket: NodeWebSocket,
    reconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    ...opts,
  });
  client.on('error', (err) => {
    // Reconnecting through a cut network reports why each attempt failed; the tests check the outcome.
    if (process.env.ROOMKV_TEST_DEBUG) console.error('client error:', err);
  });
  open.add(client);
  return client;
}

export function closeClients(): void {
  for (const c of open) c.close();
  open.clear();
}

/** A room owned by the first user with the others as members, the users made first. */
export async function roomWith(f: Fixture, users: string[]): Promise<string> {
  await f.createUsers(...users);
  return f.createRoom(users[0]!, users.slice(1));
}

/** The seqs of the changes a room applied, in order. */
export function changes(room: Room): number[] {
  const seqs: number[] = [];
  room.on('change', (e) => seqs.push(e.seq));
  return seqs;
}

/** Waits until the replica is live at `seq` and holds exactly `values`. */
export async function converged(room: Room, seq: number, values: Record<string, string>, timeoutMs = 10_000): Promise<void> {
  const want = JSON.stringify(Object.entries(values).sort());
  await waitFor(
    `room ${room.id} live at seq ${seq} with ${want} (has seq ${room.seq}, ${JSON.stringify(Object.entries(room.values()).sort())}, ${room.status})`,
    () => room.status === 'live' && room.seq === seq && JSON.stringify(Object.entries(room.values()).sort()) === want,
    timeoutMs,
  );
}

export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
