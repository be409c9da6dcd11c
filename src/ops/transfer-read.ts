import { pairProblem } from '../domain/attributes.js';
import { refusalText } from '../http/key-reasons.js';
import { isRoomId } from '../domain/ids.js';
import { checkUsername } from '../domain/requests.js';
import type { AppRecord } from '../config/apps.js';
import type { RoomDump, UserDump } from '../store/types.js';
import { FIELDS, FORMAT, FORMAT_VERSION, type Counts, type TransferRecord } from './transfer-format.js';

/** What an import writes into one app: its users, then its rooms. */
export interface AppPlan {
  app: AppRecord;
  users: UserDump[];
  rooms: RoomDump[];
}

/** A file that cannot be imported as it is; `problems` names each, with its line. */
export class TransferError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`);
  }
}

const MAX_PROBLEMS = 20;
const INT = (v: unknown, min = 0) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const STR = (v: unknown) => typeof v === 'string';

export interface ReadOptions {
  /** The configured apps; a file's app goes to the one with its App ID. */
  apps: readonly AppRecord[];
  /** --app: the file's only app goes into this app, whatever its App ID. */
  into?: AppRecord;
}

/**
 * Reads and checks a whole export before anything is written: the format and its version, every
 * record's shape, each username, room id, key and value by the target app's rules, duplicates,
 * members that are no user, and the end record's counts (a cut file is refused).
 */
export async function readTransfer(lines: AsyncIterable<string>, options: ReadOptions): Promise<{ plans: AppPlan[]; counts: Counts }> {
  const problems: string[] = [];
  const plans: AppPlan[] = [];
  const counts: Counts = { users: 0, rooms: 0, members: 0, attributes: 0 };
  let n = 0;
  let header = false;
  let ended = false;
  let plan: AppPlan | undefined;
  let room: RoomDump | undefined;
  let names = new Set<string>();
  let uuids = new Set<string>();
  let roomIds = new Set<string>();
  let keys = new Set<string>();
  let members = new Set<string>();
  const fail = (text: string) => {
    problems.push(`line ${n}: ${text}`);
    if (problems.length >= MAX_PROBLEMS) throw new TransferError([...problems, '(stopped after 20 problems)']);
  };
  const username = (v: unknown, field: string): string | null => {
    try {
      if (checkUsername(v) === v) return v as string;
    } catch {
      /* named below */
    }
    fail(`${field} ${JSON.stringify(v)} is not a username (1 to 64 of a-z 0-9 _ - .)`);
    return null;
  };

  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    if (ended) {
      fail('a record after the end record');
      continue;
    }
    let rec: TransferRecord;
    try {
      rec = JSON.parse(text) as TransferRecord;
    } catch (err) {
      fail(`not JSON: ${(err as Error).message}`);
      continue;
    }
    const fields = rec && typeof rec === 'object' ? FIELDS[rec.type as TransferRecord['type']] : undefined;
    if (!fields) {
      fail(`unknown record type ${JSON.stringify((rec as { type?: unknown })?.type)}`);
      continue;
    }
    const extra = Object.keys(rec).filter((k) => !fields.includes(k));
    const missing = fields.filter((f) => !(f in rec));
    if (extra.length > 0 || missing.length > 0) {
      fail(`${rec.type} record: ${[...missing.map((f) => `missing ${f}`), ...extra.map((f) => `unknown field ${f}`)].join(', ')}`);
      continue;
    }
    if (!header) {
      if (rec.type !== 'header' || rec.format !== FORMAT)
        throw new TransferError([`line ${n}: not a roomkv export (its first line is not a ${FORMAT} header)`]);
      if (!INT(rec.version, 1)) throw new TransferError([`line ${n}: the header's version is not a number`]);
      if (rec.version > FORMAT_VERSION) {
        throw new TransferError([
          `line ${n}: written by roomkv ${String(rec.roomkv)} in format version ${rec.version}; this roomkv reads versions up to ${FORMAT_VERSION}: import with that roomkv or a newer one`,
        ]);
      }
      header = true;
      continue;
    }
    if (rec.type !== 'room' && rec.type !== 'member' && rec.type !== 'attribute') room = undefined;
    switch (rec.type) {
      case 'header':
        fail('a second header');
        break;
      case 'app': {
        const app = options.into ?? options.apps.find((a) => a.appId === rec.appId);
        if (options.into && plans.length > 0)
          fail(`--app takes a file of one app; this one holds ${plans[0]!.app.appKey} and ${String(rec.app)} (export with --app)`);
        else if (!app)
          fail(
            `app ${String(rec.app)} (App ID ${String(rec.appId)}) is not configured here: declare it in the apps file, or name the app to import into with --app`,
          );
        else if (plans.some((p) => p.app === app)) fail(`app ${app.appKey} appears twice`);
        else {
          plan = { app, users: [], rooms: [] };
          plans.push(plan);
          names = new Set();
          uuids = new Set();
          roomIds = new Set();
        }
        break;
      }
      case 'user': {
        if (!plan) {
          fail('a user before any app record');
          break;
        }
        const name = username(rec.username, 'username');
        if (!STR(rec.uuid) || rec.uuid === '' || !STR(rec.passwordHash) || rec.passwordHash === '')
          fail(`user ${String(rec.username)}: uuid and passwordHash must be non-empty strings`);
        else if (!INT(rec.created) || !INT(rec.modified)) fail(`user ${String(rec.username)}: created and modified must be Unix ms`);
        else if (name !== null && (names.has(name) || uuids.has(rec.uuid))) fail(`user ${name}: twice in the file (username or uuid)`);
        else if (name !== null) {
          names.add(name);
          uuids.add(rec.uuid);
          plan.users.push({ username: name, uuid: rec.uuid, passwordHash: rec.passwordHash, created: rec.created, modified: rec.modified });
          counts.users++;
        }
        break;
      }
      case 'room': {
        if (!plan) {
          fail('a room before any app record');
          break;
        }
        const ok = STR(rec.id) && isRoomId(rec.id) && /^[1-9]/.test(rec.id) && Number(rec.id) <= Number.MAX_SAFE_INTEGER;
        if (!ok) fail(`room id ${JSON.stringify(rec.id)}: roomkv keeps numeric ids from 1 to ${Number.MAX_SAFE_INTEGER}`);
        else if (roomIds.has(rec.id)) fail(`room ${rec.id}: twice in the file`);
        else if (!STR(rec.name) || !STR(rec.description)) fail(`room ${rec.id}: name and description must be strings`);
        else if (!INT(rec.maxusers, 1) || !INT(rec.created)) fail(`room ${rec.id}: maxusers must be 1 or more, created Unix ms`);
        else if (username(rec.owner, `room ${rec.id}: owner`) !== null) {
          roomIds.add(rec.id);
          room = {
            id: rec.id,
            name: rec.name,
            description: rec.description,
            owner: rec.owner,
            maxusers: rec.maxusers,
            created: rec.created,
            members: [],
            attributes: [],
          };
          keys = new Set();
          members = new Set();
          plan.rooms.push(room);
          counts.rooms++;
        }
        break;
      }
      case 'member': {
        if (!room || rec.room !== room.id) {
          fail(`a member of room ${String(rec.room)} that does not follow its room record`);
          break;
        }
        const name = username(rec.username, 'member');
        if (!INT(rec.joined)) fail(`room ${room.id}: member ${String(rec.username)}: joined must be Unix ms`);
        else if (name !== null && members.has(name)) fail(`room ${room.id}: member ${name} twice`);
        else if (name !== null) {
          members.add(name);
          room.members.push({ username: name, joined: rec.joined });
          counts.members++;
        }
        break;
      }
      case 'attribute': {
        if (!room || rec.room !== room.id) {
          fail(`an attribute of room ${String(rec.room)} that does not follow its room record`);
          break;
        }
        const limits = plan!.app.limits;
        const refusal = STR(rec.key) ? pairProblem(rec.key, rec.value, limits) : null;
        const problem = !STR(rec.key) ? 'the key is not a string' : refusal === null ? null : refusalText(rec.key, refusal);
        const owner = username(rec.owner, `room ${room.id}: key ${String(rec.key)}: owner`);
        if (problem !== null) fail(`room ${room.id}: ${problem}`);
        else if (rec.autoDelete !== 'DELETE' && rec.autoDelete !== 'NO_DELETE')
          fail(`room ${room.id}: key ${rec.key}: autoDelete must be DELETE or NO_DELETE`);
        else if ((rec.revision !== null && !INT(rec.revision)) || (rec.expiresAt !== null && !INT(rec.expiresAt)))
          fail(`room ${room.id}: key ${rec.key}: revision and expiresAt must be null or whole numbers`);
        else if (keys.has(rec.key)) fail(`room ${room.id}: key ${rec.key} twice`);
        else if (room.attributes.length >= limits.maxAttributesPerRoom)
          fail(`room ${room.id}: more than ${limits.maxAttributesPerRoom} attributes, the app's maxAttributesPerRoom`);
        else if (owner !== null) {
          keys.add(rec.key);
          room.attributes.push({
            key: rec.key,
            value: rec.value as string,
            owner,
            autoDelete: rec.autoDelete,
            revision: rec.revision,
            expiresAt: rec.expiresAt,
          });
          counts.attributes++;
        }
        break;
      }
      case 'end': {
        const given = { users: rec.users, rooms: rec.rooms, members: rec.members, attributes: rec.attributes };
        if (JSON.stringify(given) !== JSON.stringify(counts))
          fail(`the end record counts ${JSON.stringify(given)}, the file holds ${JSON.stringify(counts)}`);
        ended = true;
        break;
      }
    }
  }
  if (!header) problems.push('the file is empty: not a roomkv export');
  else if (!ended) problems.push(`line ${n}: the file ends without its end record: it was cut short (an export that did not finish?)`);
  if (problems.length > 0) throw new TransferError(problems);
  return { plans, counts };
}
