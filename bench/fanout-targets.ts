/**
 * What the fan-out benchmark (bench/fanout.ts) runs and reads: roomkv processes from dist/, the
 * load processes (bench/fanout-load.ts) over IPC, the writer that changes the room at a steady
 * rate, and a process's CPU time and memory from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { freePort, sleep } from './common.js';
import type { ConnectSpec, LoadReport } from './fanout-load.js';

export interface Server {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  logFile: string;
}

/** Every child process started here, killed on the way out. */
export const children = new Set<ChildProcess>();

/** `node [nodeArgs] <dist>/cli.js serve` on a free port of 127.0.0.1; resolves once it answers. */
export async function startServer(
  root: string,
  work: string,
  name: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  dist = 'dist',
): Promise<Server> {
  const port = await freePort();
  const logFile = join(work, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [...nodeArgs, join(dist, 'cli.js'), 'serve'], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
    children.delete(child);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`${name} exited with ${exited}: ${readFileSync(logFile, 'utf8').slice(-1000)}`);
    try {
      await fetch(`${url}/healthz`);
      return { name, url, port, child, logFile };
    } catch {
      if (Date.now() > deadline) throw new Error(`${name} did not answer on ${url}`);
      await sleep(100);
    }
  }
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** CPU time (user + system) a process has used, ms, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Resident memory of a process, KiB, from /proc/<pid>/status. */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The hard limit of open files of this process (and so of its children): what one process can hold. */
export function hardFileLimit(): number {
  const m = /Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** One HTTP call with a bearer token and a JSON body; the answer's status and text. */
export function call(url: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${url}${path}`,
      { method, agent, headers: { Authorization: `Bearer ${token}`, ...(data ? { 'Content-Type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

export async function must(url: string, method: string, path: string, token: string, body?: unknown): Promise<any> {
  const r = await call(url, method, path, token, body);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
}

export interface WriteRun {
  sent: number;
  acknowledged: number;
  failures: string[];
  /** performance.now() of the first write sent and of the last answer. */
  firstAt: number;
  lastAt: number;
}

/**
 * Sets the room's key `t` to the time it is sent (ms since the epoch, sub-ms), `rate` times a
 * second for `seconds`, on a schedule that does not wait for answers (an open loop: a slow server
 * does not slow the writes down). Write i goes to urls[i mod urls.length].
 */
export async function writeAtRate(
  urls: string[],
  path: string,
  owner: string,
  token: string,
  rate: number,
  seconds: number,
): Promise<WriteRun> {
  const total = Math.round(rate * seconds);
  const run: WriteRun = { sent: 0, acknowledged: 0, failures: [], firstAt: performance.now(), lastAt: 0 };
  const answers: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = run.firstAt + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const t = (performance.timeOrigin + performance.now()).toFixed(3);
    run.sent++;
    answers.push(
      call(urls[i % urls.length]!, 'PUT', `${path}/user/${owner}`, token, { metaData: { t }, autoDelete: 'NO_DELETE' }).then(
        (r) => {
          run.lastAt = performance.now();
          if (r.status === 200 && r.text.includes('"successKeys":["t"]')) run.acknowledged++;
          else run.failures.push(`${r.status} ${r.text.slice(0, 200)}`);
        },
        (err: Error) => {
          run.failures.push(err.message);
        },
      ),
    );
  }
  await Promise.all(answers);
  return run;
}

/** A load process (bench/fanout-load.ts) and its IPC questions. */
export class LoadProcess {
  private constructor(readonly child: ChildProcess) {}

  static start(root: string): LoadProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/fanout-load.ts'], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return new LoadProcess(child);
  }

  private ask<T>(msg: Record<string, unknown>, reply: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== reply) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`a load process exited with ${code}`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(msg);
    });
  }

  connect(spec: ConnectSpec) {
    return this.ask<{ ready: number; failed: number; failures: string[]; seqs: [number, number]; ms: number }>(
      { type: 'connect', spec },
      'connected',
    );
  }

  reset() {
    return this.ask({ type: 'reset' }, 'reset');
  }

  /** `full`: with the histogram of delays (a progress check leaves it out). */
  async report(target: number, full: boolean): Promise<LoadReport> {
    return (await this.ask<{ report: LoadReport }>({ type: 'report', target, full }, 'report')).report;
  }

  async stop(): Promise<void> {
    await this.ask({ type: 'close' }, 'closed');
    this.child.disconnect();
    await stopProcess(this.child);
  }
}
