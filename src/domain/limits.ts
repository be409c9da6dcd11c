import { Type, type Static } from '@sinclair/typebox';

/** Per-app limits (spec section 4). The schema is the single source of the type and the defaults. */
export const LimitsSchema = Type.Object(
  {
    maxBatchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
    maxKeyLength: Type.Integer({ minimum: 1, maximum: 65535, default: 128 }),
    maxValueLength: Type.Integer({ minimum: 0, maximum: 16_777_216, default: 4086 }),
    maxAttributesPerRoom: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
    maxAppBytes: Type.Integer({ minimum: 0, default: 10 * 1024 * 1024 * 1024 }),
    rateLimitPerSecond: Type.Integer({ minimum: 1, default: 100 }),
  },
  { additionalProperties: false },
);

export type Limits = Static<typeof LimitsSchema>;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxBatchSize: 10,
  maxKeyLength: 128,
  maxValueLength: 4086,
  maxAttributesPerRoom: 100,
  maxAppBytes: 10 * 1024 * 1024 * 1024,
  rateLimitPerSecond: 100,
});

/** Keys of `get` calls are capped by the API itself, not by a per-app setting. */
export const MAX_GET_KEYS = 100;
