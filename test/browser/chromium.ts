// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (no downloaded browser). Under CI a missing Chromium fails the tests; elsewhere they are skipped
// with a loud reason.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A reason to skip (Chromium missing, outside CI), or false to run. */
export function browserSkip(suite: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is not installed (apt-get install chromium)`;
  // Under CI the suite runs and its launch fails, naming the missing path.
  if (process.env.CI) return false;
  console.warn(`\n!!! SKIPPING ${suite}: ${reason} !!!\n`);
  return reason;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`CI must run the browser tests, but ${CHROMIUM} is not installed`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Only the local test servers on 127.0.0.1 are reachable: a page that tries
      // a real host (the SDK's telemetry, say) fails fast instead of leaving the machine.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}
