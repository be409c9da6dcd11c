import { describe } from 'node:test';
import { redisTarget } from '../support/server.js';
import { allWsSuites } from './suites/ws.js';

for (const kind of ['redis', 'redis-cluster'] as const) {
  const target = redisTarget(kind);
  if ('missing' in target) describe(`WebSocket suites [${kind}]`, { skip: target.missing }, () => {});
  else allWsSuites(target);
}
