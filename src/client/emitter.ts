/** What a listener that throws is reported to: the client's `error` listeners, else an uncaught error. */
export type ListenerFault = (err: unknown) => void;

type Listener = (...args: never[]) => void;

/**
 * A small typed emitter that runs in browsers, Node and mini-programs alike (no EventTarget, no
 * node:events). A listener that throws does not stop the others, nor the replica that emits: its
 * error goes to `fault`.
 */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  constructor(private readonly fault: ListenerFault) {}

  /** Adds a listener; returns the function that removes it. */
  on<E extends keyof Events>(name: E, fn: Events[E]): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** Like `on`, for one call only. */
  once<E extends keyof Events>(name: E, fn: Events[E]): () => void {
    const off = this.on(name, ((...args: Parameters<Events[E]>) => {
      off();
      (fn as (...a: Parameters<Events[E]>) => void)(...args);
    }) as Events[E]);
    return off;
  }

  off<E extends keyof Events>(name: E, fn: Events[E]): void {
    this.listeners.get(name)?.delete(fn);
  }

  listenerCount(name: keyof Events): number {
    return this.listeners.get(name)?.size ?? 0;
  }

  protected emit<E extends keyof Events>(name: E, ...args: Parameters<Events[E]>): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        (fn as (...a: Parameters<Events[E]>) => void)(...args);
      } catch (err) {
        this.fault(err);
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}

/** Reports an error nobody listens for the way a browser or Node reports an uncaught one, without breaking the caller. */
export function throwLater(err: unknown): void {
  setTimeout(() => {
    throw err;
  }, 0);
}
