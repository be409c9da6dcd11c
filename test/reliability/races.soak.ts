// The long race rounds (npm run test:soak): SOAK_RACE_ROUNDS rounds of each race per store.
import { sizeFromEnv, seedFromEnv } from './harness.js';
import { raceSuite } from './races.js';

raceSuite(sizeFromEnv('SOAK_RACE_ROUNDS', 50), seedFromEnv());
