import type { Target } from '../../support/server.js';
import { attributesSuite } from './attributes.js';
import { conditionsSuite } from './conditions.js';
import { historySuite } from './history.js';
import { authGrantsSuite } from './auth-grants.js';
import { authHardeningSuite } from './auth-hardening.js';
import { authTokenTableSuite } from './auth-token-table.js';
import { authUserTokensSuite } from './auth-user-tokens.js';
import { errorsChecksSuite } from './errors-checks.js';
import { errorsRateLimitSuite } from './errors-rate-limit.js';
import { eventsAccessSuite } from './events-access.js';
import { eventsChangesSuite } from './events-changes.js';
import { eventsLoadSuite } from './events-load.js';
import { eventsResumeSuite } from './events-resume.js';
import { hostileSuite } from './hostile.js';
import { tokenAttacksSuite } from './token-attacks.js';
import { racesSuite } from './races.js';
import { roomsUsersAutoDeleteSuite } from './rooms-users-auto-delete.js';
import { roomsUsersChatroomsSuite } from './rooms-users-chatrooms.js';
import { roomsUsersRegisterSuite } from './rooms-users-register.js';
import { streamRightsSuite } from './stream-rights.js';

/** Every HTTP suite, run by one test file per store. */
export function allHttpSuites(target: Target): void {
  attributesSuite(target);
  conditionsSuite(target);
  historySuite(target);
  authTokenTableSuite(target);
  authUserTokensSuite(target);
  authGrantsSuite(target);
  authHardeningSuite(target);
  errorsChecksSuite(target);
  errorsRateLimitSuite(target);
  eventsChangesSuite(target);
  eventsResumeSuite(target);
  eventsAccessSuite(target);
  eventsLoadSuite(target);
  hostileSuite(target);
  tokenAttacksSuite(target);
  racesSuite(target);
  roomsUsersRegisterSuite(target);
  roomsUsersChatroomsSuite(target);
  roomsUsersAutoDeleteSuite(target);
  streamRightsSuite(target);
}
