import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ApiError, Errors } from '../domain/errors.js';
import type { RedisClient } from '../store/redis/redis-store.js';
import { ConcurrencyGate } from './concurrency-gate.js';

export interface LoginLimits {
  loginFailuresPerUser: number;
  loginFailuresPerApp: number;
  loginFailureWindowS: number;
  loginConcurrencyPerApp: number;
}

/** Makes one failure counter (rate-limiter-flexible) of `points` per `durationS`. */
export type LoginCounters = (scope: 'user' | 'app', points: number, durationS: number) => RateLimiterAbstract;

/** One instance's own counters. */
export const memoryLoginCounters: LoginCounters = (scope, points, duration) =>
  new RateLimiterMemory({ points, duration, keyPrefix: `login-fail-${scope}` });

/**
 * Counters shared by every instance on one Redis or Redis Cluster (one key per counter, so each
 * script call stays in one slot), under the deployment's prefix. Once a key is over its limit the
 * instance refuses it from memory until the window ends, so a flood past the limit costs Redis
 * nothing.
 */
export const redisLoginCounters =
  (client: RedisClient, prefix: string): LoginCounters =>
  (scope, points, duration) =>
    new RateLimiterRedis({
      storeClient: client,
      points,
      duration,
      keyPrefix: `${prefix}login-fail-${scope}`,
      inMemoryBlockOnConsumed: points + 1,
    });

/** Waiting password checks of one app beyond its concurrency. */
const QUEUE_PER_APP = 32;

/**
 * Guards password checks (scrypt), which run on libuv's few threads that every app shares:
 * failed attempts are limited per user and per app, and one app runs at most
 * `loginConcurrencyPerApp` checks at once. An attempt is counted as failed BEFORE the check and
 * given back when the password is right, so a burst of parallel guesses cannot pass the limit
 * while its checks are still running.
 */
export class LoginGuard {
  private readonly perUser: RateLimiterAbstract;
  private readonly perApp: RateLimiterAbstract;
  private readonly gates = new Map<string, ConcurrencyGate>();

  constructor(
    private readonly limits: LoginLimits,
    counters: LoginCounters = memoryLoginCounters,
  ) {
    this.perUser = counters('user', limits.loginFailuresPerUser, limits.loginFailureWindowS);
    this.perApp = counters('app', limits.loginFailuresPerApp, limits.loginFailureWindowS);
  }

  /** Runs `check` (true: the password is right) under the limits; 429 when they refuse. */
  async attempt(appId: string, username: string, check: () => Promise<boolean>): Promise<boolean> {
    const userKey = `${appId}:${username}`;
    // The app first: a refused app creates no per-user entry, so distinct usernames cannot grow them.
    await spend(this.perApp, appId, 'app');
    try {
      await spend(this.perUser, userKey, 'user');
    } catch (err) {
      await giveBack(this.perApp, appId);
      throw err;
    }
    const giveBackBoth = () => Promise.all([giveBack(this.perApp, appId), giveBack(this.perUser, userKey)]);
    let ok: boolean;
    try {
      ok = await this.gate(appId).run(check);
    } catch (err) {
      // Refused as busy (or the check failed): no password was judged wrong, so nothing is counted.
      await giveBackBoth();
      throw err;
    }
    if (ok) await giveBackBoth();
    return ok;
  }

  private gate(appId: string): ConcurrencyGate {
    let gate = this.gates.get(appId);
    if (!gate) {
      gate = new ConcurrencyGate(this.limits.loginConcurrencyPerApp, QUEUE_PER_APP, Errors.loginsBusy);
      this.gates.set(appId, gate);
    }
    return gate;
  }
}

async function spend(counter: RateLimiterAbstract, key: string, scope: 'user' | 'app'): Promise<void> {
  try {
    await counter.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw Errors.loginFailuresExceeded(scope);
    throw unavailable(err);
  }
}

async function giveBack(counter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await counter.reward(key);
  } catch (err) {
    throw unavailable(err);
  }
}

/** The shared counters live in the store: when it is gone, so is the service. */
function unavailable(err: unknown): ApiError {
  return err instanceof ApiError ? err : Errors.storeUnavailable(err instanceof Error ? err.message : 'login counters unavailable');
}
