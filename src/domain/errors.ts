/**
 * The error catalogue: every error roomkv answers with, its HTTP status, Agora `error` code and the
 * `exception` name upstream reports. The HTTP layer renders these; nothing else builds an envelope.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly exception: string,
  ) {
    super(description);
    this.name = 'ApiError';
  }
}

const ILLEGAL = 'java.lang.IllegalArgumentException';
/** A caller who is not a member (a 401), and a member a removal did not find (a batch removal's reason). */
export const NOT_IN_ROOM = 'user is not in chatroom';
const SECURITY = 'EasemobSecurityException';

export const Errors = {
  orgAppNotFound: (orgApp: string, uri: string) =>
    new ApiError(
      404,
      'organization_application_not_found',
      `Could not find application for ${orgApp} from URI: ${uri}`,
      'OrganizationApplicationNotFoundException',
    ),
  serviceResourceNotFound: () =>
    new ApiError(404, 'service_resource_not_found', 'Service resource not found', 'ServiceResourceNotFoundException'),
  methodNotSupported: () =>
    new ApiError(405, 'unsupported_service_operation', 'Service operation not supported', 'UnsupportedServiceOperationException'),

  tokenExpired: () => new ApiError(401, 'unauthorized', 'Unable to authenticate due to expired access token', SECURITY),
  tokenCorrupt: () => new ApiError(401, 'auth_bad_access_token', 'Unable to authenticate due to corrupt access token', SECURITY),
  tokenRejected: () => new ApiError(401, 'unauthorized', 'Unable to authenticate (OAuth)', SECURITY),
  othersNotAllowed: () => new ApiError(403, 'forbidden_op', 'others are not allowed to be set', 'ForbiddenOpException'),
  appTokenRequired: () => new ApiError(403, 'forbidden_op', 'app token required', 'ForbiddenOpException'),

  rateLimited: () => new ApiError(429, 'reach_limit', 'This request has reached api limit', 'ReachLimitException'),
  tooManyStreams: (per: 'user' | 'app', limit: number) =>
    new ApiError(429, 'reach_limit', `too many open event streams for this ${per} (limit ${limit})`, 'ReachLimitException'),
  loginFailuresExceeded: (scope: 'user' | 'app') =>
    new ApiError(429, 'reach_limit', `too many failed logins for this ${scope}; try again later`, 'ReachLimitException'),
  loginsBusy: () => new ApiError(429, 'reach_limit', 'too many logins in progress for this app; try again later', 'ReachLimitException'),

  jsonParse: (message: string) => new ApiError(400, 'json_parse', message, 'JsonParseException'),
  jsonTooDeep: (maxDepth: number) => new ApiError(400, 'json_parse', `JSON nesting deeper than ${maxDepth} levels`, 'JsonParseException'),
  unsupportedMediaType: () => new ApiError(415, 'web_application', 'Unsupported Media Type', 'WebApplicationException'),
  bodyTooLarge: (limit: number) =>
    new ApiError(413, 'request_entity_too_large', `Request body is larger than ${limit} bytes`, 'WebApplicationException'),
  illegalArgument: (description: string) => new ApiError(400, 'illegal_argument', description, ILLEGAL),
  batchTooLarge: (max: number) => new ApiError(400, 'illegal_argument', `exceed allowed batch size ${max}`, ILLEGAL),

  roomNotFound: (roomId: string) => new ApiError(404, 'resource_not_found', `grpID ${roomId} does not exist!`, 'ResourceNotFoundException'),
  notInRoom: () => new ApiError(401, 'unauthorized', NOT_IN_ROOM, SECURITY),
  userNotFound: () => new ApiError(404, 'service_resource_not_found', 'Service resource not found', 'ServiceResourceNotFoundException'),
  usernameDoesNotExist: (username: string) =>
    new ApiError(404, 'resource_not_found', `username ${username} doesn't exist!`, 'ResourceNotFoundException'),
  duplicateUser: (appUuid: string, username: string) =>
    new ApiError(
      400,
      'duplicate_unique_property_exists',
      `Application ${appUuid} Entity user requires that property named username be unique, value of ${username} exists`,
      'DuplicateUniquePropertyExistsException',
    ),
  notMembers: (usernames: string[]) =>
    new ApiError(400, 'forbidden_op', `users [${usernames.join(', ')}] are not members of this group!`, 'ForbiddenOpException'),
  roomFull: (roomId: string, maxusers: number) =>
    new ApiError(403, 'forbidden_op', `chatroom ${roomId} has reached its maxusers ${maxusers}`, 'ForbiddenOpException'),
  /** The presence route of an app whose apps-file entry turns presence off (spec section 9). */
  presenceOff: () =>
    new ApiError(403, 'forbidden_op', 'presence is off for this app (apps file: presence.leaveAfterOfflineMs)', 'ForbiddenOpException'),
  ownerCannotLeave: (roomId: string) =>
    new ApiError(403, 'forbidden_op', `forbidden operation on chatroom ${roomId} owner!`, 'ForbiddenOpException'),

  invalidGrant: (status: 400 | 404, description: string) => new ApiError(status, 'invalid_grant', description, 'InvalidGrantException'),
  unsupportedGrant: (grant: string) =>
    new ApiError(400, 'unsupported_grant_type', `grant_type ${grant} is not supported`, 'UnsupportedGrantTypeException'),

  /** A plain GET of a WebSocket route. */
  upgradeRequired: () =>
    new ApiError(
      426,
      'upgrade_required',
      'this route is a WebSocket: send Connection: Upgrade and Upgrade: websocket',
      'UpgradeRequiredException',
    ),
  /** Too many sockets of this instance are still waiting for their `auth` message. */
  tooManyPendingSockets: () =>
    new ApiError(
      503,
      'service_unavailable',
      'too many WebSocket connections waiting to authenticate; try again later',
      'ServiceUnavailableException',
    ),
  tooManyConnections: (per: 'user' | 'app', limit: number) =>
    new ApiError(429, 'reach_limit', `too many open WebSocket connections for this ${per} (limit ${limit})`, 'ReachLimitException'),
  messageNotAnObject: () => new ApiError(400, 'illegal_argument', 'a message must be a JSON object', ILLEGAL),
  alreadyAuthenticated: () => new ApiError(400, 'illegal_argument', 'this connection is already authenticated', ILLEGAL),
  alreadySubscribed: (room: string) =>
    new ApiError(400, 'illegal_argument', `chatroom ${room} is already subscribed on this connection`, ILLEGAL),
  /** What an error roomkv does not know becomes (it is logged). */
  internal: () => new ApiError(500, 'internal_server_error', 'internal server error', 'InternalServerError'),

  storeUnavailable: (cause: string) =>
    new ApiError(503, 'service_unavailable', `storage unavailable: ${cause}`, 'ServiceUnavailableException'),
} as const;
