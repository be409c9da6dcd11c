import type { StoredEvent } from '../../domain/events.js';
import type { EventListener } from '../types.js';
import type { RedisClient } from './redis-store.js';

/** Tries of one SUBSCRIBE before the caller (an event stream starting) is told it failed. */
const SUBSCRIBE_ATTEMPTS = 5;

/**
 * The live feed across instances: the write scripts PUBLISH each event on its room's channel in
 * the same script that commits it; each instance SUBSCRIBEs to the rooms it has listeners for, on
 * one connection of its own. Pub/sub drops messages while disconnected, so a reconnect is reported
 * as a gap and listeners catch up from the room's log.
 */
export class RedisFeed {
  private sub: RedisClient | null = null;
  private readonly channels = new Map<string, { listeners: Set<EventListener>; ready: Promise<unknown> }>();
  private readonly gapListeners: Array<() => void> = [];
  private readyOnce = false;
  private readyWait: Promise<void> | null = null;

  constructor(private readonly client: RedisClient) {}

  private connection(): RedisClient {
    if (this.sub) return this.sub;
    const options = { enableOfflineQueue: true, lazyConnect: false };
    const sub =
      'nodes' in this.client && typeof this.client.nodes === 'function'
        ? (this.client as import('ioredis').Cluster).duplicate(undefined, {
            redisOptions: options,
            enableOfflineQueue: true,
            lazyConnect: false,
          })
        : (this.client as import('ioredis').Redis).duplicate(options);
    sub.on('error', () => {});
    sub.on('ready', () => {
      if (this.readyOnce) for (const l of this.gapListeners) l();
      this.readyOnce = true;
    });
    sub.on('message', (channel: string, message: string) => {
      const set = this.channels.get(channel)?.listeners;
      if (!set) return;
      const bar = message.indexOf('|');
      const event: StoredEvent = { seq: Number(message.slice(0, bar)), body: message.slice(bar + 1) };
      for (const l of [...set]) {
        try {
          l(event);
        } catch {
          // a listener's failure is its own
        }
      }
    });
    this.sub = sub;
    return sub;
  }

  async subscribe(channel: string, listener: EventListener): Promise<() => void> {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), ready: this.subscribeChannel(channel) };
      this.channels.set(channel, entry);
    }
    const { listeners } = entry;
    listeners.add(listener);
    const unsubscribe = () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.channels.get(channel) === entry) {
        this.channels.delete(channel);
        this.sub?.unsubscribe(channel).catch(() => {});
      }
    };
    try {
      await entry.ready;
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /**
   * SUBSCRIBE once the connection is ready. ioredis sends a SUBSCRIBE at once while a connection
   * is still being set up, and the connection's own ready check then fails ("Connection in
   * subscriber mode"), failing the queued SUBSCRIBEs with it: so wait for ready, and try again a
   * few times when a (re)connection fails all the same (a cluster's own subscriber connection).
   */
  private async subscribeChannel(channel: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const sub = this.connection();
        await this.whenReady(sub);
        await sub.subscribe(channel);
        return;
      } catch (err) {
        if (attempt >= SUBSCRIBE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  /** Resolves when the subscriber connection is ready; one wait shared by every caller. */
  private whenReady(sub: RedisClient): Promise<void> {
    if (sub.status === 'ready') return Promise.resolve();
    this.readyWait ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        sub.off('ready', onReady);
        sub.off('end', onEnd);
        this.readyWait = null;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error('the Redis subscriber connection has ended'));
      sub.on('ready', onReady);
      sub.on('end', onEnd);
    });
    return this.readyWait;
  }

  onGap(listener: () => void): void {
    this.gapListeners.push(listener);
  }

  close(): void {
    this.sub?.disconnect();
  }
}
