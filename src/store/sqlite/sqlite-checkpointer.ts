import Database from 'better-sqlite3';
import { fdatasyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The SQLite store's checkpointer thread (threaded-store.ts): it copies the WAL's committed pages
 * into the database file on a connection and a thread of its own, so neither the main thread nor
 * the writer waits for a checkpoint. SQLite lets a PASSIVE checkpoint run beside a writer: the
 * writer goes on appending to the WAL while the pages committed before are copied.
 *
 * Every `intervalMs` (ROOMKV_SQLITE_CHECKPOINT_INTERVAL_MS) it runs a PASSIVE checkpoint; a page
 * written by many commits in that time is copied once. A pass copies the frames committed before it
 * began, and under a steady load the writer commits during every pass, so the WAL is never wholly
 * copied and SQLite never starts it again from its beginning. So once the WAL holds `pages` frames,
 * this thread runs one pass more (it copies what came during the first) and sets `walFull`: the
 * writer copies the few frames left itself, between two of its batches, and its next commit writes
 * the WAL from its start (sqlite-store.ts). Neither thread waits for the other. Should this one
 * fall behind, the writer's own checkpoint (at WRITER_CHECKPOINT_FACTOR x `pages`) bounds the WAL.
 *
 * Messages in: `{ close: true }`. Out: `{ closed: true }` once its connection is closed.
 */

export interface CheckpointerData {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  /** Frames in the WAL at which the writer is asked to copy the rest (walFull). */
  pages: number;
  walFull: Int32Array;
  intervalMs: number;
  /** The database file, open (by the store, which closes it) for the sync before walFull; null: none. */
  dbFd: number | null;
}

const port = parentPort;
if (port === null) throw new Error('sqlite-checkpointer runs as a worker thread');
const data = workerData as CheckpointerData;

const db = new Database(data.path);
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
// A checkpoint's fsyncs follow the connection's setting: the same as the writer's.
db.pragma(`synchronous = ${data.synchronous}`);
db.pragma('wal_autocheckpoint = 0');

type CheckpointRow = { busy: number; log: number; checkpointed: number };

let timer: NodeJS.Timeout | null = setTimeout(pass, data.intervalMs);

const passive = (): CheckpointRow | undefined => (db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[])[0];

function pass(): void {
  try {
    const row = passive();
    if (row !== undefined && row.log >= data.pages) {
      // A pass copies the frames committed before it began; one more copies those of the first.
      passive();
      syncDatabase();
      Atomics.store(data.walFull, 0, 1);
    }
  } catch {
    // An I/O error: the next pass tries again, and the writer's own checkpoint bounds the WAL meanwhile.
  }
  if (timer !== null) timer = setTimeout(pass, data.intervalMs);
}

/**
 * The database file synced once more, here, before the writer is asked for the rest. Measured on
 * this machine (bench/results/sqlite-writer-thread.md): after the passes, the next sync of the
 * file waited about 30 ms, whoever made it and however little it had to write. Made by the
 * writer's copy of the rest, that wait held every commit for as long; made here, the writer's copy
 * and sync take a few ms. Durability does not rest on it: the writer's copy syncs as before.
 */
function syncDatabase(): void {
  if (data.dbFd === null) return;
  try {
    fdatasyncSync(data.dbFd);
  } catch {
    // The writer's own sync follows all the same.
  }
}

port.on('message', (msg: { close: true }) => {
  if (!msg.close) return;
  if (timer !== null) clearTimeout(timer);
  timer = null;
  db.close();
  port.postMessage({ closed: true });
  port.close();
});
