// Eight writers, each in its own room, writing pairs of keys as fast as answers come, for the
// crash and outage rounds. Progress is observable so a round can act at a moment chosen by events
// (the Nth acknowledged call, the Nth 503), never by sleeping.
import type { AutoDelete } from '../../src/domain/attributes.js';
import { userToken, type TestApp } from '../support/apps.js';
import { call } from '../support/client.js';
import { Dice, prefixOf } from './harness.js';
import type { Ledger, PairRecord } from './ledger.js';

export const WRITERS = Array.from({ length: 8 }, (_, i) => `writer${i}`);
/** Live pairs per room stay under this, so the 100-keys limit never decides an outcome. */
const MAX_LIVE_PAIRS = 45;
const PADDING = 'x'.repeat(120);

export interface LoadOptions {
  app: TestApp;
  url: () => string;
  ledger: Ledger;
  /** writer -> its room for this round. */
  rooms: Map<string, string>;
  tag: string;
  dice: Dice;
  /** On a 503, send the same call again until it is answered 200 (the outage rounds); else a 503 is a failure. */
  retryUnavailable: boolean;
  /** Stop a writer after this many calls (crash rounds: the kill must come first). */
  maxCallsPerWriter?: number;
}

/** Counters of a running load, and waits on them that resolve on the event that satisfies them. */
export class Progress {
  acked = 0;
  unavailable = 0;
  readonly ackedBy = new Map<string, number>();
  readonly statuses = new Map<number, number>();
  readonly unexpected: string[] = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  bump(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `test` holds after some answer; rejects after `ms` with `what`. */
  when(what: string, test: () => boolean, ms = 60_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.test !== test);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.summary()})`));
      }, ms);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  summary(): string {
    return `acked ${this.acked}, 503s ${this.unavailable}, statuses ${JSON.stringify(Object.fromEntries(this.statuses))}, unexpected ${this.unexpected.length}`;
  }
}

export interface RunningLoad {
  progress: Progress;
  /** Asks every writer to finish its current call and stop; resolves when all have. */
  stop(): Promise<void>;
  /** Resolves when every writer has returned (stopped, capped, or cut off by a dead server). */
  done: Promise<void>;
}

export function startLoad(o: LoadOptions): RunningLoad {
  const progress = new Progress();
  let running = true;
  const writer = async (w: string) => {
    const room = o.rooms.get(w)!;
    const token = userToken(o.app, w);
    const live: PairRecord[] = [];
    for (let i = 0; running && (o.maxCallsPerWriter === undefined || i < o.maxCallsPerWriter); i++) {
      let pair: PairRecord;
      let req: { method: string; path: string; body: unknown };
      const base = `${prefixOf(o.app)}/metadata/chatroom/${room}/user/${w}`;
      if (live.length >= MAX_LIVE_PAIRS || (live.length >= 2 && o.dice.chance(0.15))) {
        pair = live.splice(o.dice.int(0, live.length - 1), 1)[0]!;
        pair.del = 'unknown';
        req = { method: 'DELETE', path: o.dice.chance(0.3) ? `${base}/forced` : base, body: { keys: pair.keys } };
      } else {
        const autoDelete: AutoDelete = o.dice.autoDelete();
        pair = o.ledger.add({
          room,
          writer: w,
          keys: [`${o.tag}_${i}a`, `${o.tag}_${i}b`],
          value: `${o.tag}.${w}.${i}.${PADDING}`,
          autoDelete,
          set: 'unknown',
          del: 'none',
        });
        req = {
          method: 'PUT',
          path: o.dice.chance(0.25) ? `${base}/forced` : base,
          body: { metaData: { [pair.keys[0]]: pair.value, [pair.keys[1]]: pair.value }, autoDelete },
        };
      }
      const isSet = req.method === 'PUT';
      for (;;) {
        let res;
        try {
          res = await call(o.url(), req.method, req.path, { token, body: req.body });
        } catch {
          return; // the server is gone: this call may or may not have been applied
        }
        progress.statuses.set(res.status, (progress.statuses.get(res.status) ?? 0) + 1);
        if (res.status === 503 && o.retryUnavailable) {
          if (res.body?.error !== 'service_unavailable') progress.unexpected.push(`503 with ${res.text}`);
          progress.unavailable += 1;
          progress.bump();
          // Pacing only (a client backing off), so the 503 loop does not starve the CPU.
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const data = res.body?.data;
        const keys = pair.keys;
        // A set answers both keys stored. A delete answers both removed; after a retried 503 it may
        // answer "does not exist" when the first attempt did remove them.
        const gone = (k: string) => data?.errorKeys?.[k] === `key '${k}' does not exist`;
        const expected =
          res.status === 200 &&
          Array.isArray(data?.successKeys) &&
          (isSet
            ? JSON.stringify(data.successKeys) === JSON.stringify(keys) && Object.keys(data.errorKeys).length === 0
            : keys.every((k) => data.successKeys.includes(k) || (o.retryUnavailable && gone(k))));
        if (!expected) {
          progress.unexpected.push(
            `${w}: ${req.method} ${req.path} ${JSON.stringify(req.body).slice(0, 120)} -> ${res.status} ${res.text}`,
          );
          return;
        }
        break;
      }
      if (isSet) {
        pair.set = 'acked';
        live.push(pair);
      } else pair.del = 'acked';
      progress.acked += 1;
      progress.ackedBy.set(w, (progress.ackedBy.get(w) ?? 0) + 1);
      progress.bump();
    }
  };
  const done = Promise.all([...o.rooms.keys()].map(writer)).then(() => undefined);
  return {
    progress,
    done,
    stop: async () => {
      running = false;
      await done;
    },
  };
}
