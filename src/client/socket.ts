// The one thing the client needs from a network: a text socket. Browsers and Node 22+ have a
// global WebSocket; Node 20 takes one as an option (the `ws` package's class); a mini-program has
// wx.connectSocket (wx.ts). Tests plug in a fake.

/** What the client does with an open socket. */
export interface Socket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * What a transport tells the client. `close` comes exactly once per socket, also after `error`
 * and for a socket that never opened; nothing comes after it.
 */
export interface SocketEvents {
  open(): void;
  message(text: string): void;
  close(code: number, reason: string): void;
  error(err: unknown): void;
}

/** Opens a socket to `url`. */
export type Transport = (url: string, on: SocketEvents) => Socket;

/** The part of the WebSocket API (browsers, Node 22+, the `ws` package) the client uses. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Guards the promise of SocketEvents: one close, nothing after it. */
export function onceClosed(on: SocketEvents): SocketEvents & { readonly closed: boolean } {
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    open: () => {
      if (!closed) on.open();
    },
    message: (text) => {
      if (!closed) on.message(text);
    },
    error: (err) => {
      if (!closed) on.error(err);
    },
    close: (code, reason) => {
      if (closed) return;
      closed = true;
      on.close(code, reason);
    },
  };
}

/** A transport over a WebSocket class. Binary frames are not part of the protocol: they are dropped. */
export function webSocketTransport(WebSocketClass: WebSocketConstructor): Transport {
  return (url, events) => {
    const on = onceClosed(events);
    const ws = new WebSocketClass(url);
    ws.onopen = () => on.open();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') on.message(ev.data);
    };
    ws.onerror = (ev) => on.error(ev);
    ws.onclose = (ev) => on.close(ev.code, ev.reason);
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => {
        try {
          ws.close(code, reason);
        } catch (err) {
          // a close code the implementation refuses: close without one
          on.error(err);
          ws.close();
        }
      },
    };
  };
}
