// Short crash and outage rounds for npm test; the soak runs more (crash.soak.ts).
import { crashSuite, ledgerSelfTest } from './crash.js';
import { seedFromEnv } from './harness.js';

ledgerSelfTest();
crashSuite({ crashRounds: 2, outageRounds: 1, seed: seedFromEnv() });
