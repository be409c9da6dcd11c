import type { Target } from '../../support/server.js';
import { attributesSuite } from './attributes.js';
import { authSuite } from './auth.js';
import { authHardeningSuite } from './auth-hardening.js';
import { errorsSuite } from './errors.js';
import { hostileSuite } from './hostile.js';
import { tokenAttacksSuite } from './token-attacks.js';
import { eventsSuite } from './events.js';
import { racesSuite } from './races.js';
import { roomsUsersSuite } from './rooms-users.js';
import { streamRightsSuite } from './stream-rights.js';

/** Every HTTP suite, run by one test file per store. */
export function allHttpSuites(target: Target): void {
  attributesSuite(target);
  authSuite(target);
  authHardeningSuite(target);
  errorsSuite(target);
  eventsSuite(target);
  hostileSuite(target);
  tokenAttacksSuite(target);
  racesSuite(target);
  roomsUsersSuite(target);
  streamRightsSuite(target);
}
