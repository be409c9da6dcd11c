#!/usr/bin/env node
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ConfigError, describeSettings, loadConfig } from './config/config.js';
import { startServer } from './server.js';

const require = createRequire(import.meta.url);
const { ChatTokenBuilder } = require('agora-token') as {
  ChatTokenBuilder: { buildAppToken(appId: string, cert: string, expire: number): string };
};

const DEMO_TOKEN_TTL_S = 24 * 3600;

function help(): string {
  const rows = describeSettings().map((s) => {
    const flag = `--${s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return `  ${flag.padEnd(22)} ${s.env.padEnd(26)} ${String(s.default ?? '(none)').padEnd(12)} ${s.description}`;
  });
  return [
    'usage: roomkv serve [options]',
    '',
    'Every setting is a flag or an environment variable (the flag wins):',
    `  ${'flag'.padEnd(22)} ${'environment'.padEnd(26)} ${'default'.padEnd(12)} meaning`,
    ...rows,
  ].join('\n');
}

async function serve(argv: string[]): Promise<void> {
  const settings = describeSettings();
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries([
      ['help', { type: 'boolean', short: 'h' }],
      ...settings.map((s) => [s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), { type: 'string' }]),
    ]) as Record<string, { type: 'string' | 'boolean'; short?: string }>,
    strict: true,
  });
  if (values.help) {
    console.log(help());
    return;
  }
  const overrides: Record<string, string> = {};
  for (const s of settings) {
    const v = values[s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)];
    if (typeof v === 'string') overrides[s.key] = v;
  }
  const config = loadConfig(process.env, overrides);
  const server = await startServer(config);
  if (server.demo) {
    const { app, created } = server.demo;
    const token = ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, DEMO_TOKEN_TTL_S);
    console.log([
      '',
      `roomkv is listening on ${server.url}`,
      `${created ? 'Created' : 'Using'} the development app ${app.org}#${app.app} (kept in ${config.dataDir}/demo-app.json):`,
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
    server.close().then(() => process.exit(0), (err) => {
      console.error(err);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(help());
      return;
    default:
      console.error(`roomkv: unknown command '${command}'\n\n${help()}`);
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
