/** A thin fetch wrapper: every call goes over a real socket to a listening server. */
export interface Reply {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: any;
  text: string;
}

export interface CallOptions {
  token?: string;
  /** An object is sent as JSON with `Content-Type: application/json`; a string is sent raw. */
  body?: unknown;
  headers?: Record<string, string>;
}

export async function call(baseUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (typeof opts.body === 'string') body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }
  return readReply(await fetch(baseUrl + path, { method, headers, body }));
}

/** A fetch response as a Reply: the body parsed as JSON when it is JSON. */
export async function readReply(res: Response): Promise<Reply> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Binds `call` to one server, app prefix and token. */
export function client(baseUrl: string, prefix: string, token?: string) {
  return {
    call: (method: string, path: string, opts: CallOptions = {}) => call(baseUrl, method, `${prefix}${path}`, { token, ...opts }),
    as: (other: string | undefined) => client(baseUrl, prefix, other),
    baseUrl,
    prefix,
  };
}
export type Client = ReturnType<typeof client>;
