/**
 * At most `limit` tasks at once; up to `queueMax` more wait their turn, in order; beyond that a
 * task is refused at once with `busy()`. Waiting is short by construction: the queue is small.
 */
export class ConcurrencyGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly queueMax: number,
    private readonly busy: () => Error,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) {
      this.running++;
    } else {
      if (this.waiting.length >= this.queueMax) throw this.busy();
      // The finishing task hands its slot over, so `running` never drops below the limit meanwhile.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
