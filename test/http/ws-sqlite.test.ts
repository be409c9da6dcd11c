import { sqliteTarget } from '../support/server.js';
import { allWsSuites } from './suites/ws.js';

allWsSuites(sqliteTarget);
