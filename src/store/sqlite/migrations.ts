import type { Database } from 'better-sqlite3';

/**
 * Versioned schema. Each entry moves the schema from version i to i+1; the version lives in
 * `PRAGMA user_version` and every step runs in its own transaction, so a crash mid-upgrade
 * leaves the previous version intact. Append only: never edit a released step.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE users (
    app TEXT NOT NULL, username TEXT NOT NULL, uuid TEXT NOT NULL, password_hash TEXT NOT NULL,
    created INTEGER NOT NULL, modified INTEGER NOT NULL,
    PRIMARY KEY (app, username)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX users_by_uuid ON users (app, uuid);

  CREATE TABLE rooms (
    app TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
    owner TEXT NOT NULL, maxusers INTEGER NOT NULL, created INTEGER NOT NULL,
    PRIMARY KEY (app, id)
  ) WITHOUT ROWID;

  CREATE TABLE members (
    app TEXT NOT NULL, room TEXT NOT NULL, username TEXT NOT NULL, joined INTEGER NOT NULL,
    PRIMARY KEY (app, room, username)
  ) WITHOUT ROWID;
  CREATE INDEX members_by_user ON members (app, username);

  CREATE TABLE attrs (
    app TEXT NOT NULL, room TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    owner TEXT NOT NULL, auto_delete INTEGER NOT NULL, bytes INTEGER NOT NULL, updated INTEGER NOT NULL,
    PRIMARY KEY (app, room, key)
  ) WITHOUT ROWID;
  -- removing a member touches only that member's keys
  CREATE INDEX attrs_by_owner ON attrs (app, room, owner);

  CREATE TABLE app_usage (app TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // 2: change events, their per-room log, and the webhook outbox
  `
  ALTER TABLE rooms ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE events (
    app TEXT NOT NULL, room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (app, room, seq)
  ) WITHOUT ROWID;
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, app TEXT NOT NULL, endpoint TEXT NOT NULL, room TEXT NOT NULL,
    seq INTEGER NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL DEFAULT 0, first_attempt_at INTEGER
  );
  -- the head of each (endpoint, room) queue is its lowest id
  CREATE INDEX outbox_queue ON outbox (app, endpoint, room, id);
  CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY, app TEXT NOT NULL, endpoint TEXT NOT NULL, room TEXT NOT NULL,
    seq INTEGER NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER,
    error TEXT, duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL
  );
  CREATE INDEX webhook_attempts_by_app ON webhook_attempts (app, id);
  `,
  // 3: no change of tables. A room's events are numbered from its newest logged event, and
  // rooms.seq is no longer written (it stays as the floor of a file made before). A release that
  // still counts in rooms.seq would reuse seqs on this file: the version moves so that it refuses it.
  `SELECT 1`,
  // 4: each key's revision, the seq of the event that last wrote it (0 for keys written before)
  `ALTER TABLE attrs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;`,
  // 5: presence (spec section 9): per room and user, the live connections this process holds, and
  // since when the user has had none (the offline leave's clock; null while online or settled)
  `
  CREATE TABLE presence (
    app TEXT NOT NULL, room TEXT NOT NULL, username TEXT NOT NULL,
    connections INTEGER NOT NULL, offline_since INTEGER,
    PRIMARY KEY (app, room, username)
  ) WITHOUT ROWID;
  CREATE INDEX presence_offline ON presence (app, offline_since) WHERE offline_since IS NOT NULL;
  `,
  // 6: the room list walks an app's rooms in id order (by length, then digits) from any id (room-list.ts)
  `CREATE INDEX rooms_in_id_order ON rooms (app, length(id), id);`,
  // 7: each key's expiry (spec section 10's ttl), ms since the epoch, null for none; the sweep finds
  // what is due through the index, so a restart loses none
  `
  ALTER TABLE attrs ADD COLUMN expires_at INTEGER;
  CREATE INDEX attrs_expiry ON attrs (expires_at) WHERE expires_at IS NOT NULL;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the database schema is version ${current}, newer than this roomkv knows (${MIGRATIONS.length})`);
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
