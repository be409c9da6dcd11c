import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { LOG_LIMITS } from './routing.js';

/** SQLite's own integrity check, then roomkv's invariants (the app byte counters match the rows). */
export async function assertSqliteIntact(path: string): Promise<void> {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
  const store = new SqliteStore({ path, synchronous: 'FULL', eventLog: LOG_LIMITS });
  try {
    assert.deepEqual(await store.integrityCheck(), []);
  } finally {
    await store.close();
  }
}
