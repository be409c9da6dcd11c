import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore, type SqliteOptions } from './sqlite-store.js';
import { decodeArgs, encodeError, type CallMessage } from './thread-wire.js';

/**
 * The SQLite store's writer thread (threaded-store.ts): it owns the write connection, plans and
 * applies every write in its group commit and fsyncs, so none of that holds up the main thread's
 * event loop (the checkpoints are another thread's, sqlite-checkpointer.ts). Each committed
 * batch's note is posted before any of its answers: the main thread drops the cached rooms and
 * publishes the events, then answers the calls.
 *
 * Messages in: an array of CallMessages (the calls of one turn of the main thread), or
 * `{ close: true }`. Out: `{ ready: true }` once the file is open (or `{ failed }`), arrays of
 * `{ note }` (one per batch) and `{ id, value }` or `{ id, error }` (one per call), in the order
 * they happened, one array per turn of this thread, and `{ closed: true }`.
 */

const port = parentPort;
if (port === null) throw new Error('sqlite-worker runs as a worker thread');

type Method = (...args: unknown[]) => Promise<unknown>;

/** What this turn has to say, sent together: one message per turn instead of one per call. */
let out: unknown[] = [];
const send = (item: unknown): void => {
  if (out.length === 0) setImmediate(flushOut);
  out.push(item);
};
function flushOut(): void {
  const items = out;
  out = [];
  port!.postMessage(items);
}

let store: SqliteStore;
try {
  store = new SqliteStore({
    ...(workerData as Omit<SqliteOptions, 'role' | 'onCommit'>),
    role: 'writer',
    onCommit: (note) => send({ note }),
  });
} catch (err) {
  port.postMessage({ failed: encodeError(err) });
  port.close();
  throw err;
}
port.postMessage({ ready: true });

port.on('message', (msg: CallMessage[] | { close: true }) => {
  if (!Array.isArray(msg)) {
    void closeStore();
    return;
  }
  for (const call of msg) run(call);
});

function run({ id, method, args }: CallMessage): void {
  const fn = (store as unknown as Record<string, Method | undefined>)[method];
  let answer: Promise<unknown>;
  try {
    if (typeof fn !== 'function') throw new Error(`no store method ${method}`);
    answer = fn.apply(store, decodeArgs(args));
  } catch (err) {
    answer = Promise.reject(err);
  }
  answer.then(
    (value) => send({ id, value }),
    (err: unknown) => send({ id, error: encodeError(err) }),
  );
}

/** Closes the file (the queued writes commit first), sends the answers still due, then says so. */
async function closeStore(): Promise<void> {
  let error: unknown;
  try {
    await store.close();
  } catch (err) {
    error = err;
  }
  // The last batch's answers were queued for the next turn.
  await new Promise((resolve) => setImmediate(resolve));
  if (out.length > 0) flushOut();
  port!.postMessage(error === undefined ? { closed: true } : { closed: true, error: encodeError(error) });
  port!.close();
}
