// Short race rounds for npm test; the soak runs more (races.soak.ts). SOAK_SEED replays a run.
import { sizeFromEnv, seedFromEnv } from './harness.js';
import { modelSelfTest } from './model-self-test.js';
import { raceSuite } from './races.js';

modelSelfTest();
raceSuite(sizeFromEnv('SOAK_RACE_ROUNDS', 5), seedFromEnv());
