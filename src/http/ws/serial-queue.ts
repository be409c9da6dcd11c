/** What the queue asks of the source of its work: stop sending for a while, go on. */
export interface Flow {
  pause(): void;
  resume(): void;
}

/** Told when a task threw (the queue goes on with the next). */
export interface QueueOwner {
  taskFailed(err: unknown): void;
}

export interface QueueBounds {
  /** Tasks waiting, at most, before the source is paused. */
  maxTasks: number;
  /** Bytes of waiting work, at most, before the source is paused. */
  maxBytes: number;
}

/**
 * Runs a socket's tasks one at a time, in the order they came. When too much waits (tasks or
 * bytes), the source is paused (a WebSocket stops reading: TCP holds the rest back at the client)
 * until half of it is done, so a client that sends faster than its ops finish costs a bounded
 * amount of memory.
 */
export class SerialQueue {
  private readonly tasks: Array<{ run: () => Promise<void>; bytes: number }> = [];
  private bytes = 0;
  private running = false;
  private paused = false;

  constructor(
    private readonly bounds: QueueBounds,
    private readonly flow: Flow,
    private readonly owner: QueueOwner,
  ) {}

  push(run: () => Promise<void>, bytes: number): void {
    this.tasks.push({ run, bytes });
    this.bytes += bytes;
    if (!this.paused && (this.tasks.length >= this.bounds.maxTasks || this.bytes >= this.bounds.maxBytes)) {
      this.paused = true;
      this.flow.pause();
    }
    void this.drain();
  }

  /** Drops what waits (the socket closed). */
  clear(): void {
    this.tasks.length = 0;
    this.bytes = 0;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (let next = this.tasks.shift(); next !== undefined; next = this.tasks.shift()) {
      this.bytes -= next.bytes;
      try {
        await next.run();
      } catch (err) {
        this.owner.taskFailed(err);
      }
      if (this.paused && this.tasks.length < this.bounds.maxTasks / 2 && this.bytes < this.bounds.maxBytes / 2) {
        this.paused = false;
        this.flow.resume();
      }
    }
    this.running = false;
  }
}
