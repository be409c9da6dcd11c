/**
 * A small Server-Sent Events client for tests: fetch + a parser that follows the HTML spec's
 * event-stream rules (CR, LF or CRLF line ends; `data` lines joined with LF; comments; `retry`; an
 * `id` with NUL ignored; a block without data dispatches nothing). Waiting is always for an
 * expected message, with a timeout that fails with what was received.
 */
export interface SseMessage {
  /** The `id` field of this block, if it had one (see `lastEventId` for the running value). */
  id?: string;
  /** roomkv's ids are `{seq}-{epoch}`: the seq, as a string, and the epoch of this block's id. */
  seq?: string;
  epoch?: string;
  /** The `event` field, absent for unnamed (`message`) events. */
  event?: string;
  data: string;
  /** Comments (text after ':', one leading space dropped) received since the previous message. */
  comments: string[];
}

export interface OpenStreamOptions {
  token?: string;
  headers?: Record<string, string>;
  /** Added to the URL's query string, URL-encoded. */
  query?: Record<string, string>;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** For a response that is not `text/event-stream`: its whole body, and the JSON it parses to. */
  text?: string;
  body?: any;
  /** Every message received so far, in order. */
  messages: SseMessage[];
  /** Every comment received so far, in order. */
  comments: string[];
  /** Everything received, as text: to check the exact wire form. */
  raw(): string;
  /** The last `retry:` value received, if any. */
  retry?: number;
  lastEventId: string;
  /**
   * The next message after the last one returned by `next` that matches `predicate` (messages
   * skipped over are consumed). Rejects on timeout or when the stream ends first.
   */
  next(predicate?: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  /** The next comment (counted like `next`) matching `predicate`. */
  nextComment(predicate?: (c: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves once the stream is over: the server ended it, `close()` was called, or it failed. */
  closed: Promise<void>;
  /** Why the stream is over: 'end' (the server ended it), 'aborted' (close()) or the error text. */
  endReason?: string;
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export async function openStream(url: string, opts: OpenStreamOptions = {}): Promise<SseStream> {
  const target = new URL(url);
  for (const [k, v] of Object.entries(opts.query ?? {})) target.searchParams.set(k, v);
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  const abort = new AbortController();
  let res: Response;
  try {
    res = await fetch(target, { headers, signal: abort.signal });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new Error(
      `SSE ${target.pathname}: no response (the server closed the connection before its headers?): ${String(err)}${cause ? ` (${String(cause)})` : ''}`,
      { cause: err },
    );
  }

  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let rawText = '';
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let msgCursor = 0;
  let commentCursor = 0;
  let done = false;

  const stream: SseStream = {
    status: res.status,
    headers: res.headers,
    messages,
    comments,
    raw: () => rawText,
    lastEventId: '',
    closed: Promise.resolve(),
    close: () => abort.abort(),
    next: (predicate = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      waitFor('message', timeoutMs, () => {
        while (msgCursor < messages.length) {
          const m = messages[msgCursor++]!;
          if (predicate(m)) return m;
        }
        return undefined;
      }),
    nextComment: (predicate = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      waitFor('comment', timeoutMs, () => {
        while (commentCursor < comments.length) {
          const c = comments[commentCursor++]!;
          if (predicate(c)) return c;
        }
        return undefined;
      }),
  };

  function waitFor<T>(what: string, timeoutMs: number, take: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = take();
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (done) {
          finish();
          reject(
            new Error(`SSE ${target.pathname}: stream ended (${stream.endReason}) before the expected ${what}; received:\n${summary()}`),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`SSE ${target.pathname}: no expected ${what} within ${timeoutMs} ms; received:\n${summary()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  function summary(): string {
    const lines = messages.map(
      (m) => `  id=${m.id ?? ''} event=${m.event ?? ''} data=${m.data.length > 200 ? `${m.data.slice(0, 200)}...` : m.data}`,
    );
    return lines.length > 0 ? lines.slice(-20).join('\n') : '  (no messages)';
  }

  const isStream = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!isStream || res.body === null) {
    // An error (or any other) answer: read it whole, like any JSON reply.
    stream.text = await res.text();
    try {
      stream.body = stream.text.length > 0 ? JSON.parse(stream.text) : undefined;
    } catch {
      stream.body = stream.text;
    }
    done = true;
    stream.endReason = 'end';
    return stream;
  }

  // Parser state for the block being read.
  let buffer = '';
  let first = true;
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  let pendingComments: string[] = [];

  const dispatch = () => {
    if (data.length > 0) {
      const m: SseMessage = { data: data.join('\n'), comments: pendingComments };
      if (id !== undefined) {
        m.id = id;
        [m.seq, m.epoch] = id.split('-');
      }
      if (event !== undefined && event !== '') m.event = event;
      messages.push(m);
      pendingComments = [];
    }
    data = [];
    event = undefined;
    id = undefined;
  };

  const line = (l: string) => {
    if (l === '') {
      dispatch();
      return;
    }
    if (l.startsWith(':')) {
      const c = l.slice(1).replace(/^ /, '');
      comments.push(c);
      pendingComments.push(c);
      return;
    }
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    const value = colon < 0 ? '' : l.slice(colon + 1).replace(/^ /, '');
    switch (field) {
      case 'data':
        data.push(value);
        break;
      case 'event':
        event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          id = value;
          stream.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) stream.retry = Number(value);
        break;
      default:
      // unknown fields are ignored
    }
  };

  const feed = (chunk: string) => {
    rawText += chunk;
    buffer += chunk;
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) break;
      // A lone CR at the very end may be the first half of a CRLF: wait for more.
      if (m[0] === '\r' && m.index === buffer.length - 1) break;
      line(buffer.slice(0, m.index));
      buffer = buffer.slice(m.index + m[0].length);
    }
    wake();
  };

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  stream.closed = (async () => {
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        feed(decoder.decode(value, { stream: true }));
      }
      stream.endReason = 'end';
    } catch (err) {
      stream.endReason = abort.signal.aborted ? 'aborted' : `error: ${String(err)}`;
    } finally {
      done = true;
      wake();
    }
  })();
  return stream;
}

/** The parsed JSON of a message's data. */
export function json(m: SseMessage): any {
  return JSON.parse(m.data);
}
