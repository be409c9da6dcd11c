import { once } from 'node:events';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { AppRecord } from '../config/apps.js';
import type { Config } from '../config/config.js';
import { openBackend } from '../server.js';
import { AGORA_CHOICES, agoraLines, type AgoraSource } from './agora-import.js';
import { exportApps } from './export.js';
import { importTransfer } from './import.js';
import type { Counts } from './transfer-format.js';

/** `roomkv export` and `roomkv import`: the store is the one `serve` would open, from the same settings. */

const describe = (c: Counts) => `${c.users} users, ${c.rooms} chatrooms, ${c.members} members, ${c.attributes} attributes`;

/** A write that waits when the stream's buffer is full, so a slow reader slows the export. */
function writerOf(stream: Writable): (text: string) => Promise<void> | undefined {
  return (text) => (stream.write(text) ? undefined : once(stream, 'drain').then(() => undefined));
}

export interface ExportCommand {
  config: Config;
  apps: readonly AppRecord[];
  /** A file; without it, stdout. */
  out?: string;
  version: string;
  log: (text: string) => void;
}

/** Writes the export; to a file through `<file>.partial`, renamed once whole, so no cut file carries the name. */
export async function runExport(cmd: ExportCommand): Promise<Counts> {
  const { store } = await openBackend(cmd.config);
  try {
    if (cmd.out === undefined) {
      const counts = await exportApps(store, cmd.apps, cmd.version, writerOf(process.stdout));
      cmd.log(`exported ${describe(counts)} of ${cmd.apps.map((a) => a.appKey).join(', ')} (store ${cmd.config.store})`);
      return counts;
    }
    const partial = `${cmd.out}.partial`;
    const file = createWriteStream(partial, { flags: 'wx' });
    await once(file, 'open');
    try {
      const counts = await exportApps(store, cmd.apps, cmd.version, writerOf(file));
      file.end();
      await once(file, 'finish');
      renameSync(partial, cmd.out);
      cmd.log(`exported ${describe(counts)} of ${cmd.apps.map((a) => a.appKey).join(', ')} (store ${cmd.config.store}) to ${cmd.out}`);
      return counts;
    } catch (err) {
      file.destroy();
      rmSync(partial, { force: true });
      throw err;
    }
  } finally {
    await store.close();
  }
}

export interface ImportCommand {
  config: Config;
  apps: readonly AppRecord[];
  /** --app: the app to import into. */
  into?: AppRecord;
  /** A file; without it (and without agora), stdin. */
  in?: string;
  agora?: AgoraSource;
  version: string;
  log: (text: string) => void;
}

/** Imports a file (or an Agora app); returns the lines to print on success. */
export async function runImport(cmd: ImportCommand): Promise<string[]> {
  const { store } = await openBackend(cmd.config);
  try {
    // Made once the store is open: readline starts reading at once, and lines it reads before
    // the loop takes them are lost.
    const lines =
      cmd.agora !== undefined
        ? agoraLines(cmd.agora, cmd.into!, cmd.version, cmd.log)
        : createInterface({ input: cmd.in === undefined ? process.stdin : createReadStream(cmd.in), crlfDelay: Infinity });
    const summary = await importTransfer(store, lines, { apps: cmd.apps, into: cmd.into, log: cmd.log });
    const from = cmd.agora !== undefined ? `Agora ${cmd.agora.org}#${cmd.agora.app} (${cmd.agora.host})` : (cmd.in ?? 'stdin');
    const into = cmd.into?.appKey ?? [...new Set(cmd.apps.map((a) => a.appKey))].join(', ');
    return [
      `imported ${describe(summary.counts)} from ${from} into ${cmd.into ? into : 'the apps of the file'} (store ${cmd.config.store})`,
      ...(summary.expired > 0
        ? [`${summary.expired} ${summary.expired === 1 ? 'attribute' : 'attributes'} had expired before the import: not restored`]
        : []),
      ...(cmd.agora !== undefined ? AGORA_CHOICES : []),
      `new log epoch ${summary.epoch}: event stream resumes from before the import get a snapshot; no change events or webhooks were sent`,
    ];
  } finally {
    await store.close();
  }
}
