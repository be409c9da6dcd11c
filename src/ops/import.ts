import { pairBytes } from '../domain/attributes.js';
import type { DataTransfer, EventLog, RoomStore } from '../store/types.js';

/** What an import reads and writes: look-ups for records the store holds, the restores, a new epoch. */
type ImportTarget = DataTransfer & Pick<RoomStore, 'getUser' | 'getUserByUuid' | 'getRoom'> & Pick<EventLog, 'renewLogEpoch'>;
import type { Counts } from './transfer-format.js';
import { readTransfer, TransferError, type AppPlan, type ReadOptions } from './transfer-read.js';

/** Users per restoreUsers call (one transaction or script each). */
const USER_BATCH = 200;
/** Store look-ups in flight at once while checking for records the store holds. */
const LOOKUPS = 32;

export interface ImportSummary {
  /** What was written: the file's counts less the expired attributes. */
  counts: Counts;
  /** Attributes whose time had come before the import: not restored. */
  expired: number;
  epoch: string;
}

async function inChunks<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += LOOKUPS) await Promise.all(items.slice(i, i + LOOKUPS).map(fn));
}

/**
 * What stands in the way in the store: a user, uuid or room it holds already, a member that is
 * a user neither of the file nor of the store, an app that would pass its byte quota.
 */
async function conflicts(store: ImportTarget, plans: AppPlan[]): Promise<string[]> {
  const found: string[] = [];
  for (const { app, users, rooms } of plans) {
    const inFile = new Set(users.map((u) => u.username));
    await inChunks(users, async (u) => {
      if (await store.getUser(app.appId, u.username)) found.push(`${app.appKey}: user ${u.username} exists`);
      else if (await store.getUserByUuid(app.appId, u.uuid))
        found.push(`${app.appKey}: user uuid ${u.uuid} (${u.username}) is another user's`);
    });
    await inChunks(rooms, async (r) => {
      if (await store.getRoom(app.appId, r.id)) found.push(`${app.appKey}: chatroom ${r.id} exists`);
    });
    const outside = [...new Set(rooms.flatMap((r) => r.members.map((m) => m.username)))].filter((u) => !inFile.has(u));
    await inChunks(outside, async (u) => {
      if (!(await store.getUser(app.appId, u))) found.push(`${app.appKey}: member ${u} is a user neither of the file nor of the store`);
    });
    const bytes = rooms.reduce((sum, r) => sum + r.attributes.reduce((s, a) => s + pairBytes(a.key, a.value), 0), 0);
    if (bytes > app.limits.maxAppBytes)
      found.push(`${app.appKey}: the attributes hold ${bytes} bytes, more than the app's maxAppBytes ${app.limits.maxAppBytes}`);
  }
  return found.sort();
}

/**
 * Leaves out the attributes whose time has come (expiresAt at or before `now`): a restore is not a
 * change, so a key that would be swept at once, with an `expired` event, is not written at all.
 * Returns how many were left out.
 */
function dropExpired(plans: AppPlan[], now: number): number {
  let dropped = 0;
  for (const room of plans.flatMap((p) => p.rooms)) {
    const live = room.attributes.filter((a) => a.expiresAt === null || a.expiresAt > now);
    dropped += room.attributes.length - live.length;
    room.attributes = live;
  }
  return dropped;
}

/**
 * Imports an export (or what --from-agora made) into the store: the whole file is read and
 * checked first, and checked against the store (refused when the store holds any of its users or
 * rooms); then users go in batches and rooms one at a time, each atomically. No change event and
 * no webhook: a restore is not a change. Last, the store gets a new log epoch, so event-stream
 * resume points from before take a snapshot.
 */
export async function importTransfer(
  store: ImportTarget,
  lines: AsyncIterable<string>,
  options: ReadOptions & { log: (text: string) => void; now?: () => number },
): Promise<ImportSummary> {
  const { plans, counts: read } = await readTransfer(lines, options);
  const expired = dropExpired(plans, options.now?.() ?? Date.now());
  const counts: Counts = { ...read, attributes: read.attributes - expired };
  const found = await conflicts(store, plans);
  if (found.length > 0) {
    const shown = found.slice(0, 20);
    if (found.length > shown.length) shown.push(`... and ${found.length - shown.length} more`);
    throw new TransferError([
      'nothing was imported: the store already holds records of this file (import into an empty store: a new data dir, or a new ROOMKV_REDIS_PREFIX)',
      ...shown,
    ]);
  }
  const done: Counts = { users: 0, rooms: 0, members: 0, attributes: 0 };
  try {
    for (const { app, users, rooms } of plans) {
      for (let i = 0; i < users.length; i += USER_BATCH) {
        const batch = users.slice(i, i + USER_BATCH);
        await store.restoreUsers(app.appId, batch);
        done.users += batch.length;
      }
      for (const room of rooms) {
        await store.restoreRoom(app.appId, room);
        done.rooms++;
        done.members += room.members.length;
        done.attributes += room.attributes.length;
        if (done.rooms % 1000 === 0) options.log(`${done.rooms} of ${counts.rooms} chatrooms imported`);
      }
    }
  } catch (err) {
    throw new TransferError([
      `the import stopped part way: ${(err as Error).message}`,
      `written, each user batch and each chatroom whole: ${done.users} of ${counts.users} users, ${done.rooms} of ${counts.rooms} chatrooms; nothing after that`,
      'the store now holds part of the file: empty it (a new data dir, or a new ROOMKV_REDIS_PREFIX) and import again',
    ]);
  }
  return { counts, expired, epoch: await store.renewLogEpoch() };
}
