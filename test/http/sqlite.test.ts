import { sqliteTarget } from '../support/server.js';
import { attributesSuite } from './suites/attributes.js';

attributesSuite(sqliteTarget);
