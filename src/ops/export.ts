import type { AppRecord } from '../config/apps.js';
import type { DataTransfer } from '../store/types.js';
import { headerLine, line, roomLines, type Counts } from './transfer-format.js';

/** Rooms and users read per store call. */
const PAGE = 500;

/**
 * Writes the apps' data in the export format (transfer-format.ts) through `write`, which may
 * return a promise to slow the export down to its reader. Each room is read at one instant; the
 * export as a whole is not a snapshot of the store while writes go on.
 */
export async function exportApps(
  store: DataTransfer,
  apps: readonly AppRecord[],
  roomkvVersion: string,
  write: (text: string) => unknown,
): Promise<Counts> {
  const counts: Counts = { users: 0, rooms: 0, members: 0, attributes: 0 };
  await write(headerLine(roomkvVersion));
  for (const app of [...apps].sort((a, b) => (a.appKey < b.appKey ? -1 : 1))) {
    await write(line({ type: 'app', app: app.appKey, appId: app.appId }));
    for (let after = ''; ;) {
      const users = await store.listUsers(app.appId, after, PAGE);
      const last = users.at(-1);
      if (last === undefined) break;
      await write(users.map((u) => line({ type: 'user', ...u })).join(''));
      counts.users += users.length;
      after = last.username;
    }
    for (let after = ''; ;) {
      const rooms = await store.listRooms(app.appId, after, PAGE);
      const last = rooms.at(-1);
      if (last === undefined) break;
      for (const r of rooms) {
        // A room destroyed since it was listed is simply not in the export.
        const room = await store.dumpRoom(app.appId, r.id);
        if (room === null) continue;
        await write(roomLines(room));
        counts.rooms++;
        counts.members += room.members.length;
        counts.attributes += room.attributes.length;
      }
      after = last.id;
    }
  }
  await write(line({ type: 'end', ...counts }));
  return counts;
}
