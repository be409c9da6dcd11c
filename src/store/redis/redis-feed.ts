import { Command, Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { StoredEvent } from '../../domain/events.js';
import type { EventListener } from '../types.js';
import type { RedisClient } from './redis-store.js';

/** Tries of one channel's SSUBSCRIBE before the caller (an event stream starting) is told it failed. */
const SUBSCRIBE_ATTEMPTS = 5;
/** A channel that could not be placed after a topology change is tried again after this. */
const RETRY_MS = 1000;
/** A subscriber connection that keeps closing asks for the cluster's slot table at most this often. */
const REFRESH_EVERY_MS = 1000;

/**
 * How a subscriber connection differs from the store's client: it waits for a connection rather
 * than failing at once, sends nothing before it is ready (no ready check: INFO is refused in
 * subscriber mode), and resubscribes under the feed's control, so that a gap is reported only
 * once the channels are live again.
 */
const SUBSCRIBER: RedisOptions = { lazyConnect: false, enableOfflineQueue: true, enableReadyCheck: false, autoResubscribe: false };

interface Channel {
  listeners: Set<EventListener>;
  /** Settles when the channel is first live, or could not be made live. */
  ready: Promise<void>;
  /** The connection the channel is (being) subscribed on: messages that come on another are dropped. */
  shard: Shard | null;
  /** SSUBSCRIBE answered on `shard`. */
  live: boolean;
  /** The channel's cluster slot, as ioredis routes a command by it. */
  slot: number;
  /** Placements of one channel run one at a time. */
  work: Promise<void>;
}

/**
 * The live feed across instances, on sharded pub/sub: the write scripts SPUBLISH each event on
 * its room's channel, which carries the room's hash tag, in the script that commits it; so on a
 * cluster a message goes only to the master that owns the room's slot (and its replicas), and
 * pub/sub capacity grows with the shards. Each instance SSUBSCRIBEs to the rooms it has
 * listeners for, on one connection per master that owns one of them (on a single Redis, one
 * connection). Pub/sub drops messages while a connection is down or a slot moves: the feed
 * subscribes again (on the slot's new owner) and then reports a gap, and listeners catch up from
 * the room's log. Messages are passed on as they come (`seq|body`), whatever their kind.
 */
export class RedisFeed {
  private readonly channels = new Map<string, Channel>();
  private readonly shards = new Map<string, Shard>();
  private readonly gapListeners: Array<() => void> = [];
  private readonly cluster: Cluster | null;
  private readonly onRefresh = () => this.rehome();
  private lastRefreshAsk = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly client: RedisClient) {
    this.cluster = 'nodes' in client && typeof client.nodes === 'function' ? (client as Cluster) : null;
    // Any refresh of the slot table (a MOVED met by a write, or one the feed asked for) may have moved a channel.
    this.cluster?.on('refresh', this.onRefresh);
  }

  async subscribe(channel: string, listener: EventListener): Promise<() => void> {
    if (this.closed) throw new Error('the live feed is closed');
    let entry = this.channels.get(channel);
    if (!entry) {
      const slot = new Command('ssubscribe', [channel]).getSlot();
      entry = { listeners: new Set(), ready: Promise.resolve(), shard: null, live: false, slot, work: Promise.resolve() };
      this.channels.set(channel, entry);
      entry.ready = this.place(channel, entry, false);
    }
    const placed = entry;
    placed.listeners.add(listener);
    const unsubscribe = () => {
      placed.listeners.delete(listener);
      if (placed.listeners.size > 0 || this.channels.get(channel) !== placed) return;
      this.channels.delete(channel);
      placed.shard?.remove(channel);
      placed.shard = null;
    };
    try {
      await placed.ready;
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  onGap(listener: () => void): void {
    this.gapListeners.push(listener);
  }

  close(): void {
    this.closed = true;
    this.cluster?.off('refresh', this.onRefresh);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const shard of this.shards.values()) shard.close();
    this.shards.clear();
  }

  /** A message from `shard`: passed to the channel's listeners when the channel is placed there. */
  private deliver(shard: Shard, channel: string, message: string): void {
    const entry = this.channels.get(channel);
    if (entry?.shard !== shard) return;
    const bar = message.indexOf('|');
    // One object for every listener: they parse it once between them (events/event-fields.ts).
    const event: StoredEvent = { seq: Number(message.slice(0, bar)), body: message.slice(bar + 1) };
    for (const l of [...entry.listeners]) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** `shard` reconnected, or its state is unsure: every channel on it is subscribed again, then a gap is reported. */
  private async resubscribe(shard: Shard): Promise<void> {
    if (shard.key !== 'redis') await this.refreshSlots().catch(() => {});
    const moves = [...this.channels].filter(([, e]) => e.shard === shard).map(([ch, e]) => this.place(ch, e, true));
    await this.afterMoves(moves);
  }

  /** The connection of a cluster node keeps closing: the node may be gone, and its slots with it. */
  private askRefresh(): void {
    const now = Date.now();
    if (this.cluster === null || this.closed || now - this.lastRefreshAsk < REFRESH_EVERY_MS) return;
    this.lastRefreshAsk = now;
    this.refreshSlots().catch(() => {});
  }

  /** After a refresh of the slot table: channels whose slot has a new owner move to it. */
  private rehome(): void {
    if (this.closed || this.cluster === null) return;
    const moves = [...this.channels]
      .filter(([, e]) => e.shard !== null && e.shard.key !== this.cluster!.slots[e.slot]?.[0])
      .map(([ch, e]) => this.place(ch, e, false));
    for (const [key, shard] of this.shards) {
      if (shard.channels.size === 0 && !this.isMaster(key)) this.dropShard(key, shard);
    }
    void this.afterMoves(moves);
  }

  /** Once the moved channels are live, listeners catch up; a channel that failed is tried again. */
  private async afterMoves(moves: Array<Promise<void>>): Promise<void> {
    if (moves.length === 0 || this.closed) return;
    const outcomes = await Promise.allSettled(moves);
    if (this.closed) return;
    for (const l of this.gapListeners) l();
    if (outcomes.some((o) => o.status === 'rejected') && this.retryTimer === null) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        const stuck = [...this.channels].filter(([, e]) => !e.live).map(([ch, e]) => this.place(ch, e, true));
        void this.afterMoves(stuck);
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private place(channel: string, entry: Channel, force: boolean): Promise<void> {
    const run = entry.work.then(() => this.placeNow(channel, entry, force));
    entry.work = run.catch(() => {});
    return run;
  }

  /**
   * Subscribes the channel on the connection of its slot's owner (unless it is live there and
   * `force` is not set), leaving its previous connection. A failure (a MOVED, a connection lost)
   * refreshes the slot table and tries again, a few times.
   */
  private async placeNow(channel: string, entry: Channel, force: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed || this.channels.get(channel) !== entry) return;
      try {
        const owner = await this.ownerOf(entry.slot);
        if (this.closed || this.channels.get(channel) !== entry) return;
        const shard = this.shardAt(owner);
        if (!force && entry.live && entry.shard === shard) return;
        if (entry.shard !== shard) entry.shard?.remove(channel);
        entry.shard = shard;
        entry.live = false;
        await shard.add(channel);
        entry.live = true;
        return;
      } catch (err) {
        if (attempt >= SUBSCRIBE_ATTEMPTS || this.closed) throw err;
        force = true;
        await new Promise((r) => setTimeout(r, 50 * attempt));
        await this.refreshSlots().catch(() => {});
      }
    }
  }

  /** The key of the connection a slot's channels go on: the master that owns it, or the one Redis. */
  private async ownerOf(slot: number): Promise<string> {
    if (this.cluster === null) return 'redis';
    let owner = this.cluster.slots[slot]?.[0];
    if (owner === undefined) {
      await this.refreshSlots();
      owner = this.cluster.slots[slot]?.[0];
    }
    if (owner === undefined) throw new Error(`no node of the Redis Cluster serves slot ${slot}`);
    return owner;
  }

  private isMaster(key: string): boolean {
    return this.cluster === null || this.cluster.slots.some((nodes) => nodes[0] === key);
  }

  private shardAt(key: string): Shard {
    let shard = this.shards.get(key);
    if (!shard) {
      shard = new Shard(key, this.connect(key), {
        deliver: (from, channel, message) => this.deliver(from, channel, message),
        resubscribe: (from) => void this.resubscribe(from),
        closed: () => this.askRefresh(),
      });
      this.shards.set(key, shard);
    }
    return shard;
  }

  /** A subscriber connection with the store client's settings: to the one Redis, or to the node `host:port`. */
  private connect(key: string): Redis {
    if (this.cluster === null) return (this.client as Redis).duplicate(SUBSCRIBER);
    const colon = key.lastIndexOf(':');
    return new Redis({
      ...this.cluster.options.redisOptions,
      ...SUBSCRIBER,
      host: key.slice(0, colon),
      port: Number(key.slice(colon + 1)),
    });
  }

  private dropShard(key: string, shard: Shard): void {
    this.shards.delete(key);
    shard.close();
  }

  private refreshSlots(): Promise<void> {
    const cluster = this.cluster;
    if (cluster === null) return Promise.resolve();
    return new Promise((resolve, reject) => cluster.refreshSlotsCache((err) => (err ? reject(err) : resolve())));
  }
}

/**
 * One subscriber connection (to the single Redis, or to one master of a cluster) and the channels
 * meant to be on it. ioredis reports a SSUBSCRIBE answered MOVED only as a `moved` event (the
 * command never settles), and a SUNSUBSCRIBE that Redis sends by itself when it gives a slot away
 * only as a "Command queue state error": either makes the channels in flight fail, and the feed
 * subscribe all of this connection's channels again where they now belong.
 */
class Shard {
  readonly channels = new Set<string>();
  private wasReady = false;
  private closing = false;
  private trouble = troubleSignal();

  constructor(
    readonly key: string,
    private readonly conn: Redis,
    private readonly feed: ShardHooks,
  ) {
    conn.on('smessage', (channel: string, message: string) => feed.deliver(this, channel, message));
    conn.on('ready', () => {
      // Redis forgot the channels of a connection that was lost, and what was published meanwhile.
      if (this.wasReady) feed.resubscribe(this);
      this.wasReady = true;
    });
    conn.on('moved', () => this.troubled('a channel of this connection is served by another node'));
    conn.on('error', (err: Error) => {
      // Other errors are the connection's: ioredis reconnects by itself, and `ready` resubscribes.
      if (err.message.startsWith('Command queue state error')) this.troubled(err.message);
    });
    conn.on('close', () => {
      if (!this.closing) feed.closed();
    });
  }

  /** SSUBSCRIBE, answered; fails when the connection meets a moved slot meanwhile. */
  async add(channel: string): Promise<void> {
    this.channels.add(channel);
    await Promise.race([this.conn.ssubscribe(channel), this.trouble.promise]);
  }

  remove(channel: string): void {
    if (!this.channels.delete(channel) || this.closing) return;
    // Nothing depends on it: a channel left subscribed sends messages that deliver() drops.
    this.conn.sunsubscribe(channel).catch(() => {});
  }

  close(): void {
    this.closing = true;
    this.trouble.fail(new Error('the subscriber connection was closed'));
    this.conn.disconnect();
  }

  private troubled(why: string): void {
    if (this.closing) return;
    this.trouble.fail(new Error(`Redis live feed: ${why}`));
    this.trouble = troubleSignal();
    this.feed.resubscribe(this);
  }
}

/** What a subscriber connection tells the feed. */
interface ShardHooks {
  deliver(shard: Shard, channel: string, message: string): void;
  /** Subscribe the shard's channels again (after a reconnect, a moved slot), then report a gap. */
  resubscribe(shard: Shard): void;
  /** The connection closed (it reconnects by itself). */
  closed(): void;
}

/** A promise that only ever fails, when `fail` is called; raced against the commands in flight. */
function troubleSignal(): { promise: Promise<never>; fail(err: Error): void } {
  let fail!: (err: Error) => void;
  const promise = new Promise<never>((_, reject) => {
    fail = reject;
  });
  promise.catch(() => {});
  return { promise, fail };
}
