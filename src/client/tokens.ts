import { RoomkvError } from './errors.js';
import type { TokenResult } from './types.js';

export interface TokenOptions {
  token?: string;
  getToken?: () => Promise<TokenResult> | TokenResult;
  /** Ask `getToken` this long before a token's `expiresAt`. */
  refreshBeforeMs: number;
  now: () => number;
}

interface Held {
  token: string;
  expiresAt?: number;
  obtainedAt: number;
}

// setTimeout holds at most 2^31-1 ms (about 24.8 days); a longer wait is taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The shortest wait before asking again, so a getToken that answers near-expired tokens cannot spin. */
const MIN_REFRESH_MS = 1000;

/**
 * The client's token: a fixed one, or one `getToken` answers and is asked for again before it
 * expires (when it said when: `{token, expiresAt}`) and whenever the server refused it.
 */
export class TokenKeeper {
  private held: Held | null = null;
  private asking: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly o: TokenOptions,
    /** Called when a held token is due for refresh: the connection asks for a new one and moves to it. */
    private readonly onRefreshDue: () => void,
  ) {
    if (o.token === undefined && o.getToken === undefined) throw new TypeError('roomkv client: give `token` or `getToken`');
    if (o.token !== undefined) this.held = { token: o.token, obtainedAt: o.now() };
  }

  /** Whether a refused or expiring token can be replaced. */
  get renewable(): boolean {
    return this.o.getToken !== undefined;
  }

  get expiresAt(): number | undefined {
    return this.held?.expiresAt;
  }

  /** The token to connect with: the one held while it is valid, else a new one. */
  current(): Promise<string> {
    const h = this.held;
    if (h !== null && (h.expiresAt === undefined || this.o.now() < h.expiresAt)) return Promise.resolve(h.token);
    return this.renew();
  }

  /** Asks `getToken` (once, however many ask at the same time); a fixed token is answered as it is. */
  renew(): Promise<string> {
    const get = this.o.getToken;
    if (get === undefined) {
      return this.held === null ? Promise.reject(new RoomkvError(0, 'token', 'no token')) : Promise.resolve(this.held.token);
    }
    if (this.asking !== null) return this.asking;
    const asking = (async () => {
      try {
        const got = await get();
        const held = typeof got === 'string' ? { token: got } : got;
        if (typeof held?.token !== 'string' || held.token === '') throw new TypeError('getToken answered no token');
        if (this.closed) return held.token;
        this.held = { token: held.token, expiresAt: held.expiresAt, obtainedAt: this.o.now() };
        this.schedule();
        return held.token;
      } catch (err) {
        throw err instanceof RoomkvError ? err : new RoomkvError(0, 'token', `getToken failed: ${String(err)}`, { cause: err });
      } finally {
        this.asking = null;
      }
    })();
    this.asking = asking;
    return asking;
  }

  /** The server said when the held token expires: a token `getToken` gave without `expiresAt` is renewed before then too. */
  learnExpiry(expiresAt: number): void {
    const h = this.held;
    if (h === null || h.expiresAt !== undefined || !Number.isFinite(expiresAt)) return;
    h.expiresAt = expiresAt;
    if (this.renewable) this.schedule();
  }

  /** The server refused `token` (or the held one): the next `current()` asks for another, unless one came meanwhile. */
  invalidate(token?: string): void {
    if (this.o.getToken === undefined || this.held === null) return;
    if (token === undefined || this.held.token === token) this.held = null;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const h = this.held;
    if (h?.expiresAt === undefined || this.closed) return;
    const lead = Math.min(this.o.refreshBeforeMs, (h.expiresAt - h.obtainedAt) / 2);
    const due = h.expiresAt - lead;
    const arm = () => {
      const wait = Math.max(due - this.o.now(), 0);
      this.timer = setTimeout(
        () => {
          this.timer = null;
          if (this.held !== h || this.closed) return;
          if (this.o.now() < due) arm();
          else this.onRefreshDue();
        },
        Math.min(Math.max(wait, MIN_REFRESH_MS), MAX_TIMER_MS),
      );
    };
    arm();
  }
}
