/**
 * A call that failed. For an answer of the server, `status`, `error` and `description` are the
 * REST call's (spec section 3: e.g. 404 `resource_not_found`). For a call that got no answer,
 * `status` is 0 and `error` says why: `timeout`, `connection_lost` (a write may or may not have
 * been applied: read the room to know), `closed` (the client was closed) or `token` (no token).
 */
export class RoomkvError extends Error {
  override readonly name = 'RoomkvError';

  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    options?: { cause?: unknown },
  ) {
    super(status === 0 ? `${error}: ${description}` : `${status} ${error}: ${description}`, options);
  }

  /** True when the call may have been applied although no answer came. */
  get outcomeUnknown(): boolean {
    return this.status === 0 && (this.error === 'connection_lost' || this.error === 'timeout');
  }
}
