// What the race rounds share: the members, a round's context (instances, app, seeded dice), the
// room's starting state written serially, calls fired at once, and the serial-order assertion.
import assert from 'node:assert/strict';
import type { TestApp } from '../support/apps.js';
import { adminOk, observe, type Dice, type Instances } from './harness.js';
import { describeRound, explain, plainAttrs, type Attr, type AttrRequest, type ObservedCall, type RoomState } from './model.js';

export const POOL = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);
export const notYours = (k: string): string => `key '${k}' is not part of you`;

export interface Tally {
  rounds: number;
  calls: number;
}

/** One store's race rounds: `inst()` is there once the suite's `before` has run. */
export interface RaceContext {
  app: TestApp;
  dice: Dice;
  seed: number;
  rounds: number;
  tally: Tally;
  inst(): Instances;
  anyUrl(): string;
}

/** Writes `entries` serially through the app token (each key new, so plain sets); the room's starting state. */
export async function prefill(url: string, app: TestApp, room: string, entries: Array<[string, Attr]>): Promise<void> {
  const groups = new Map<string, Array<[string, string]>>();
  for (const [key, a] of entries) {
    const g = `${a.owner}|${a.autoDelete}`;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push([key, a.value]);
  }
  for (const [g, pairs] of groups) {
    const [owner, autoDelete] = g.split('|');
    for (let i = 0; i < pairs.length; i += 10) {
      const batch = pairs.slice(i, i + 10);
      const data = await adminOk(url, app, 'PUT', `/metadata/chatroom/${room}/user/${owner}`, {
        metaData: Object.fromEntries(batch),
        autoDelete,
      });
      assert.deepEqual(
        data.successKeys,
        batch.map(([k]) => k),
        `prefill: ${JSON.stringify(data)}`,
      );
    }
  }
}

/** The room as read after `prefill`, checked to hold exactly what was written. */
export function assertPrefilled(state: RoomState, entries: Array<[string, Attr]>): void {
  assert.deepEqual(plainAttrs(state), new Map(entries));
}

/** Fires every call at once, each through a random instance; returns what each answered. */
export function fire(
  inst: Instances,
  app: TestApp,
  room: string,
  dice: Dice,
  calls: Array<{ req: AttrRequest; token: string }>,
): Promise<ObservedCall[]> {
  const routes = calls.map(() => dice.pick(inst.urls));
  return Promise.all(calls.map((c, i) => observe(routes[i]!, app, room, c.req, c.token)));
}

export function assertExplained(initial: RoomState, observed: ObservedCall[], final: RoomState, what: string): void {
  const result = explain(initial, observed, final);
  assert.ok(result.ok, `${what}: ${result.ok ? '' : result.reason}\n${describeRound(initial, observed, final)}`);
}
