import { ApiError } from '../../domain/errors.js';
import { EVENT_REASONS, type EventReason, type EventRouting } from '../../domain/events.js';
import { RestoreConflict } from '../restore-conflict.js';

/**
 * What crosses between the SQLite store's main thread and its writer thread (threaded-store.ts,
 * sqlite-worker.ts): calls, their answers and errors, and event routing, which holds a function
 * and so is sent as the table of its answers.
 */

/** A store method called on the writer thread. */
export interface CallMessage {
  id: number;
  method: string;
  args: unknown[];
}

export type WireError =
  | { kind: 'api'; status: number; error: string; description: string; exception: string }
  | { kind: 'restore'; what: 'user' | 'room'; id: string }
  | { kind: 'error'; name: string; message: string; code?: string };

export function encodeError(err: unknown): WireError {
  if (err instanceof ApiError)
    return { kind: 'api', status: err.status, error: err.error, description: err.description, exception: err.exception };
  if (err instanceof RestoreConflict) return { kind: 'restore', what: err.what, id: err.id };
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { kind: 'error', name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}

export function decodeError(w: WireError): Error {
  switch (w.kind) {
    case 'api':
      return new ApiError(w.status, w.error, w.description, w.exception);
    case 'restore':
      return new RestoreConflict(w.what, w.id);
    case 'error': {
      const err = new Error(w.message) as Error & { code?: string };
      err.name = w.name;
      if (w.code !== undefined) err.code = w.code;
      return err;
    }
  }
}

/** EventRouting as data: the app key and each reason's endpoints. */
interface WireRouting {
  wireRouting: true;
  appKey: string;
  endpoints: Partial<Record<EventReason, readonly string[]>>;
}

const encoded = new WeakMap<EventRouting, WireRouting>();

function encodeRouting(r: EventRouting): WireRouting {
  let w = encoded.get(r);
  if (w === undefined) {
    const endpoints: Partial<Record<EventReason, readonly string[]>> = {};
    for (const reason of EVENT_REASONS) {
      const list = r.endpointsFor(reason);
      if (list.length > 0) endpoints[reason] = [...list];
    }
    w = { wireRouting: true, appKey: r.appKey, endpoints };
    // Routing objects are made once per app (config/apps.ts) and frozen: their table is too.
    if (Object.isFrozen(r)) encoded.set(r, w);
  }
  return w;
}

const NONE: readonly string[] = [];

function decodeRouting(w: WireRouting): EventRouting {
  const { endpoints } = w;
  return { appKey: w.appKey, endpointsFor: (reason) => endpoints[reason] ?? NONE };
}

const isRouting = (v: unknown): v is EventRouting =>
  typeof v === 'object' && v !== null && typeof (v as { endpointsFor?: unknown }).endpointsFor === 'function';
const isWireRouting = (v: unknown): v is WireRouting =>
  typeof v === 'object' && v !== null && (v as { wireRouting?: unknown }).wireRouting === true;

/**
 * A call's arguments, ready for postMessage: a routing, given as an argument or as the `routing`
 * of one (a SetCall, a PresenceApp), becomes its table; the rest is cloned as it is.
 */
export function encodeArgs(args: readonly unknown[]): unknown[] {
  return args.map((a) => {
    if (isRouting(a)) return encodeRouting(a);
    if (typeof a === 'object' && a !== null && !Array.isArray(a) && isRouting((a as { routing?: unknown }).routing)) {
      const o = a as { routing: EventRouting };
      return { ...o, routing: encodeRouting(o.routing) };
    }
    return a;
  });
}

export function decodeArgs(args: unknown[]): unknown[] {
  return args.map((a) => {
    if (isWireRouting(a)) return decodeRouting(a);
    if (typeof a === 'object' && a !== null && !Array.isArray(a) && isWireRouting((a as { routing?: unknown }).routing)) {
      const o = a as { routing: WireRouting };
      return { ...o, routing: decodeRouting(o.routing) };
    }
    return a;
  });
}
