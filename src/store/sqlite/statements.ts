import type { Database as Db, Statement } from 'better-sqlite3';

/** A prepared statement under a name of this module, so the store's type declarations can name it. */
// An interface, not an alias: the declaration build must name it from this module.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Stmt extends Statement {}

/** Every statement of the SQLite store, prepared once. */
export function prepare(db: Db) {
  const s = (sql: string): Stmt => db.prepare(sql);
  return {
    ping: s('SELECT 1'),
    userByName: s('SELECT uuid, username, created, modified FROM users WHERE app = ? AND username = ?'),
    userByUuid: s('SELECT uuid, username, created, modified FROM users WHERE app = ? AND uuid = ?'),
    passwordHash: s('SELECT password_hash FROM users WHERE app = ? AND username = ?'),
    insertUser: s('INSERT INTO users (app, username, uuid, password_hash, created, modified) VALUES (?, ?, ?, ?, ?, ?)'),
    deleteUser: s('DELETE FROM users WHERE app = ? AND username = ?'),
    roomsOfUser: s('SELECT room FROM members WHERE app = ? AND username = ?'),

    bumpCounter: s(`INSERT INTO counters (name, value) VALUES (?, 1)
      ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`),
    room: s('SELECT id, name, description, owner, maxusers, created FROM rooms WHERE app = ? AND id = ?'),
    insertRoom: s('INSERT INTO rooms (app, id, name, description, owner, maxusers, created) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    /** A restored room's seq floor (see roomSeq): its keys' revisions, so its next event numbers past them. */
    raiseRoomSeq: s('UPDATE rooms SET seq = max(seq, ?) WHERE app = ? AND id = ?'),
    deleteRoom: s('DELETE FROM rooms WHERE app = ? AND id = ?'),
    memberCount: s('SELECT count(*) AS n FROM members WHERE app = ? AND room = ?'),
    member: s('SELECT 1 FROM members WHERE app = ? AND room = ? AND username = ?'),
    insertMember: s('INSERT OR IGNORE INTO members (app, room, username, joined) VALUES (?, ?, ?, ?)'),
    deleteMember: s('DELETE FROM members WHERE app = ? AND room = ? AND username = ?'),
    deleteRoomMembers: s('DELETE FROM members WHERE app = ? AND room = ?'),
    members: s(`SELECT username FROM members WHERE app = ? AND room = ?
      ORDER BY username = ? DESC, joined, username LIMIT ? OFFSET ?`),

    attrCount: s('SELECT count(*) AS n FROM attrs WHERE app = ? AND room = ?'),
    attrMeta: s('SELECT owner, bytes, revision FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    /** What an increment plans from: the stored value too. */
    attrMetaValue: s('SELECT owner, bytes, revision, value FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    attrValue: s('SELECT value FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    attrDetails: s('SELECT key, value, owner, auto_delete, revision, expires_at FROM attrs WHERE app = ? AND room = ?'),
    attrDetail: s('SELECT key, value, owner, auto_delete, revision, expires_at FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    allAttrs: s('SELECT key, value FROM attrs WHERE app = ? AND room = ?'),
    allAttrsRaw: s('SELECT key, value FROM attrs WHERE app = ? AND room = ?').raw(true),
    attrValueOnly: s('SELECT value FROM attrs WHERE app = ? AND room = ? AND key = ?').pluck(true),
    /** undefined: no such room; else 1 when the user is a member, 0 when not. */
    roomAndMember: s(`SELECT EXISTS (SELECT 1 FROM members WHERE app = ? AND room = ? AND username = ?)
      FROM rooms WHERE app = ? AND id = ?`).pluck(true),
    roomExists: s('SELECT 1 FROM rooms WHERE app = ? AND id = ?').pluck(true),
    attrRecords: s('SELECT key, value, owner, auto_delete, revision, expires_at FROM attrs WHERE app = ? AND room = ? ORDER BY key'),
    upsertAttr: s(`INSERT INTO attrs (app, room, key, value, owner, auto_delete, bytes, updated, revision, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (app, room, key) DO UPDATE SET value = excluded.value, owner = excluded.owner,
        auto_delete = excluded.auto_delete, bytes = excluded.bytes, updated = excluded.updated, revision = excluded.revision,
        expires_at = excluded.expires_at`),
    /** A value rewritten by the key's owner: the owner index is left alone (no page of it written). */
    updateAttrValue: s(
      'UPDATE attrs SET value = ?, auto_delete = ?, bytes = ?, updated = ?, revision = ?, expires_at = ? WHERE app = ? AND room = ? AND key = ?',
    ),
    deleteAttr: s('DELETE FROM attrs WHERE app = ? AND room = ? AND key = ?'),
    roomBytes: s('SELECT sum(bytes) AS total FROM attrs WHERE app = ? AND room = ?'),
    deleteRoomAttrs: s('DELETE FROM attrs WHERE app = ? AND room = ?'),
    deleteAutoAttrs: s('DELETE FROM attrs WHERE app = ? AND room = ? AND owner = ? AND auto_delete = 1 RETURNING key, value, bytes'),
    /** Every key with what an event says of it before it goes (a destroyed room). */
    attrsWithOwner: s('SELECT key, value, owner FROM attrs WHERE app = ? AND room = ?'),

    // expiry (spec section 10's ttl)
    /** The earliest expiry of any key in the file; null when none has one. */
    nextDue: s('SELECT min(expires_at) FROM attrs WHERE expires_at IS NOT NULL').pluck(true),
    /** Rooms of an app holding a key due at a time; through attrs_expiry, which holds only keys with a ttl. */
    dueRooms: s('SELECT DISTINCT room FROM attrs WHERE expires_at <= ? AND app = ? LIMIT ?').pluck(true),
    /** A room's keys due at a time, by key: one room's keys at most (the primary key's prefix). */
    roomDue: s('SELECT key, value, owner, bytes FROM attrs WHERE app = ? AND room = ? AND expires_at <= ? ORDER BY key'),
    roomDueKeys: s('SELECT key FROM attrs WHERE app = ? AND room = ? AND expires_at <= ?').pluck(true),
    allAttrsExpiring: s('SELECT key, value, expires_at FROM attrs WHERE app = ? AND room = ?'),

    /**
     * A room's seq: its newest event's. The log always keeps the newest event (ROOMKV_EVENT_LOG_SIZE
     * is at least 1), so the next event needs no counter of its own to write. rooms.seq was that
     * counter before; no longer written, it is the floor a database made before then starts from.
     */
    roomSeq: s(`SELECT max(coalesce((SELECT max(seq) FROM events WHERE app = ? AND room = ?), 0),
      coalesce((SELECT seq FROM rooms WHERE app = ? AND id = ?), 0))`).pluck(true),
    insertEvent: s('INSERT INTO events (app, room, seq, ts, body) VALUES (?, ?, ?, ?, ?)'),
    pruneEvents: s('DELETE FROM events WHERE app = ? AND room = ? AND seq <= ? AND ts < ?'),
    eventsAfter: s('SELECT seq, body FROM events WHERE app = ? AND room = ? AND seq > ? ORDER BY seq LIMIT ?'),
    eventBounds: s('SELECT min(seq) AS first, max(seq) AS last FROM events WHERE app = ? AND room = ?'),
    insertOutbox: s('INSERT INTO outbox (app, endpoint, room, seq, body) VALUES (?, ?, ?, ?, ?)'),
    outboxHeads: s(`SELECT o.id, o.room, o.seq, o.body, o.attempts, o.next_at, o.first_attempt_at
      FROM (SELECT min(id) AS id FROM outbox WHERE app = ? AND endpoint = ? GROUP BY room) h
      JOIN outbox o ON o.id = h.id WHERE o.next_at <= ? ORDER BY o.next_at, o.id LIMIT ?`),
    outboxRun: s('SELECT seq, body FROM outbox WHERE app = ? AND endpoint = ? AND room = ? AND id >= ? ORDER BY id LIMIT ?'),
    outboxDelete: s('DELETE FROM outbox WHERE id = ?'),
    outboxDeleteRun: s('DELETE FROM outbox WHERE app = ? AND endpoint = ? AND room = ? AND seq BETWEEN ? AND ?'),
    outboxRetry: s('UPDATE outbox SET attempts = ?, next_at = ?, first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?'),
    outboxDepth: s('SELECT count(*) AS n FROM outbox WHERE app = ? AND endpoint = ?'),
    insertAttempt: s(`INSERT INTO webhook_attempts (app, endpoint, room, seq, attempt, at, status, error, duration_ms, outcome)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    pruneAttempts: s('DELETE FROM webhook_attempts WHERE app = ? AND id <= ?'),
    recentAttempts: s(`SELECT endpoint, room, seq, attempt, at, status, error, duration_ms, outcome
      FROM webhook_attempts WHERE app = ? ORDER BY id DESC LIMIT ?`),

    // export and import (DataTransfer)
    usersAfter: s(`SELECT username, uuid, password_hash AS passwordHash, created, modified FROM users
      WHERE app = ? AND username > ? ORDER BY username LIMIT ?`),
    membersJoined: s('SELECT username, joined FROM members WHERE app = ? AND room = ? ORDER BY joined, username'),
    raiseCounter: s(`INSERT INTO counters (name, value) VALUES (?, ?)
      ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`),

    usage: s('SELECT bytes FROM app_usage WHERE app = ?'),
    addUsage: s(`INSERT INTO app_usage (app, bytes) VALUES (?, ?)
      ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes`),
  };
}
