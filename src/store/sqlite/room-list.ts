import type { Database as Db, Statement } from 'better-sqlite3';
import type { RoomRecord } from '../types.js';

const COLUMNS = `id, name, description, owner, maxusers, created,
  (SELECT count(*) FROM members m WHERE m.app = r.app AND m.room = r.id) AS memberCount`;

/**
 * Ids sort by length, then by digits (compareRoomIds). Two seeks on the index rooms_in_id_order
 * (app, length(id), id), so a page costs its own length wherever it starts: the rest of the ids as
 * long as the cursor's, then the longer ones. One query with an OR between the two sorts the app's
 * rooms or scans them from the first.
 */
function prepare(db: Db): { sameLength: Statement; longer: Statement } {
  return {
    sameLength: db.prepare(`SELECT ${COLUMNS} FROM rooms r INDEXED BY rooms_in_id_order
      WHERE app = @app AND length(id) = length(@after) AND id > @after ORDER BY id LIMIT @limit`),
    longer: db.prepare(`SELECT ${COLUMNS} FROM rooms r INDEXED BY rooms_in_id_order
      WHERE app = @app AND length(id) > length(@after) ORDER BY length(id), id LIMIT @limit`),
  };
}

const prepared = new WeakMap<Db, ReturnType<typeof prepare>>();

/** Rooms whose id comes after `after` ('' = from the start), in id order, at most `limit`; one read transaction. */
export function listRoomsAfter(db: Db, appId: string, after: string, limit: number): RoomRecord[] {
  let q = prepared.get(db);
  if (!q) {
    q = prepare(db);
    prepared.set(db, q);
  }
  const { sameLength, longer } = q;
  return db.transaction(() => {
    const rooms = sameLength.all({ app: appId, after, limit }) as RoomRecord[];
    if (rooms.length < limit) rooms.push(...(longer.all({ app: appId, after, limit: limit - rooms.length }) as RoomRecord[]));
    return rooms;
  })();
}
