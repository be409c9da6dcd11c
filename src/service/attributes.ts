import type { KeyOutcomes } from '../domain/attributes.js';
import { callConditions, callTtl, callWrites, deleteKeys, getKeys, parseAutoDelete, setPairs } from '../domain/requests.js';
import type { AttrRecord, AttributeStore } from '../store/types.js';
import { memberOf, requireActsAs, requireAppToken, type ServiceContext } from './context.js';
import { checkRoomId } from './room-id.js';

/** Counts each key's outcome by call (the server's metrics). */
export interface KeyCounter {
  countKeys(call: 'set' | 'forced_set' | 'delete' | 'forced_delete', outcome: KeyOutcomes): void;
}

export interface SetInput {
  roomId: string;
  /** Whom the keys are set as: a user token's own user; with an app token anyone. */
  username: string;
  /** Overwrite keys other members set. */
  forced: boolean;
  /** key -> value; a value that is not a string is a per-key error, not a refused call. One of metaData and increment. */
  metaData?: Record<string, unknown>;
  /** key -> a safe integer to add to the stored decimal value (a counter; spec section 10). */
  increment?: Record<string, number>;
  /** With increment: inclusive bounds of the result. */
  min?: number;
  max?: number;
  /** DELETE (default) or NO_DELETE, case-insensitive. */
  autoDelete?: string;
  /** key -> the revision it must have, 0: must not exist (spec section 10). */
  ifRevision?: Record<string, number>;
  /** Write every key or none. */
  atomic?: boolean;
  /** key -> seconds until it expires, 1 to 2,592,000 (spec section 10). */
  ttl?: Record<string, number>;
}

export interface DeleteInput {
  roomId: string;
  /** Whom the keys are deleted as; `admin` with an app token is the server SDK's forced delete. */
  username: string;
  forced: boolean;
  /** Duplicates are dropped. */
  keys: readonly string[];
  ifRevision?: Record<string, number>;
  atomic?: boolean;
}

export interface GetInput {
  roomId: string;
  /** None, null or [] read every attribute. */
  keys?: readonly string[] | null;
  /** Each key with its owner, autoDelete, revision and expiry (spec section 10). */
  detail?: boolean;
}

/** The five attribute calls (spec section 5), and the operators' full records. */
export function attributeService(store: AttributeStore, counter: KeyCounter) {
  return {
    async set(ctx: ServiceContext, input: SetInput): Promise<KeyOutcomes> {
      requireActsAs(ctx, input.username);
      const { app } = ctx;
      const autoDelete = parseAutoDelete(input.autoDelete);
      const writes = callWrites(input);
      const pairs = setPairs(writes.values, app.limits, writes.increment ? 'increment' : 'metaData');
      const callKeys = pairs.map(([k]) => k);
      const conditions = callConditions(input, callKeys);
      const ttl = callTtl(input.ttl, callKeys);
      const outcome = await store.setAttributes({
        ...(conditions ? { conditions } : {}),
        ...(ttl ? { ttl } : {}),
        ...(writes.increment ? { increment: writes.increment } : {}),
        appId: app.appId,
        roomId: checkRoomId(input.roomId),
        user: input.username.toLowerCase(),
        forced: input.forced,
        autoDelete,
        pairs,
        limits: app.limits,
        routing: app.routing,
      });
      counter.countKeys(input.forced ? 'forced_set' : 'set', outcome);
      return outcome;
    },

    async delete(ctx: ServiceContext, input: DeleteInput): Promise<KeyOutcomes> {
      requireActsAs(ctx, input.username);
      const { app } = ctx;
      const keys = deleteKeys(input.keys, app.limits);
      const conditions = callConditions(input, keys);
      const outcome = await store.deleteAttributes({
        ...(conditions ? { conditions } : {}),
        appId: app.appId,
        roomId: checkRoomId(input.roomId),
        user: input.username.toLowerCase(),
        forced: input.forced,
        // The official server SDK force-deletes as the pseudo-user `admin` with an app token.
        checkMembership: !input.forced || ctx.principal.kind === 'user',
        keys,
        routing: app.routing,
      });
      counter.countKeys(input.forced ? 'forced_delete' : 'delete', outcome);
      return outcome;
    },

    /** The map as the store's JSON text (what a get answers with), read as a member for a user token. */
    async get(ctx: ServiceContext, input: GetInput): Promise<string> {
      const keys = getKeys(input.keys);
      if (input.detail === true) {
        return JSON.stringify(await store.getAttributeDetails(ctx.app.appId, checkRoomId(input.roomId), keys, memberOf(ctx)));
      }
      return store.getAttributesJson(ctx.app.appId, checkRoomId(input.roomId), keys, memberOf(ctx));
    },

    /** Every attribute with its owner and autoDelete flag, for operators (app tokens). */
    async records(ctx: ServiceContext, roomId: string): Promise<AttrRecord[]> {
      requireAppToken(ctx.principal);
      return store.listAttributes(ctx.app.appId, checkRoomId(roomId));
    },
  };
}

export type AttributeService = ReturnType<typeof attributeService>;
