import { presenceOn } from '../domain/presence.js';
import type { PresenceAnswer, PresenceApp, PresenceStore } from '../store/types.js';
import type { OpenStream, StreamObserver, UserPlace } from './live-stream.js';

/** How often the tracker renews this instance's lease, sweeps dead instances and applies due leaves (ms). */
export interface PresenceTiming {
  renewMs: number;
  sweepMs: number;
  dueMs: number;
}

/** The lease lapses after 7 s (redis-presence.ts): renewed every 2 s, a missed renewal or two is harmless. */
export const PRESENCE_TIMING: PresenceTiming = { renewMs: 2000, sweepMs: 1000, dueMs: 250 };

export interface PresenceLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** One room of an app with presence on, as this instance holds it. */
interface HeldRoom {
  app: PresenceApp;
  roomId: string;
  /** user -> live connections of this instance (SSE streams and WebSocket subscriptions alike). */
  counts: Map<string, number>;
  streams: Map<string, Set<OpenStream>>;
  /** Users whose count changed since it was last recorded. */
  dirty: Set<string>;
  /** Users whose count could not be recorded (the store failed): the next renewal tries again. */
  failed: Set<string>;
  recording: Promise<void> | null;
}

/**
 * Presence on this instance (spec section 9): counts the user-token live streams of each room of
 * the apps with presence on (told by OpenStreams as streams open and close) and records the
 * counts in the store, a room at a time, several changes in one call, as absolute numbers (so a
 * retry or a repeat is harmless). A count the store refuses (the user is no member: a removal
 * came first) makes that user's streams look at their rights again, and so end. On timers: the
 * store's lease on what this instance holds is renewed (and, if it lapsed, every count is
 * recorded again), instances that died are swept, and the offline leaves that are due applied.
 *
 * Stopping stops counting first: the streams the shutdown then ends are not recorded one by
 * one; the store releases what this instance held as a whole (PresenceStore.releasePresence).
 */
export class PresenceTracker implements StreamObserver {
  private readonly apps: ReadonlyMap<string, PresenceApp>;
  private readonly rooms = new Map<string, HeldRoom>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly failing = new Set<string>();
  private state: 'idle' | 'started' | 'stopped' = 'idle';

  constructor(
    private readonly store: PresenceStore,
    apps: readonly PresenceApp[],
    private readonly log: PresenceLog,
    private readonly timing: PresenceTiming = PRESENCE_TIMING,
  ) {
    this.apps = new Map(apps.filter((a) => presenceOn(a.graceMs)).map((a) => [a.appId, a]));
  }

  /** Whether any app has presence on: with none, the tracker does nothing at all. */
  get enabled(): boolean {
    return this.apps.size > 0;
  }

  opened(place: UserPlace, stream: OpenStream): void {
    const app = this.apps.get(place.appId);
    if (app === undefined || this.state === 'stopped') return;
    const key = `${place.appId}\u0000${place.roomId}`;
    let room = this.rooms.get(key);
    if (room === undefined) {
      room = { app, roomId: place.roomId, counts: new Map(), streams: new Map(), dirty: new Set(), failed: new Set(), recording: null };
      this.rooms.set(key, room);
    }
    room.counts.set(place.user, (room.counts.get(place.user) ?? 0) + 1);
    let streams = room.streams.get(place.user);
    if (streams === undefined) room.streams.set(place.user, (streams = new Set()));
    streams.add(stream);
    this.changed(room, place.user);
  }

  closed(place: UserPlace, stream: OpenStream): void {
    if (this.state === 'stopped') return;
    const room = this.rooms.get(`${place.appId}\u0000${place.roomId}`);
    if (room === undefined) return;
    const n = (room.counts.get(place.user) ?? 1) - 1;
    if (n > 0) room.counts.set(place.user, n);
    else room.counts.delete(place.user);
    const streams = room.streams.get(place.user);
    streams?.delete(stream);
    if (streams?.size === 0) room.streams.delete(place.user);
    this.changed(room, place.user);
  }

  /** Starts the timers (once the server is ready); the store first forgets what an earlier run left. */
  async start(): Promise<void> {
    if (this.state !== 'idle' || !this.enabled) return;
    this.state = 'started';
    await this.store.recoverPresence();
    this.every('renew', this.timing.renewMs, () => this.renew());
    for (const app of this.apps.values()) {
      this.every(`sweep ${app.appId}`, this.timing.sweepMs, () => this.store.sweepPresence(app));
      this.every(`leave ${app.appId}`, this.timing.dueMs, () => this.store.leaveOffline(app));
    }
  }

  /** Stops counting and the timers, waits for what is under way, then lets the store release what this instance held. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const recording = [...this.rooms.values()].map((r) => r.recording);
    await Promise.allSettled([...recording, ...this.running]);
    if (!this.enabled) return;
    try {
      await this.store.releasePresence([...this.apps.values()]);
    } catch (err) {
      this.log.warn({ err }, 'presence: could not release what this instance held; it is swept once its lease lapses');
    }
  }

  /** Records the room's changed counts on the next turn, so that the changes of one turn go in one call. */
  private changed(room: HeldRoom, user: string): void {
    room.dirty.add(user);
    room.recording ??= Promise.resolve().then(() => this.record(room));
  }

  private async record(room: HeldRoom): Promise<void> {
    try {
      while (room.dirty.size > 0 && this.state !== 'stopped') {
        const users = [...room.dirty];
        room.dirty.clear();
        const counts = users.map((u) => [u, room.counts.get(u) ?? 0] as const);
        let answers: PresenceAnswer[];
        try {
          answers = await this.store.recordConnections(room.app, room.roomId, counts, room.counts.size > 0);
        } catch (err) {
          for (const u of users) room.failed.add(u);
          this.log.warn({ err, chatroomId: room.roomId }, 'presence: could not record connections; trying again');
          return;
        }
        answers.forEach((answer, i) => {
          // A removal came first: the user's streams look at their rights, and end.
          if (answer === 'not_member') for (const s of room.streams.get(users[i]!) ?? []) s.resync();
        });
      }
    } finally {
      room.recording = null;
      const key = `${room.app.appId}\u0000${room.roomId}`;
      if (room.counts.size === 0 && room.dirty.size === 0 && room.failed.size === 0 && this.rooms.get(key) === room) this.rooms.delete(key);
    }
  }

  /** Renews the lease; records again what failed, and everything when the lease had lapsed. */
  private async renew(): Promise<void> {
    const lapsed = await this.store.renewPresence();
    if (lapsed) this.log.warn({}, 'presence: this instance lost its lease (stalled or cut off); recording every connection again');
    for (const room of this.rooms.values()) {
      const again = lapsed ? [...room.counts.keys(), ...room.failed] : [...room.failed];
      room.failed.clear();
      for (const u of again) this.changed(room, u);
    }
  }

  /** Runs `fn` every `ms` (never two at once); a failure is logged when it starts and when it ends. */
  private every(name: string, ms: number, fn: () => Promise<unknown>): void {
    const tick = async () => {
      if (this.state !== 'started') return;
      const run = fn().then(
        () => {
          if (this.failing.delete(name)) this.log.info({}, `presence: ${name} works again`);
        },
        (err: unknown) => {
          if (!this.failing.has(name)) this.log.warn({ err }, `presence: ${name} failed; trying again`);
          this.failing.add(name);
        },
      );
      this.running.add(run);
      await run;
      this.running.delete(run);
      schedule();
    };
    const schedule = () => {
      if (this.state !== 'started') return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        void tick();
      }, ms);
      t.unref();
      this.timers.add(t);
    };
    schedule();
  }
}
