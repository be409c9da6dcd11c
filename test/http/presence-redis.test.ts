import { describe } from 'node:test';
import { redisTarget } from '../support/server.js';
import { presenceBasicsSuite } from './suites/presence-basics.js';
import { presenceRacesSuite } from './suites/presence-races.js';

for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) describe(`presence [${kind}]`, { skip: target.missing }, () => {});
  else {
    presenceBasicsSuite(target);
    presenceRacesSuite(target);
  }
}
