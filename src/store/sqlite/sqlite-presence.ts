import type { Database as Db } from 'better-sqlite3';
import { presenceMessage, presenceTemplate, type EventRouting, type PresenceStatus, type StoredEvent } from '../../domain/events.js';
import { Errors } from '../../domain/errors.js';
import { planOfflineLeave, type OfflineRead } from '../../domain/presence.js';
import type { PresenceAnswer, PresenceApp } from '../types.js';

/** What the SQLite store lends its presence part: its group commit, its feed and its removal. */
export interface SqlitePresenceDeps {
  /** Runs `fn` in the next group commit (savepoint); `room` names the room whose cached reads it changes. */
  write<T>(fn: () => T, room?: { appId: string; roomId: string }): Promise<T>;
  /** Queues a feed message of the running savepoint, published once its batch has committed. */
  publish(appId: string, roomId: string, message: StoredEvent): void;
  owner(appId: string, roomId: string): string | undefined;
  isMember(appId: string, roomId: string, user: string): boolean;
  /** The store's removal of one member, inside the running savepoint: its DELETE keys, event and membership message. */
  leave(appId: string, roomId: string, user: string, routing: EventRouting, reason: 'member_offline'): void;
  now(): number;
}

interface PresenceRow {
  connections: number;
  offline_since: number | null;
}

function statements(db: Db) {
  return {
    row: db.prepare('SELECT connections, offline_since FROM presence WHERE app = ? AND room = ? AND username = ?'),
    put: db.prepare(`INSERT INTO presence (app, room, username, connections, offline_since) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (app, room, username) DO UPDATE SET connections = excluded.connections, offline_since = excluded.offline_since`),
    drop: db.prepare('DELETE FROM presence WHERE app = ? AND room = ? AND username = ?'),
    dropRoom: db.prepare('DELETE FROM presence WHERE app = ? AND room = ?'),
    online: db.prepare('SELECT username FROM presence WHERE app = ? AND room = ? AND connections > 0 ORDER BY username').pluck(true),
    due: db.prepare(`SELECT room, username FROM presence
      WHERE app = ? AND offline_since IS NOT NULL AND offline_since <= ? AND connections = 0 ORDER BY offline_since LIMIT ?`),
    recover: db.prepare('UPDATE presence SET connections = 0, offline_since = ? WHERE connections > 0'),
  };
}

/** Offline leaves applied per pass of the due timer, at most. */
const DUE_BATCH = 100;

/**
 * Presence on SQLite (store/types.ts PresenceStore): one process holds every live connection, so
 * a row per room and user holds its connection count and, once it has none, since when it has
 * been offline. The offline leave is planned inside the write savepoint (domain/presence.ts), so
 * a reconnect and a leave are ordered by the one writer.
 */
export class SqlitePresence {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    db: Db,
    private readonly d: SqlitePresenceDeps,
  ) {
    this.q = statements(db);
  }

  recordConnections(app: PresenceApp, roomId: string, counts: ReadonlyArray<readonly [string, number]>): Promise<PresenceAnswer[]> {
    const { appId } = app;
    return this.d.write(() => {
      const t = presenceTemplate(roomId, this.d.now());
      const say = (user: string, status: PresenceStatus) => this.d.publish(appId, roomId, presenceMessage(t, user, status));
      return counts.map(([user, n]): PresenceAnswer => {
        const row = this.q.row.get(appId, roomId, user) as PresenceRow | undefined;
        const old = row?.connections ?? 0;
        const member = this.d.isMember(appId, roomId, user);
        if (n > old && !member) return 'not_member';
        if (n === old) return 'same';
        if (n > 0) {
          this.q.put.run(appId, roomId, user, n, null);
          if (old > 0) return 'same';
          say(user, 'online');
          return 'online';
        }
        if (member) this.q.put.run(appId, roomId, user, 0, this.d.now());
        else this.q.drop.run(appId, roomId, user);
        say(user, 'offline');
        return 'offline';
      });
    });
  }

  async onlineMembers(appId: string, roomId: string, member?: string): Promise<string[]> {
    if (this.d.owner(appId, roomId) === undefined) throw Errors.roomNotFound(roomId);
    if (member !== undefined && !this.d.isMember(appId, roomId, member)) throw Errors.notInRoom();
    return this.q.online.all(appId, roomId) as string[];
  }

  /** Finds the due rows outside any transaction (most passes find none), then plans and applies per room inside one. */
  async leaveOffline(app: PresenceApp): Promise<number> {
    const due = this.q.due.all(app.appId, this.d.now() - app.graceMs, DUE_BATCH) as Array<{ room: string; username: string }>;
    const byRoom = new Map<string, string[]>();
    for (const { room, username } of due) byRoom.set(room, [...(byRoom.get(room) ?? []), username]);
    let left = 0;
    for (const [roomId, users] of byRoom) left += await this.d.write(() => this.leaveIn(app, roomId, users), { appId: app.appId, roomId });
    return left;
  }

  /** Inside the savepoint: the users' rows and memberships as they are now, planned and applied. */
  private leaveIn(app: PresenceApp, roomId: string, users: readonly string[]): number {
    const { appId } = app;
    const owner = this.d.owner(appId, roomId);
    if (owner === undefined) {
      this.q.dropRoom.run(appId, roomId);
      return 0;
    }
    const rows = new Map<string, PresenceRow | undefined>();
    const reads = new Map<string, OfflineRead>();
    for (const user of users) {
      const row = this.q.row.get(appId, roomId, user) as PresenceRow | undefined;
      rows.set(user, row);
      const offline = row !== undefined && row.connections === 0 ? row.offline_since : null;
      reads.set(user, { member: this.d.isMember(appId, roomId, user), offlineSince: offline });
    }
    const plan = planOfflineLeave({ owner }, reads, app.graceMs, this.d.now());
    for (const user of plan.leaving) this.d.leave(appId, roomId, user, app.routing, 'member_offline');
    // Offline and settled (the owner, or no member): nothing will be due for it any more.
    for (const user of plan.settled) if (rows.get(user)?.connections === 0) this.q.drop.run(appId, roomId, user);
    return plan.leaving.length;
  }

  /**
   * A member leaves (inside the removal's savepoint): its presence goes with it. Answers whether it
   * was online, so that the removal can say it is offline now.
   */
  forget(appId: string, roomId: string, user: string): boolean {
    const row = this.q.row.get(appId, roomId, user) as PresenceRow | undefined;
    if (row === undefined) return false;
    this.q.drop.run(appId, roomId, user);
    return row.connections > 0;
  }

  forgetRoom(appId: string, roomId: string): void {
    this.q.dropRoom.run(appId, roomId);
  }

  /** At start: the connections the previous run held are gone; their members are offline as of now. */
  recover(): Promise<void> {
    return this.d.write(() => {
      this.q.recover.run(this.d.now());
    });
  }
}
