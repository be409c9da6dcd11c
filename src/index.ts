/**
 * roomkv as a library: start a server from a config inside another program (a test harness, an
 * app that embeds it). What `roomkv serve` does, without the banner and the signal handling:
 *
 *   import { loadConfig, startServer } from 'roomkv';
 *   const server = await startServer(loadConfig({ PORT: '0', ROOMKV_DATA_DIR: './data' }));
 *   ... server.url ...
 *   await server.close();
 *
 * Only what is exported here is the package's API; the files under dist/ may change in any release.
 * A client for the HTTP API, when there is one, comes as an entry of its own ('./client' beside '.'
 * in package.json's exports), so that a client does not load the server's dependencies.
 */
export { startServer, makeLogger, type RunningServer } from './server.js';
export { loadConfig, describeSettings, ConfigError, ConfigSchema, type Config } from './config/config.js';
export {
  loadAppsFile,
  parseAppsFile,
  loadOrCreateDemoApp,
  RESERVED_ORGS,
  WEBHOOK_EVENT_NAMES,
  type AppRecord,
  type AppDeclaration,
  type WebhookEndpoint,
} from './config/apps.js';
