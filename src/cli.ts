#!/usr/bin/env node
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppsFile, loadOrCreateDemoApp, type AppRecord } from './config/apps.js';
import { ConfigError, describeSettings, loadConfig, type Config } from './config/config.js';
import { ApiError } from './domain/errors.js';
import { checkUsername } from './domain/requests.js';
import { renewLogEpoch, startServer } from './server.js';
import type { AgoraSource } from './ops/agora-import.js';
import { runExport, runImport } from './ops/transfer-commands.js';

const require = createRequire(import.meta.url);
// From src/ (tsx) and from dist/ alike, the package's own package.json is one folder up.
const { version: VERSION } = require('../package.json') as { version: string };
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
  new-epoch                   after restoring the store from a copy: a new log epoch, so every
                              event stream resume takes a snapshot (SQLite: stop roomkv first)
  export [--out FILE]         write the apps' users, chatrooms, members and attributes as JSON Lines
                              (--app ORG#APP: one app; default: every app; stdout without --out)
  import [--in FILE]          read an export into the configured store (refused if the store holds
                              any of its records; --app ORG#APP: into that app; stdin without --in)
  import --from-agora --agora-host URL --agora-org ORG --agora-app APP --client-id ID --client-secret S
                              read an Agora Chat app through its REST API (--app: the app to store into)
  --version                   print roomkv's version
  --help                      this text, and every setting's flag and environment variable

  --app ORG#APP               which app (token); default: the only app, or demo#demo
  --ttl SECONDS               token lifetime (default 86400)`;

/** A command the user can fix: its message alone, exit 1. */
class CommandError extends Error {
  readonly exitCode: number = 1;
}

/** A mistake in how roomkv was called (a flag, a command, an argument): exit 2, the usage with it. */
class UsageError extends CommandError {
  override readonly exitCode = 2;
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

/** Node's parseArgs messages name the option inside quotes, with advice about `--`: just the option. */
function flagProblem(err: Error & { code?: string }): string {
  const option = /--[A-Za-z0-9-]+/.exec(err.message)?.[0] ?? /-[A-Za-z]/.exec(err.message)?.[0] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option} (roomkv serve --help lists every flag)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message) ? `option ${option} takes no value` : `option ${option} needs a value`;
    default:
      return err.message;
  }
}

function help(): string {
  const rows = describeSettings().map(
    (s) => `  ${`--${flagOf(s.key)}`.padEnd(26)} ${s.env.padEnd(30)} ${String(s.default ?? '(none)').padEnd(12)} ${s.description}`,
  );
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
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        'show-secrets': { type: 'boolean' },
        app: { type: 'string' },
        ttl: { type: 'string' },
        out: { type: 'string' },
        in: { type: 'string' },
        'from-agora': { type: 'boolean' },
        'agora-host': { type: 'string' },
        'agora-org': { type: 'string' },
        'agora-app': { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        ...Object.fromEntries(settings.map((s) => [flagOf(s.key), { type: 'string' as const }])),
      },
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(flagProblem(e));
    throw err;
  }
  const { values, positionals } = parsed;
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
    throw new CommandError(`no apps: set ROOMKV_APPS_FILE, or start roomkv once to create the development app in ${config.dataDir}`);
  }
  return [loadOrCreateDemoApp(config.dataDir).app];
}

function pickApp(apps: AppRecord[], name: string | undefined): AppRecord {
  if (name === undefined) {
    if (apps.length === 1) return apps[0]!;
    throw new CommandError(`several apps: name one with --app (${apps.map((a) => a.appKey).join(', ')})`);
  }
  const found = apps.find((a) => a.appKey.toLowerCase() === name.toLowerCase() || a.appId === name.toLowerCase());
  if (!found) throw new CommandError(`--app ${name}: no such app (${apps.map((a) => a.appKey).join(', ')})`);
  return found;
}

function ttlOf(text: string | boolean | undefined): number {
  if (text === undefined) return DEMO_TOKEN_TTL_S;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,9}$/.test(text))
    throw new UsageError(`--ttl ${String(text)}: a whole number of seconds, 1 or more`, false);
  return Number(text);
}

async function serve(p: Parsed): Promise<void> {
  const server = await startServer(p.config);
  if (server.demo) {
    const { app, created } = server.demo;
    const token = ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, DEMO_TOKEN_TTL_S);
    console.log(
      [
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
      ].join('\n'),
    );
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
    server.close(p.config.shutdownDrainMs).then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** The username rule of the API itself: a token for a name no user can have is refused. */
function usernameOf(raw: string): string {
  try {
    return checkUsername(raw);
  } catch (err) {
    if (err instanceof ApiError) throw new UsageError(err.description, false);
    throw err;
  }
}

function token(p: Parsed): void {
  const [, kind, user, ...extra] = p.positionals;
  const shape = kind === 'app' ? user === undefined : kind === 'user' && user !== undefined && extra.length === 0;
  if (!shape) throw new UsageError('roomkv token app | roomkv token user NAME');
  // The shape check above: kind 'user' comes with a name.
  const username = kind === 'user' && user !== undefined ? usernameOf(user) : undefined;
  const ttl = ttlOf(p.values.ttl);
  const apps = appsOf(p.config, false);
  const app = pickApp(apps, p.values.app as string | undefined);
  // stdout carries the token alone (for $(...)); which app it is for goes to stderr.
  const which =
    p.config.appsFile === undefined
      ? `the development app ${app.appKey} (${join(p.config.dataDir, 'demo-app.json')})`
      : `${app.appKey} (${p.config.appsFile})`;
  if (username === undefined) {
    console.error(`roomkv: an app token for ${which}, valid ${ttl} s`);
    console.log(ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, ttl));
  } else {
    console.error(`roomkv: a user token for ${username} of ${which}, valid ${ttl} s`);
    console.log(ChatTokenBuilder.buildUserToken(app.appId, app.appCertificate, username, ttl));
  }
}

function appsList(p: Parsed): void {
  const secrets = p.values['show-secrets'] === true;
  const rows = appsOf(p.config, false).map((a) => [
    a.org,
    a.app,
    a.appId,
    ...(secrets ? [a.appCertificate, a.clientId, a.clientSecret] : []),
  ]);
  const head = ['org', 'app', 'App ID', ...(secrets ? ['App Certificate', 'client id', 'client secret'] : [])];
  // Every row has a cell under each heading, and a width per heading.
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
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

async function newEpoch(p: Parsed): Promise<void> {
  const epoch = await renewLogEpoch(p.config);
  console.log(`new log epoch ${epoch} (store ${p.config.store}): event stream resumes from before now get a snapshot`);
}

/** Progress and outcomes of export and import go to stderr: stdout may carry the export itself. */
const note = (text: string) => console.error(`roomkv: ${text}`);

/** Export and import failures are the user's to fix (a file, a store that holds the records): their message alone. */
async function asCommand<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CommandError || err instanceof ConfigError) throw err;
    throw new CommandError(err instanceof Error ? err.message : String(err));
  }
}

async function exportCommand(p: Parsed): Promise<void> {
  const apps = appsOf(p.config, false);
  const chosen = p.values.app === undefined ? apps : [pickApp(apps, p.values.app as string)];
  const out = p.values.out as string | undefined;
  await asCommand(() => runExport({ config: p.config, apps: chosen, out, version: VERSION, log: note }));
}

async function importCommand(p: Parsed): Promise<void> {
  const apps = appsOf(p.config, false);
  const v = p.values as Record<string, string | boolean | undefined>;
  const into = v.app === undefined ? undefined : pickApp(apps, v.app as string);
  let agora: AgoraSource | undefined;
  if (v['from-agora'] === true) {
    const need = ['agora-host', 'agora-org', 'agora-app', 'client-id', 'client-secret'].filter(
      (f) => typeof v[f] !== 'string' || v[f] === '',
    );
    if (need.length > 0) throw new UsageError(`import --from-agora needs ${need.map((f) => `--${f}`).join(', ')}`, false);
    if (v.in !== undefined) throw new UsageError('import takes --in or --from-agora, not both', false);
    agora = {
      host: v['agora-host'] as string,
      org: v['agora-org'] as string,
      app: v['agora-app'] as string,
      clientId: v['client-id'] as string,
      clientSecret: v['client-secret'] as string,
    };
  }
  const lines = await asCommand(() =>
    runImport({
      config: p.config,
      apps,
      into: into ?? (agora ? pickApp(apps, undefined) : undefined),
      in: v.in as string | undefined,
      agora,
      version: VERSION,
      log: note,
    }),
  );
  for (const l of lines) console.log(l);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const [command, sub] = argv;
  if (command === '--version' || command === '-v' || command === 'version' || argv.includes('--version')) {
    console.log(`roomkv ${VERSION}`);
    return;
  }
  if (
    command === undefined ||
    command === 'help' ||
    command === '--help' ||
    command === '-h' ||
    argv.includes('--help') ||
    argv.includes('-h')
  ) {
    console.log(help());
    return;
  }
  switch (command) {
    case 'serve':
      return serve(noPositionals(parse(argv.slice(1)), 'serve'));
    case 'token':
      return token(parse(argv));
    case 'apps':
      if (sub !== 'list') throw new UsageError('roomkv apps list [--show-secrets]');
      return appsList(noPositionals(parse(argv.slice(2)), 'apps list'));
    case 'check-config':
      process.exitCode = checkConfig(argv.slice(1));
      return;
    case 'new-epoch':
      return newEpoch(noPositionals(parse(argv.slice(1)), 'new-epoch'));
    case 'export':
      return exportCommand(noPositionals(parse(argv.slice(1)), 'export'));
    case 'import':
      return importCommand(noPositionals(parse(argv.slice(1)), 'import'));
    default:
      throw new UsageError(
        command.startsWith('-')
          ? `unknown command '${command}' (options come after the command: roomkv serve --port 9000)`
          : `unknown command '${command}'`,
      );
  }
}

function noPositionals(p: Parsed, command: string): Parsed {
  if (p.positionals.length > 0) throw new UsageError(`roomkv ${command} takes no argument '${p.positionals[0]}'`);
  return p;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`roomkv: usage error: ${err.message}${err.showUsage ? `\n\n${USAGE}` : ''}`);
    process.exit(err.exitCode);
  } else if (err instanceof CommandError) {
    console.error(`roomkv: ${err.message}`);
  } else if (err instanceof ConfigError) {
    console.error(`roomkv: ${err.message}`);
  } else {
    console.error('roomkv: failed to start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
