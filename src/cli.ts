#!/usr/bin/env node
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppsFile, loadOrCreateDemoApp, type AppRecord } from './config/apps.js';
import { ConfigError, describeSettings, loadConfig, type Config } from './config/config.js';
import { startServer } from './server.js';

const require = createRequire(import.meta.url);
const { ChatTokenBuilder } = require('agora-token') as {
  ChatTokenBuilder: {
    buildAppToken(appId: string, cert: string, expire: number): string;
    buildUserToken(appId: string, cert: string, userId: string, expire: number): string;
  };
};

const DEMO_TOKEN_TTL_S = 24 * 3600;
const SHUTDOWN_LIMIT_MS = 20_000;
const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const USAGE = `usage: roomkv <command> [options]

commands:
  serve                       run the server (what npm start runs)
  token app [--ttl S]         print a 007 app token for an app
  token user NAME [--ttl S]   print a 007 user token for a user of an app
  apps list [--show-secrets]  list the apps (org, app, App ID; secrets only when asked)
  check-config                validate the settings and the apps file; exit 1 naming every problem

  --app ORG#APP               which app (token); default: the only app, or demo#demo
  --ttl SECONDS               token lifetime (default 86400)`;

function help(): string {
  const rows = describeSettings().map((s) =>
    `  ${`--${flagOf(s.key)}`.padEnd(26)} ${s.env.padEnd(30)} ${String(s.default ?? '(none)').padEnd(12)} ${s.description}`);
  return [
    USAGE,
    '',
    'Every setting is a flag or an environment variable (the flag wins):',
    `  ${'flag'.padEnd(26)} ${'environment'.padEnd(30)} ${'default'.padEnd(12)} meaning`,
    ...rows,
  ].join('\n');
}

interface Parsed {
  config: Config;
  overrides: Record<string, string>;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/** Flags shared by every command: each setting, plus the commands' own. */
function parse(argv: string[]): Parsed {
  const settings = describeSettings();
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      'show-secrets': { type: 'boolean' },
      app: { type: 'string' },
      ttl: { type: 'string' },
      ...Object.fromEntries(settings.map((s) => [flagOf(s.key), { type: 'string' as const }])),
    },
  });
  const overrides: Record<string, string> = {};
  for (const s of settings) {
    const v = (values as Record<string, string | boolean | undefined>)[flagOf(s.key)];
    if (typeof v === 'string') overrides[s.key] = v;
  }
  return { config: loadConfig(process.env, overrides), positionals, values, overrides };
}

/** The apps as the server would see them: the apps file, or the development app in the data dir. */
function appsOf(config: Config, createDemo: boolean): AppRecord[] {
  if (config.appsFile !== undefined) return loadAppsFile(config.appsFile);
  if (!createDemo && !existsSync(join(config.dataDir, 'demo-app.json'))) {
    throw new ConfigError([`no apps: set ROOMKV_APPS_FILE, or start roomkv once to create the development app in ${config.dataDir}`]);
  }
  return [loadOrCreateDemoApp(config.dataDir).app];
}

function pickApp(apps: AppRecord[], name: string | undefined): AppRecord {
  if (name === undefined) {
    if (apps.length === 1) return apps[0];
    throw new ConfigError([`several apps: name one with --app (${apps.map((a) => a.appKey).join(', ')})`]);
  }
  const found = apps.find((a) => a.appKey.toLowerCase() === name.toLowerCase() || a.appId === name.toLowerCase());
  if (!found) throw new ConfigError([`--app ${name}: no such app (${apps.map((a) => a.appKey).join(', ')})`]);
  return found;
}

function ttlOf(text: string | boolean | undefined): number {
  if (text === undefined) return DEMO_TOKEN_TTL_S;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,9}$/.test(text)) throw new ConfigError([`--ttl ${String(text)}: a number of seconds`]);
  return Number(text);
}

async function serve(p: Parsed): Promise<void> {
  const server = await startServer(p.config);
  if (server.demo) {
    const { app, created } = server.demo;
    const token = ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, DEMO_TOKEN_TTL_S);
    console.log([
      '',
      `roomkv is listening on ${server.url}`,
      `${created ? 'Created' : 'Using'} the development app ${app.org}#${app.app} (kept in ${p.config.dataDir}/demo-app.json):`,
      `  App ID          ${app.appId}`,
      `  App Certificate ${app.appCertificate}`,
      `  client id       ${app.clientId}`,
      `  client secret   ${app.clientSecret}`,
      `An app token, valid for 24 hours:`,
      `  export TOKEN='${token}'`,
      `Try it:`,
      `  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`,
      `    -d '{"username":"alice","password":"secret1"}' ${server.url}/${app.org}/${app.app}/users`,
      '',
    ].join('\n'));
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    // Bounded: calls and deliveries in flight get this long to finish.
    setTimeout(() => {
      console.error('roomkv: shutdown took too long, exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    server.close(p.config.shutdownDrainMs).then(() => process.exit(0), (err) => {
      console.error(err);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function token(p: Parsed): void {
  const [, kind, user] = p.positionals;
  const app = pickApp(appsOf(p.config, false), p.values.app as string | undefined);
  const ttl = ttlOf(p.values.ttl);
  if (kind === 'app') {
    console.log(ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, ttl));
  } else if (kind === 'user' && user) {
    console.log(ChatTokenBuilder.buildUserToken(app.appId, app.appCertificate, user.toLowerCase(), ttl));
  } else {
    throw new ConfigError(['usage: roomkv token app | roomkv token user NAME']);
  }
}

function appsList(p: Parsed): void {
  const secrets = p.values['show-secrets'] === true;
  const rows = appsOf(p.config, false).map((a) => [a.org, a.app, a.appId,
    ...(secrets ? [a.appCertificate, a.clientId, a.clientSecret] : [])]);
  const head = ['org', 'app', 'App ID', ...(secrets ? ['App Certificate', 'client id', 'client secret'] : [])];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

/** Everything a start would check, without starting: every problem named, exit 1 if any. */
function checkConfig(argv: string[]): number {
  const problems: string[] = [];
  let config: Config | undefined;
  try {
    config = parse(argv).config;
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else throw err;
  }
  // The apps file is checked even when another setting is bad: every problem is named at once.
  const flag = argv.indexOf('--apps-file');
  const appsFile = config?.appsFile ?? (flag >= 0 ? argv[flag + 1] : process.env.ROOMKV_APPS_FILE || undefined);
  if (appsFile !== undefined) {
    try {
      loadAppsFile(appsFile);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length > 0) {
    console.error(`roomkv: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  console.log(`configuration ok (store ${config!.store}, ${appsFile ? `apps from ${appsFile}` : 'development app'})`);
  return 0;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const [command, sub] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h' || argv.includes('--help') || argv.includes('-h')) {
    console.log(help());
    return;
  }
  switch (command) {
    case 'serve':
      return serve(parse(argv.slice(1)));
    case 'token':
      return token(parse(argv));
    case 'apps':
      if (sub !== 'list') throw new ConfigError(['usage: roomkv apps list [--show-secrets]']);
      return appsList(parse(argv.slice(2)));
    case 'check-config':
      process.exitCode = checkConfig(argv.slice(1));
      return;
    default:
      console.error(`roomkv: unknown command '${command}'\n\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`roomkv: ${err.message}`);
  } else {
    console.error('roomkv: failed to start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
