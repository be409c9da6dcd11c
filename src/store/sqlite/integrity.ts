import type { Database as Db } from 'better-sqlite3';
import { pairBytes } from '../../domain/attributes.js';
import type { IntegrityScope } from '../types.js';
import type { prepare } from './statements.js';

type Statements = ReturnType<typeof prepare>;

interface AttrRow {
  key: string;
  value: string;
  owner: string;
  auto_delete: number;
  bytes: number;
}

/**
 * Store.integrityCheck on SQLite, in one read transaction. The autoDelete index is the owner
 * index (attrs_by_owner): a leaving member's DELETE keys are found through it, so it is read
 * against the table it indexes.
 */
export function sqliteIntegrity(db: Db, q: Statements, scope: IntegrityScope | undefined): string[] {
  return db.transaction(() => {
    const problems: string[] = [];
    if (scope === undefined) {
      const own = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
      problems.push(...own.map((r) => r.integrity_check).filter((r) => r !== 'ok'));
    }
    if (scope?.roomId !== undefined) {
      problems.push(...roomProblems(db, q, scope.appId, scope.roomId));
      return problems;
    }
    const apps =
      scope !== undefined
        ? [scope.appId]
        : (db
            .prepare(
              `SELECT app FROM rooms UNION SELECT app FROM attrs
      UNION SELECT app FROM members UNION SELECT app FROM app_usage`,
            )
            .pluck()
            .all() as string[]);
    for (const app of apps) problems.push(...appProblems(db, q, app));
    return problems;
  })();
}

function appProblems(db: Db, q: Statements, app: string): string[] {
  const problems: string[] = [];
  // The app's rooms, and the rooms its attributes or members name (those must exist too).
  const rooms = db
    .prepare('SELECT id FROM rooms WHERE app = ? UNION SELECT room FROM attrs WHERE app = ? UNION SELECT room FROM members WHERE app = ?')
    .pluck()
    .all(app, app, app) as string[];
  for (const room of rooms) problems.push(...roomProblems(db, q, app, room));
  const total = db.prepare('SELECT coalesce(sum(bytes), 0) FROM attrs WHERE app = ?').pluck().get(app) as number;
  const counted = (db.prepare('SELECT bytes FROM app_usage WHERE app = ?').pluck().get(app) as number | undefined) ?? 0;
  if (total !== counted) problems.push(`app ${app}: attributes hold ${total} bytes, usage says ${counted}`);
  return problems;
}

function roomProblems(db: Db, q: Statements, app: string, room: string): string[] {
  const where = `app ${app} room ${room}`;
  const problems: string[] = [];
  const attrs = db
    .prepare('SELECT key, value, owner, auto_delete, bytes FROM attrs WHERE app = ? AND room = ? ORDER BY key')
    .all(app, room) as AttrRow[];
  const members = db
    .prepare('SELECT username FROM members WHERE app = ? AND room = ? ORDER BY username')
    .pluck()
    .all(app, room) as string[];
  if (db.prepare('SELECT 1 FROM rooms WHERE app = ? AND id = ?').get(app, room) === undefined) {
    if (attrs.length + members.length > 0)
      problems.push(`${where}: no such room, yet it holds ${attrs.length} attributes and ${members.length} members`);
    return problems;
  }
  for (const a of attrs) {
    if (a.owner === '' || (a.auto_delete !== 0 && a.auto_delete !== 1))
      problems.push(`${where}: attribute ${a.key} has no owner record (owner '${a.owner}', autoDelete ${a.auto_delete})`);
    const size = pairBytes(a.key, a.value);
    if (a.bytes !== size) problems.push(`${where}: attribute ${a.key} is recorded as ${a.bytes} bytes, holds ${size}`);
  }
  const pairs = (sql: string) =>
    (db.prepare(sql).raw().all(app, room) as Array<[string, string]>).map(([o, k]) => `${o}\u0000${k}`).join('\n');
  const indexed = pairs('SELECT owner, key FROM attrs INDEXED BY attrs_by_owner WHERE app = ? AND room = ? ORDER BY owner, key');
  const stored = pairs('SELECT owner, key FROM attrs NOT INDEXED WHERE app = ? AND room = ? ORDER BY owner, key');
  if (indexed !== stored) problems.push(`${where}: the owner index does not list exactly the owners' keys`);
  const missing = db
    .prepare(
      `SELECT m.username FROM members m WHERE m.app = ? AND m.room = ?
    AND NOT EXISTS (SELECT 1 FROM users u WHERE u.app = m.app AND u.username = m.username)`,
    )
    .pluck()
    .all(app, room) as string[];
  for (const u of missing) problems.push(`${where}: member ${u} is not a user`);
  // The seq the store numbers the room's next event from (on SQLite it is read from the log).
  const seq = q.roomSeq.get(app, room, app, room) as number;
  const newest = db.prepare('SELECT coalesce(max(seq), 0) FROM events WHERE app = ? AND room = ?').pluck().get(app, room) as number;
  if (seq < newest) problems.push(`${where}: seq ${seq} is behind its newest logged event ${newest}`);
  return problems;
}
