import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../support/apps.js';
import { LOG_LIMITS } from '../support/routing.js';

/**
 * What the SQLite store tests (sqlite*.test.ts) share: a fresh database path, a store opened on it,
 * and a look at the file through a second connection.
 */

const dirs: string[] = [];
/** A database path in a new folder of its own. */
export const freshPath = (): string => {
  const dir = tempDir('roomkv-sqlite-');
  dirs.push(dir);
  return join(dir, 'roomkv.sqlite');
};
// Module-level, in each test file that imports this one: runs after every suite of the file has
// closed its stores.
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
export const open = (path: string): SqliteStore => new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS });

/** Reads the file through a second, independent connection. */
export function peek<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
