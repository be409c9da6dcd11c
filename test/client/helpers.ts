// What the client's unit tests share: a client on the fake roomkv, and records of what it told.
import { createClient, type ChatroomEvent, type ClientOptions, type Room, type RoomkvClient } from '../../src/client/index.js';
import { waitFor } from '../support/wait.js';
import { FakeRoomkv } from './fake-roomkv.js';

export interface Setup {
  server: FakeRoomkv;
  client: RoomkvClient;
  errors: unknown[];
  statuses: string[];
  sdk: ChatroomEvent[];
}

const clients = new Set<RoomkvClient>();

/** A client on a fresh fake server, with short delays so that faults heal at once. */
export function setup(opts: Partial<ClientOptions> = {}, server = new FakeRoomkv()): Setup {
  const sdk: ChatroomEvent[] = [];
  const client = createClient({
    baseUrl: 'http://kv.test',
    org: 'org',
    app: 'app',
    token: 'user:alice',
    transport: server.transport,
    reconnectDelayMs: 5,
    maxReconnectDelayMs: 20,
    onChatroomEvent: (e) => sdk.push(e),
    ...opts,
  });
  clients.add(client);
  const errors: unknown[] = [];
  const statuses: string[] = [];
  client.on('error', (e) => errors.push(e));
  client.on('status', (s) => statuses.push(s.status));
  return { server, client, errors, statuses, sdk };
}

/** Closes every client the file made. */
export function closeAll(): void {
  for (const c of clients) c.close();
  clients.clear();
}

/** The seqs of the changes a room applied, in order. */
export function changes(room: Room): number[] {
  const seqs: number[] = [];
  room.on('change', (e) => seqs.push(e.seq));
  return seqs;
}

export function untilSeq(room: Room, seq: number, what = `room ${room.id} at seq ${seq}`): Promise<true> {
  return waitFor(what, () => room.seq === seq && room.status === 'live');
}

/** 1, 2, ..., n */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
