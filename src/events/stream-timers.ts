/**
 * The timers of live streams, shared: a heartbeat and a token expiry per stream cost an entry in a
 * set and in a heap here, not two Node timers each (a Timeout and the closure it calls weigh a few
 * hundred bytes; 50,000 idle streams would hold 100,000 of them).
 */

/** Something beaten every period: a stream's heartbeat. */
export interface Beating {
  beat(): void;
}

/** Something ended at a time: a stream whose token expires. */
export interface Expiring {
  expire(): void;
}

/** Wheel ticks are about this far apart: a period's beats are spread over its ticks, not sent at once. */
const TICK_MS = 50;
const MAX_SLOTS = 256;

/**
 * Calls every member's `beat` once a period, the members spread over the period's ticks by when
 * they joined (as their own intervals were): the first beat comes between one tick and one period
 * after `add`, then one period apart. One Node timer, and only while there are members.
 */
export class HeartbeatWheel {
  private readonly slots: Array<Set<Beating>>;
  /** The slot the next tick beats. */
  private cursor = 0;
  private members = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly periodMs: number) {
    const n = Math.max(1, Math.min(MAX_SLOTS, Math.round(periodMs / TICK_MS)));
    this.slots = Array.from({ length: n }, () => new Set<Beating>());
  }

  /** Adds `m`; returns its slot, for `remove`. */
  add(m: Beating): number {
    const n = this.slots.length;
    // The slot beaten last: its next turn is a whole period away.
    const slot = (this.cursor + n - 1) % n;
    this.slots[slot]!.add(m);
    this.members++;
    this.timer ??= setInterval(() => this.tick(), this.periodMs / n).unref();
    return slot;
  }

  remove(m: Beating, slot: number): void {
    if (!this.slots[slot]!.delete(m)) return;
    this.members--;
    if (this.members === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const slot = this.slots[this.cursor]!;
    this.cursor = (this.cursor + 1) % this.slots.length;
    for (const m of [...slot]) {
      try {
        m.beat();
      } catch {
        // one stream's failure is its own (it ends itself); the others beat on
      }
    }
  }
}

/** A deadline set: what `Deadlines.cancel` takes. */
export interface Deadline {
  readonly when: number;
  target: Expiring | null;
}

// setTimeout holds at most 2^31-1 ms (about 24.8 days); a longer wait is taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `expire` on each target at its time (ms since the epoch, read from `now`), however far
 * away: a min-heap of deadlines and one Node timer for the nearest. A cancelled deadline is
 * dropped when it comes up, or when cancelled ones are half the heap.
 */
export class Deadlines {
  private heap: Deadline[] = [];
  private cancelled = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  at(when: number, target: Expiring): Deadline {
    const d: Deadline = { when, target };
    this.push(d);
    if (when < this.armedFor) this.arm();
    return d;
  }

  cancel(d: Deadline): void {
    if (d.target === null) return;
    d.target = null;
    this.cancelled++;
    if (this.cancelled > 64 && this.cancelled * 2 > this.heap.length) this.compact();
  }

  get size(): number {
    return this.heap.length - this.cancelled;
  }

  private arm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
    const first = this.heap[0];
    if (first === undefined) return;
    this.armedFor = first.when;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.min(first.when - this.now(), MAX_TIMER_MS)));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = this.now();
    const due: Expiring[] = [];
    for (let first = this.heap[0]; first !== undefined && (first.target === null || first.when <= now); first = this.heap[0]) {
      this.pop();
      if (first.target === null) this.cancelled--;
      else {
        due.push(first.target);
        first.target = null;
      }
    }
    this.arm();
    for (const t of due) {
      try {
        t.expire();
      } catch {
        // one stream's failure is its own; the others expire on time
      }
    }
  }

  private compact(): void {
    this.heap = this.heap.filter((d) => d.target !== null);
    this.cancelled = 0;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
    this.arm();
  }

  private push(d: Deadline): void {
    const h = this.heap;
    h.push(d);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.when <= d.when) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = d;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    this.down(0);
  }

  private down(start: number): void {
    const h = this.heap;
    const d = h[start]!;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && h[child + 1]!.when < h[child]!.when) child++;
      if (h[child]!.when >= d.when) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = d;
  }
}
