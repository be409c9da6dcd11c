import type { Target } from '../../support/server.js';
import { hostileBodiesSuite } from './hostile-bodies.js';
import { hostileHeadersSuite } from './hostile-headers.js';
import { hostileLimitsSuite } from './hostile-limits.js';
import { hostilePathsSuite } from './hostile-paths.js';
import { hostilePrototypeSuite } from './hostile-prototype.js';
import { hostileUnicodeSuite } from './hostile-unicode.js';

/**
 * Hostile input over real HTTP (issue "Reliability and security"), one suite per topic, each on a
 * server of its own (hostile-harness.ts): bodies, limits, prototype names, unicode, paths, headers.
 * Registered by index.ts for every store and by zz-hostile.test.ts; the headers suite, last, ends
 * with the check that the server is still up and Object.prototype was never touched.
 */
export function hostileSuite(target: Target): void {
  hostileBodiesSuite(target);
  hostileLimitsSuite(target);
  hostilePrototypeSuite(target);
  hostileUnicodeSuite(target);
  hostilePathsSuite(target);
  hostileHeadersSuite(target);
}
