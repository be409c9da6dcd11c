import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AutoDelete } from '../../src/domain/attributes.js';
import { keyOutcomesBody, type KeyOutcomesBody as KeyOutcomes } from '../../src/http/key-reasons.js';
import { ApiError } from '../../src/domain/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import type { AttrRecord, Store } from '../../src/store/types.js';
import { NO_WEBHOOKS } from '../support/routing.js';
import { at } from '../support/at.js';

/**
 * What the pieces of the store conformance suite (conformance-*.ts, registered in order by
 * runStoreSuite in conformance.ts) share: the refusal texts, the checks, and the state of one
 * registration of the suite with the helpers that write through it.
 */

export const NOT_IN_ROOM = 'user is not in chatroom';
export const ROOM_FULL_100 = 'size of metadata for this single chatroom exceeds the user defined limit 100';
export const QUOTA = 'total size of chatroom metadata for this app exceeds the user defined limit';

export const randomApp = (): string => randomBytes(16).toString('hex');

export async function rejectsApi(p: Promise<unknown>, status: number, error: string, description: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.deepEqual([e.status, e.error, e.description], [status, error, description]);
    return true;
  });
}

/** Outcomes as plain objects: a store may build errorKeys with a null prototype. */
function plain(o: Parameters<typeof keyOutcomesBody>[0]): KeyOutcomes {
  const body = keyOutcomesBody(o);
  return { successKeys: [...body.successKeys], errorKeys: { ...body.errorKeys } };
}

export function byKey(records: AttrRecord[]): Record<string, Omit<AttrRecord, 'key'>> {
  const out: Record<string, Omit<AttrRecord, 'key'>> = {};
  for (const r of records) out[r.key] = { value: r.value, owner: r.owner, autoDelete: r.autoDelete };
  return out;
}

/**
 * One registration of the suite: the store under test (made by the entry's before hook, so read it
 * inside a test, never while registering) and every app the write tests made, which the integrity
 * check at the end goes over. The helpers are arrow functions: a piece may take them apart.
 */
export class Conformance {
  store!: Store;
  /** Every app the write tests made: the integrity check runs over each after them. */
  readonly written: string[] = [];

  readonly newApp = (): string => {
    const app = randomApp();
    this.written.push(app);
    return app;
  };

  readonly users = async (app: string, ...names: string[]): Promise<void> => {
    await this.store.createUsers(
      app,
      names.map((username) => ({ username, passwordHash: `hash-${username}` })),
    );
  };

  /** An app with users and one room owned by the first name, every other name a member. */
  readonly world = async (names: string[], maxusers = 10_000): Promise<{ app: string; room: string }> => {
    const app = this.newApp();
    await this.users(app, ...names);
    const owner = at(names, 0);
    const members = names.slice(1);
    const room = await this.store.createRoom(app, { name: 'r', description: 'd', owner, maxusers, members });
    return { app, room: room.id };
  };

  readonly set = (
    app: string,
    room: string,
    user: string,
    pairs: Record<string, unknown>,
    opts: { forced?: boolean; autoDelete?: AutoDelete; limits?: Limits } = {},
  ): Promise<KeyOutcomes> => {
    return this.store
      .setAttributes({
        appId: app,
        roomId: room,
        user,
        forced: opts.forced ?? false,
        autoDelete: opts.autoDelete ?? 'DELETE',
        pairs: Object.entries(pairs),
        limits: opts.limits ?? DEFAULT_LIMITS,
        routing: NO_WEBHOOKS,
      })
      .then(plain);
  };

  readonly del = (
    app: string,
    room: string,
    user: string,
    keys: string[],
    opts: { forced?: boolean; checkMembership?: boolean } = {},
  ): Promise<KeyOutcomes> => {
    return this.store
      .deleteAttributes({
        appId: app,
        roomId: room,
        user,
        forced: opts.forced ?? false,
        checkMembership: opts.checkMembership ?? true,
        keys,
        routing: NO_WEBHOOKS,
      })
      .then(plain);
  };

  readonly all = async (app: string, room: string) => ({ ...(await this.store.getAttributes(app, room, undefined)) });
}
