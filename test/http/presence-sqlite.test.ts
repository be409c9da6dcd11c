import { sqliteTarget } from '../support/server.js';
import { presenceBasicsSuite } from './suites/presence-basics.js';
import { presenceRacesSuite } from './suites/presence-races.js';

presenceBasicsSuite(sqliteTarget);
presenceRacesSuite(sqliteTarget);
