import type { AttrDump, MemberDump, RoomDump, UserDump } from '../store/types.js';

/**
 * The export format: JSON Lines, one record a line, each with a `type`. Fields are written in a
 * fixed order and records in a fixed order (apps by app key, users by username, rooms by numeric
 * id, each followed by its members by join time and its attributes by key), so two exports of the
 * same data are the same bytes, whichever store they came from.
 *
 *   header     {"type":"header","format":"roomkv-export","version":2,"roomkv":"0.1.0"}
 *   app        {"type":"app","app":"org#app","appId":"<32 hex>"}            starts an app's records
 *   user       {"type":"user","username","uuid","passwordHash","created","modified"}
 *   room       {"type":"room","id","name","description","owner","maxusers","created"}
 *   member     {"type":"member","room","username","joined"}                  after its room
 *   attribute  {"type":"attribute","room","key","value","owner","autoDelete","revision","expiresAt"}
 *   end        {"type":"end","users","rooms","members","attributes"}         last line: a cut file is refused
 *
 * An attribute's `revision` is the seq of the event that last wrote it (0: before revisions), and
 * `expiresAt` when it expires (ms since the epoch; null: never).
 *
 * Versions: 1 wrote null in `revision` and `expiresAt` (the stores kept neither yet); 2 fills them
 * in. The records have the same fields, so a version 1 file imports as it always did (no expiry,
 * revision 0); the version moved so that a roomkv that reads only version 1, and would drop the
 * expiry, refuses a version 2 file instead of making its expiring keys permanent.
 */
export const FORMAT = 'roomkv-export';
/** Raised when a record changes meaning; an import refuses a file of a newer version. */
export const FORMAT_VERSION = 2;

export interface Counts {
  users: number;
  rooms: number;
  members: number;
  attributes: number;
}

export type TransferRecord =
  | { type: 'header'; format: string; version: number; roomkv: string }
  | { type: 'app'; app: string; appId: string }
  | ({ type: 'user' } & UserDump)
  | ({ type: 'room' } & Omit<RoomDump, 'members' | 'attributes'>)
  | ({ type: 'member'; room: string } & MemberDump)
  | ({ type: 'attribute'; room: string } & AttrDump)
  | ({ type: 'end' } & Counts);

/** Each record type's fields, in the order they are written; a record must have exactly these. */
export const FIELDS: Record<TransferRecord['type'], readonly string[]> = {
  header: ['type', 'format', 'version', 'roomkv'],
  app: ['type', 'app', 'appId'],
  user: ['type', 'username', 'uuid', 'passwordHash', 'created', 'modified'],
  room: ['type', 'id', 'name', 'description', 'owner', 'maxusers', 'created'],
  member: ['type', 'room', 'username', 'joined'],
  attribute: ['type', 'room', 'key', 'value', 'owner', 'autoDelete', 'revision', 'expiresAt'],
  end: ['type', 'users', 'rooms', 'members', 'attributes'],
};

/** One line, its fields in FIELDS order (JSON.stringify keeps insertion order). */
export function line(record: TransferRecord): string {
  const source = record as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const f of FIELDS[record.type]) ordered[f] = source[f] ?? null;
  return `${JSON.stringify(ordered)}\n`;
}

export function headerLine(roomkvVersion: string): string {
  return line({ type: 'header', format: FORMAT, version: FORMAT_VERSION, roomkv: roomkvVersion });
}

/** A room and what it holds, as lines: the room, its members by join time, its attributes by key. */
export function roomLines(room: RoomDump): string {
  const members = [...room.members].sort((a, b) => a.joined - b.joined || (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  const attributes = [...room.attributes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const { members: _m, attributes: _a, ...head } = room;
  return [
    line({ type: 'room', ...head }),
    ...members.map((m) => line({ type: 'member', room: room.id, ...m })),
    ...attributes.map((a) => line({ type: 'attribute', room: room.id, ...a })),
  ].join('');
}
