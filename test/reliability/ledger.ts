// The pairs the crash and outage rounds write: every call sets (or deletes) TWO keys of one writer
// with one value token, so a call applied by half shows as one key without its twin.
import type { AutoDelete } from '../../src/domain/attributes.js';
import type { Attr } from './model.js';

export interface PairRecord {
  room: string;
  writer: string;
  keys: [string, string];
  value: string;
  autoDelete: AutoDelete;
  /** acked: a 200 listed both keys; unknown: the answer never came (the call may or may not be applied). */
  set: 'acked' | 'unknown';
  del: 'none' | 'acked' | 'unknown';
}

export interface RoomCheck {
  /** Acknowledged calls (sets and deletes) whose effect was found as acknowledged. */
  checked: number;
  lost: number;
  problems: string[];
}

export class Ledger {
  private readonly byRoom = new Map<string, PairRecord[]>();

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  open(room: string): void {
    if (!this.byRoom.has(room)) this.byRoom.set(room, []);
  }

  add(p: PairRecord): PairRecord {
    this.open(p.room);
    this.byRoom.get(p.room)!.push(p);
    return p;
  }

  acknowledged(): number {
    let n = 0;
    for (const pairs of this.byRoom.values()) {
      for (const p of pairs) n += (p.set === 'acked' ? 1 : 0) + (p.del === 'acked' ? 1 : 0);
    }
    return n;
  }

  /**
   * Compares a room's stored records with what was written: every acknowledged pair present with
   * its value, owner and flag; every acknowledged delete gone; every pair both-or-neither; nothing
   * stored that no call wrote.
   */
  check(room: string, stored: ReadonlyMap<string, Attr>): RoomCheck {
    const out: RoomCheck = { checked: 0, lost: 0, problems: [] };
    const written = new Set<string>();
    for (const p of this.byRoom.get(room) ?? []) {
      const [ka, kb] = p.keys;
      written.add(ka);
      written.add(kb);
      const a = stored.get(ka);
      const b = stored.get(kb);
      const label = `room ${room} pair ${ka}/${kb} (set ${p.set}, delete ${p.del})`;
      if ((a === undefined) !== (b === undefined))
        out.problems.push(`${label}: half-applied, ${ka} ${a ? 'present' : 'absent'}, ${kb} ${b ? 'present' : 'absent'}`);
      for (const [k, x] of [
        [ka, a],
        [kb, b],
      ] as const) {
        if (x !== undefined && (x.value !== p.value || x.owner !== p.writer || x.autoDelete !== p.autoDelete)) {
          out.problems.push(
            `${label}: ${k} holds ${JSON.stringify(x)}, written ${JSON.stringify({ value: p.value, owner: p.writer, autoDelete: p.autoDelete })}`,
          );
        }
      }
      if (p.set === 'acked' && p.del === 'none') {
        if (a === undefined || b === undefined) {
          out.lost += 1;
          out.problems.push(`${label}: acknowledged set LOST`);
        } else out.checked += 1;
      }
      if (p.del === 'acked') {
        if (a !== undefined || b !== undefined) {
          out.lost += 1;
          out.problems.push(`${label}: acknowledged delete undone`);
        } else out.checked += 2; // the set (its key was there to delete) and the delete
      }
      // A set followed by a delete that got no answer: present or absent, both-or-neither (above).
    }
    for (const k of stored.keys()) if (!written.has(k)) out.problems.push(`room ${room}: ${k} was never written`);
    return out;
  }
}
