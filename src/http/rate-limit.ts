import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AppRecord } from '../config/apps.js';
import { Errors } from '../domain/errors.js';
import type { RedisClient } from '../store/redis/redis-store.js';

/** Makes the limiter for one app: in memory for one instance, a shared store for many. */
export type LimiterFactory = (points: number) => RateLimiterAbstract;

export const memoryLimiter: LimiterFactory = (points) => new RateLimiterMemory({ points, duration: 1, keyPrefix: 'roomkv-rl' });

/** Counters in Redis: every instance on the same Redis spends the same per-app budget. */
export const redisLimiter = (client: RedisClient, prefix: string): LimiterFactory => (points) =>
  new RateLimiterRedis({ storeClient: client, points, duration: 1, keyPrefix: `${prefix}rl`, rejectIfRedisNotReady: true });

/**
 * The per-app budget of the five attribute calls (spec section 4): fixed one-second windows of
 * `rateLimitPerSecond` points, via rate-limiter-flexible.
 */
export class RateLimiter {
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(private readonly factory: LimiterFactory = memoryLimiter) {}

  async consume(app: AppRecord): Promise<void> {
    let limiter = this.limiters.get(app.appId);
    if (!limiter) {
      limiter = this.factory(app.limits.rateLimitPerSecond);
      this.limiters.set(app.appId, limiter);
    }
    try {
      await limiter.consume(app.appId);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw Errors.rateLimited();
      // The shared counters live in the store: when it is gone, so is the service.
      throw Errors.storeUnavailable(err instanceof Error ? err.message : 'rate limit store unavailable');
    }
  }
}
