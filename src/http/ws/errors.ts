import { ApiError, Errors } from '../../domain/errors.js';

/**
 * The refusals only the WebSocket transport makes. Everything an op shares with its REST call
 * comes from the catalogue (src/domain/errors.ts) unchanged.
 */
export const WsErrors = {
  /** A plain GET of the WebSocket route. */
  upgradeRequired: () =>
    new ApiError(
      426,
      'upgrade_required',
      'this route is a WebSocket: send Connection: Upgrade and Upgrade: websocket',
      'UpgradeRequiredException',
    ),
  /** Too many sockets of this instance are still waiting for their `auth` message. */
  tooManyPending: () =>
    new ApiError(
      503,
      'service_unavailable',
      'too many WebSocket connections waiting to authenticate; try again later',
      'ServiceUnavailableException',
    ),
  tooManyConnections: (per: 'user' | 'app', limit: number) =>
    new ApiError(429, 'reach_limit', `too many open WebSocket connections for this ${per} (limit ${limit})`, 'ReachLimitException'),
  notAnObject: () => Errors.illegalArgument('a message must be a JSON object'),
  alreadyAuthenticated: () => Errors.illegalArgument('this connection is already authenticated'),
  alreadySubscribed: (room: string) => Errors.illegalArgument(`chatroom ${room} is already subscribed on this connection`),
} as const;

/** What the REST error handler answers for an error it does not know (it is logged). */
export const INTERNAL_ERROR = new ApiError(500, 'internal_server_error', 'internal server error', 'InternalServerError');
