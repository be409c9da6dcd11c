// The long crash and outage rounds (npm run test:soak): SOAK_CRASH_ROUNDS kills of roomkv per store
// (default 20), SOAK_OUTAGE_ROUNDS Redis pause + kill rounds (default 5). SOAK_SEED replays a run.
import { crashSuite } from './crash.js';
import { seedFromEnv, sizeFromEnv } from './harness.js';

crashSuite({ crashRounds: sizeFromEnv('SOAK_CRASH_ROUNDS', 20), outageRounds: sizeFromEnv('SOAK_OUTAGE_ROUNDS', 5), seed: seedFromEnv() });
