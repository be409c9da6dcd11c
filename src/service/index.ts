import type { Authenticator } from '../auth/authenticator.js';
import type { OpenStreams } from '../events/live-stream.js';
import type { Store } from '../store/types.js';
import { attributeService, type KeyCounter } from './attributes.js';
import { historyService } from './history.js';
import { presenceService } from './presence.js';
import { roomService } from './rooms.js';
import { streamService } from './streams.js';
import { tokenService, type TokenOptions } from './tokens.js';
import { userService } from './users.js';
import { webhookService } from './webhooks.js';

export type { ServiceContext } from './context.js';

export interface ServiceDeps {
  store: Store;
  /** Counts attribute calls' per-key outcomes. */
  counter: KeyCounter;
  /** This instance's open event streams and their caps. */
  streams: OpenStreams;
  /** Verifies the token an `inherit` grant carries. */
  auth: Authenticator;
  login: TokenOptions;
}

/**
 * The calls every transport makes (HTTP routes now, a WebSocket later), over one store: plain
 * inputs and outputs, the catalogue's ApiError for refusals, the rules of who may do what.
 */
export function makeServices({ store, counter, streams, auth, login }: ServiceDeps) {
  return {
    attributes: attributeService(store, counter),
    rooms: roomService(store),
    users: userService(store),
    streams: streamService(store, streams),
    history: historyService(store),
    presence: presenceService(store),
    webhooks: webhookService(store),
    tokens: tokenService(store, auth, login),
  };
}

export type Services = ReturnType<typeof makeServices>;
