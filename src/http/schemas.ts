import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_GET_KEYS } from '../domain/limits.js';
import { MAX_TTL_S } from '../domain/requests.js';

/**
 * Request bodies as the routes validate them. Shapes only: limits that vary per app (batch size)
 * and case-insensitive values (autoDelete) are checked in domain/requests.ts. Values of metaData
 * are `unknown` on purpose: a non-string value is a per-key error, not a 400.
 */
/** Spec section 10: optional conditions on a set or delete (a client that sends none sees no change). */
const Conditions = {
  ifRevision: Type.Optional(
    Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), {
      description: 'roomkv: key -> the revision the key must have (0: it must not exist); keys of this call only',
    }),
  ),
  atomic: Type.Optional(Type.Boolean({ description: 'roomkv: write every key or none' })),
};

const SafeInteger = (description: string) =>
  Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, description });

export const SetBody = Type.Object({
  metaData: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: 'key -> value, at most maxBatchSize pairs; required unless increment is given',
    }),
  ),
  increment: Type.Optional(
    Type.Record(Type.String(), SafeInteger('a safe integer to add'), {
      description:
        'roomkv: key -> delta, in place of metaData; a missing key starts at "0", the stored value becomes the decimal sum (a counter)',
    }),
  ),
  min: Type.Optional(SafeInteger('roomkv, with increment: a key whose result would be below this is not written')),
  max: Type.Optional(SafeInteger('roomkv, with increment: a key whose result would be above this is not written')),
  autoDelete: Type.Optional(Type.String({ description: 'DELETE (default) or NO_DELETE, case-insensitive' })),
  ...Conditions,
  ttl: Type.Optional(
    Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: MAX_TTL_S }), {
      description:
        'roomkv: key -> seconds until the key expires (1 to 2592000); keys of this call only. A key written without one keeps no expiry',
    }),
  ),
});
export type SetBody = Static<typeof SetBody>;

export const KeysBody = Type.Object({
  keys: Type.Array(Type.String(), { description: 'attribute keys, duplicates are dropped' }),
  ...Conditions,
});
export type KeysBody = Static<typeof KeysBody>;

export const GetBody = Type.Union(
  [
    Type.Object({
      keys: Type.Optional(Type.Union([Type.Array(Type.String(), { maxItems: MAX_GET_KEYS }), Type.Null()])),
      detail: Type.Optional(Type.Boolean({ description: 'roomkv: each key with owner, autoDelete, revision and expiresAt' })),
    }),
    Type.Null(),
    // The example /docs fills in: every attribute (a made-up key would read nothing).
  ],
  { description: 'optional: no body, {} or {"keys":null} read every attribute', examples: [{}] },
);
export type GetBody = Static<typeof GetBody>;

export const RegisterUser = Type.Object({
  username: Type.String(),
  password: Type.String({ minLength: 1, maxLength: 64 }),
  nickname: Type.Optional(Type.String()),
});
export const RegisterBody = Type.Union([RegisterUser, Type.Array(RegisterUser, { minItems: 1, maxItems: 60 })]);
export type RegisterBody = Static<typeof RegisterBody>;

export const CreateRoomBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  description: Type.String({ maxLength: 512 }),
  maxusers: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  owner: Type.String(),
  members: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
});
export type CreateRoomBody = Static<typeof CreateRoomBody>;

export const AddMembersBody = Type.Object({
  usernames: Type.Array(Type.String(), { minItems: 1, maxItems: 60 }),
});
export type AddMembersBody = Static<typeof AddMembersBody>;

export const TokenBody = Type.Object({
  grant_type: Type.String(),
  client_id: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  autoCreateUser: Type.Optional(Type.Boolean()),
  ttl: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type TokenBody = Static<typeof TokenBody>;

// Query values stay strings: bodies are validated without type coercion, and so is this.
export const MembersQuery = Type.Object({
  pagenum: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'page number, from 1' })),
  pagesize: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: 'page size, 1 to 1000 (default 1000)' })),
});
export type MembersQuery = Static<typeof MembersQuery>;

/** Agora's list paging: `limit` per page, `cursor` from the previous page's answer. */
export const ListQuery = Type.Object({
  limit: Type.Optional(
    Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: "how many per page, from 1; above the route's most, its most" }),
  ),
  cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{0,200}$', description: "the previous page's cursor" })),
});
export type ListQuery = Static<typeof ListQuery>;

export const EventsQuery = Type.Object({
  since: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,15}(-[0-9a-z]{1,16})?$', description: 'resume after this event id or seq (as Last-Event-ID)' }),
  ),
  epoch: Type.Optional(
    Type.String({
      pattern: '^[0-9a-z]{1,16}$',
      description: 'the log epoch `since` belongs to (a snapshot when it is not the current one)',
    }),
  ),
  access_token: Type.Optional(Type.String({ description: 'the token, for clients that cannot send headers (EventSource)' })),
});
export type EventsQuery = Static<typeof EventsQuery>;

// ---- responses (documentation in /openapi.json; the handlers build them)

export const ErrorEnvelope = Type.Object(
  {
    error: Type.String({ description: 'Agora error code, e.g. illegal_argument' }),
    exception: Type.String(),
    timestamp: Type.Integer({ description: 'Unix ms' }),
    duration: Type.Integer({ description: 'ms from request to response' }),
    error_description: Type.String(),
  },
  { $id: 'ErrorEnvelope', description: 'Agora error envelope' },
);

/** Agora's success envelope around `data` (or other top-level fields such as `entities`). */
export function Envelope(fields: Record<string, TSchema>) {
  return Type.Object({
    uri: Type.String(),
    timestamp: Type.Integer(),
    organization: Type.String(),
    application: Type.String({ description: 'the App ID written as a UUID' }),
    applicationName: Type.String(),
    action: Type.String(),
    duration: Type.Integer(),
    ...fields,
  });
}

export const KeyOutcomes = Type.Object({
  successKeys: Type.Array(Type.String()),
  errorKeys: Type.Record(Type.String(), Type.String(), { description: 'key -> reason' }),
  values: Type.Optional(
    Type.Record(Type.String(), Type.String(), { description: 'roomkv, an increment: the new value of each key written' }),
  ),
});
export const AttributeMap = Type.Record(Type.String(), Type.String());
/** A get with `detail` (spec section 10). */
export const AttributeDetails = Type.Record(
  Type.String(),
  Type.Object({
    value: Type.String(),
    owner: Type.String(),
    autoDelete: Type.Union([Type.Literal('DELETE'), Type.Literal('NO_DELETE')]),
    revision: Type.Integer(),
    expiresAt: Type.Union([Type.Integer(), Type.Null()]),
  }),
);
export const UserEntity = Type.Object({
  uuid: Type.String(),
  type: Type.Literal('user'),
  created: Type.Integer(),
  modified: Type.Integer(),
  username: Type.String(),
  activated: Type.Boolean(),
});
export const UsersResponse = Envelope({ entities: Type.Array(UserEntity), path: Type.String(), count: Type.Optional(Type.Integer()) });
export const TokenResponse = Type.Object({
  access_token: Type.String(),
  expires_in: Type.Optional(Type.Integer()),
  expire_timestamp: Type.Optional(Type.Integer()),
  application: Type.Optional(Type.String()),
  user: Type.Optional(UserEntity),
});
