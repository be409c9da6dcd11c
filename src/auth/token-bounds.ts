/**
 * How much work one Authorization header may cost. A 007 token with several services is a few
 * hundred characters and inflates to a few hundred bytes; an issued token is under 400 characters.
 * Anything longer is refused as corrupt before it is decoded, so a header can never be a
 * decompression bomb or a large JSON document.
 */
export const MAX_TOKEN_CHARS = 2048;

/** A 007 token's content (signature + signing info) never needs more than this once inflated. */
export const MAX_INFLATED_BYTES = 4096;
