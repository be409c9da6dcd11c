import type { EventRouting } from '../domain/events.js';
import type { ExpiryStore } from '../store/types.js';

/** How often each app's due keys are looked for (ms): a key goes within this, plus the sweep's own time, of its expiry. */
export const SWEEP_MS = 250;

export interface ExpiryApp {
  appId: string;
  routing: EventRouting;
}

export interface SweepLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Removes the keys whose `ttl` has run out (spec section 10), every SWEEP_MS, app by app, on every
 * instance: the store makes each removal happen once, with its `expired` event (ExpiryStore), so
 * instances sweeping side by side are harmless. A store that keeps its index (SQLite's file, the
 * Redis index) lets a start pick up what was due while no instance ran.
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly store: ExpiryStore,
    private readonly apps: readonly ExpiryApp[],
    private readonly log: SweepLog,
    private readonly everyMs = SWEEP_MS,
  ) {}

  start(): void {
    if (this.stopped || this.timer !== null || this.apps.length === 0) return;
    this.schedule(0);
  }

  /** Stops the timer and waits for a sweep under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.sweep().finally(() => {
        this.running = null;
        this.schedule(this.everyMs);
      });
    }, ms);
    this.timer.unref();
  }

  /** One pass over every app; a failure is logged when it starts and when it ends, and the next pass tries again. */
  private async sweep(): Promise<void> {
    try {
      for (const app of this.apps) {
        if (this.stopped) return;
        await this.store.expireDue(app.appId, app.routing);
      }
      if (this.failing) this.log.info({}, 'expiry: sweeping works again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ err }, 'expiry: a sweep failed; trying again');
      this.failing = true;
    }
  }
}
