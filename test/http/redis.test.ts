import { describe } from 'node:test';
import { redisTarget } from '../support/server.js';
import { allHttpSuites } from './suites/index.js';

for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) describe(`HTTP suites [${kind}]`, { skip: target.missing }, () => {});
  else allHttpSuites(target);
}
