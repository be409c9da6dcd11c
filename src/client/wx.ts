import { onceClosed, type Transport } from './socket.js';

/** The SocketTask that `wx.connectSocket` answers (WeChat mini-programs; other mini-program hosts copy it). */
export interface WxSocketTask {
  onOpen(cb: (res: unknown) => void): void;
  onMessage(cb: (res: { data: unknown }) => void): void;
  onClose(cb: (res: { code?: number; reason?: string }) => void): void;
  onError(cb: (res: { errMsg?: string }) => void): void;
  send(opts: { data: string; fail?: (res: { errMsg?: string }) => void }): void;
  close(opts?: { code?: number; reason?: string }): void;
}

/** The part of the `wx` global the transport uses. */
export interface WxLike {
  connectSocket(opts: { url: string; header?: Record<string, string>; fail?: (res: { errMsg?: string }) => void }): WxSocketTask;
}

/** Code given when the host reports a failure without a close of its own. */
const ABNORMAL = 1006;

/**
 * A transport over `wx.connectSocket`. A mini-program's socket may report an error without ever
 * closing (a refused connection, a failed send): the transport then closes it itself and reports
 * the close, so the client reconnects as it would in a browser.
 */
export function wxTransport(wx: WxLike): Transport {
  return (url, events) => {
    const on = onceClosed(events);
    // connectSocket may call `fail` before it returns the task
    const held: { task?: WxSocketTask } = {};
    const fail = (errMsg: string | undefined) => {
      if (on.closed) return;
      on.error(new Error(errMsg ?? 'socket error'));
      try {
        held.task?.close({ code: 1000 });
      } catch (err) {
        // the task is already gone: the close below is all that is left to report
        on.error(err);
      }
      on.close(ABNORMAL, errMsg ?? 'socket error');
    };
    const opened = wx.connectSocket({ url, fail: (res) => fail(res.errMsg) });
    held.task = opened;
    opened.onOpen(() => on.open());
    opened.onMessage((res) => {
      if (typeof res.data === 'string') on.message(res.data);
    });
    opened.onError((res) => fail(res.errMsg));
    opened.onClose((res) => on.close(res.code ?? ABNORMAL, res.reason ?? ''));
    return {
      send: (text) => opened.send({ data: text, fail: (res) => fail(res.errMsg) }),
      close: (code, reason) => opened.close({ code, reason }),
    };
  };
}
