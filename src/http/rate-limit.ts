import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AppRecord } from '../config/apps.js';
import { ApiError, Errors } from '../domain/errors.js';
import { LUA } from '../store/redis/lua-registry.js';
import type { RedisClient } from '../store/redis/redis-store.js';
import { scriptRunner } from '../store/redis/script-command.js';

/** Spends one point of an app's budget: resolves when the call may go on, rejects when it may not. */
export interface AppLimiter {
  consume(): Promise<void>;
}

/** Makes the limiter of one app from its budget (points per second). */
export type LimiterFactory = (appId: string, points: number) => AppLimiter;

/** One instance's own budget, in memory (rate-limiter-flexible). */
export const memoryLimiter: LimiterFactory = (appId, points) => {
  const limiter: RateLimiterAbstract = new RateLimiterMemory({ points, duration: 1, keyPrefix: 'roomkv-rl' });
  return {
    consume: async () => {
      try {
        await limiter.consume(appId);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw Errors.rateLimited();
        throw err;
      }
    },
  };
};

const WINDOW_MS = 1000;

/** Points an instance takes from the shared window at once: 1% of the budget, at least 1. */
export function leaseSize(points: number): number {
  return Math.max(1, Math.floor(points / 100));
}

/**
 * The budget shared by every instance on one Redis (or Redis Cluster): one counter per app and
 * one-second window. An instance does not spend a round trip per call: it takes a lease of points
 * from the window (`leaseSize(points)`, or as many as calls are waiting, through a script that
 * never grants more than the window has left: store/redis/lua/rate-lease.lua) and spends it
 * locally until the window ends. So the app never gets more than `points` calls in a window,
 * across all instances; what an instance holds unspent when the window ends (under 1% of the
 * budget each) is lost to the others. At the
 * default budget (100) a lease is one point, and each call is counted in Redis as before. A window
 * found spent is remembered until it ends, so a flood of refused calls does not reach Redis.
 *
 * rate-limiter-flexible's Redis limiter (used before) has no partial grant: consuming N points
 * counts all N even when fewer are left, which would spend the rest of the window for everyone.
 */
export const redisLimiter = (client: RedisClient, prefix: string): LimiterFactory => {
  const lease = scriptRunner(client, LUA.RATE_LEASE) as (
    key: string,
    want: number,
    points: number,
    windowMs: number,
  ) => Promise<[number, number]>;
  return (appId, points) => new LeasedLimiter(`${prefix}rl:${appId}`, points, (key, want) => lease(key, want, points, WINDOW_MS));
};

export class LeasedLimiter implements AppLimiter {
  private remaining = 0;
  /** The local end of the window the lease came from (the send time plus the ms Redis gave: never late). */
  private until = 0;
  /** The window was spent: refuse locally until it ends. */
  private refusedUntil = 0;
  private renewing: Promise<void> | null = null;
  /** Calls waiting for the lease under way: the next one asks for at least as many points. */
  private waiting = 0;
  private readonly size: number;

  constructor(
    private readonly key: string,
    private readonly points: number,
    private readonly lease: (key: string, want: number) => Promise<[number, number]>,
    private readonly clock: () => number = Date.now,
  ) {
    this.size = leaseSize(points);
  }

  async consume(): Promise<void> {
    for (;;) {
      const now = this.clock();
      if (this.remaining > 0 && now < this.until) {
        this.remaining--;
        return;
      }
      if (now < this.refusedUntil) throw Errors.rateLimited();
      // One lease request at a time per app: the calls that wait share what it brings.
      this.waiting++;
      this.renewing ??= this.renew().finally(() => {
        this.renewing = null;
      });
      try {
        await this.renewing;
      } finally {
        this.waiting--;
      }
    }
  }

  private async renew(): Promise<void> {
    const sent = this.clock();
    const [grant, ttl] = await this.lease(this.key, Math.min(this.points, Math.max(this.size, this.waiting)));
    if (grant > 0) {
      this.remaining = grant;
      this.until = sent + ttl;
    } else {
      this.remaining = 0;
      this.refusedUntil = sent + ttl;
    }
  }
}

/**
 * The per-app budget of the five attribute calls (spec section 4): fixed one-second windows of
 * `rateLimitPerSecond` points.
 */
export class RateLimiter {
  private readonly limiters = new Map<string, AppLimiter>();

  constructor(private readonly factory: LimiterFactory = memoryLimiter) {}

  async consume(app: AppRecord): Promise<void> {
    let limiter = this.limiters.get(app.appId);
    if (!limiter) {
      limiter = this.factory(app.appId, app.limits.rateLimitPerSecond);
      this.limiters.set(app.appId, limiter);
    }
    try {
      await limiter.consume();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      // The shared counters live in the store: when it is gone, so is the service.
      throw Errors.storeUnavailable(err instanceof Error ? err.message : 'rate limit store unavailable');
    }
  }
}
