import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import agoraToken from 'agora-token';
import type { Limits } from '../../src/domain/limits.js';

const { ChatTokenBuilder } = agoraToken;

/** An app as the apps file declares it, with random credentials. */
export interface TestApp {
  org: string;
  app: string;
  appId: string;
  appCertificate: string;
  clientId: string;
  clientSecret: string;
  limits?: Partial<Limits>;
  /** Spec section 9: absent (or 0) is presence off. */
  presence?: { leaveAfterOfflineMs: number };
}

export function makeApp(overrides: Partial<TestApp> = {}): TestApp {
  return {
    org: `org${randomBytes(3).toString('hex')}`,
    app: 'live',
    appId: randomBytes(16).toString('hex'),
    appCertificate: randomBytes(16).toString('hex'),
    clientId: `cid-${randomBytes(6).toString('hex')}`,
    clientSecret: `secret-${randomBytes(12).toString('hex')}`,
    ...overrides,
  };
}

/** The folders tempDir made in this process and nobody removed yet: removed when the process exits. */
const madeDirs = new Set<string>();

function removeLeftDirs(): void {
  for (const dir of madeDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      process.stderr.write(`could not remove the test folder ${dir}: ${String(err)}\n`);
    }
  }
  madeDirs.clear();
}

/**
 * A new folder under the OS temp dir; it is removed by removeTempDir, or when this process exits. Its
 * name carries the run's tag (ROOMKV_TEST_RUN, set by scripts/run-tests.mjs), which tells the
 * leftover check of one run from the folders of another running beside it.
 */
export function tempDir(prefix = 'roomkv-test-'): string {
  const run = process.env.ROOMKV_TEST_RUN;
  const dir = mkdtempSync(join(tmpdir(), run ? `${prefix}run${run}-` : prefix));
  if (madeDirs.size === 0) process.removeListener('exit', removeLeftDirs).once('exit', removeLeftDirs);
  madeDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  madeDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export function writeAppsFile(apps: TestApp[], dir = tempDir()): string {
  const path = join(dir, 'apps.json');
  writeFileSync(path, JSON.stringify({ apps }, null, 2));
  return path;
}

/** Tokens minted with the official package, as an app server would. */
export function appToken(app: TestApp, expireSeconds = 3600): string {
  return ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, expireSeconds);
}

export function userToken(app: TestApp, userId: string, expireSeconds = 3600): string {
  return ChatTokenBuilder.buildUserToken(app.appId, app.appCertificate, userId, expireSeconds);
}
