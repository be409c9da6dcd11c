import { sqliteTarget } from '../support/server.js';
import { allHttpSuites } from './suites/index.js';

allHttpSuites(sqliteTarget);
