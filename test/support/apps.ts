import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

export function tempDir(prefix = 'roomkv-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
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
