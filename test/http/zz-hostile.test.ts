import { sqliteTarget } from '../support/server.js';
import { hostileSuite } from './suites/hostile.js';
hostileSuite(sqliteTarget);
