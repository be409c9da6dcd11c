/**
 * A full garbage collection of another Node process, asked of its inspector (started with
 * `--inspect=127.0.0.1:<port>`), and its resident memory once that settles: what the process
 * holds, without garbage V8 has not collected yet. bench/fanout.ts and bench/idle-floor.ts read
 * idle connections' memory this way beside the figure as read.
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { sleep } from './common.js';

/** Resident memory of a process, KiB, from /proc/<pid>/status. */
function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Runs HeapProfiler.collectGarbage (the DevTools protocol) in the process whose inspector is on `port`. */
export async function collectGarbage(port: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const target = targets[0];
  if (target === undefined) throw new Error(`no inspector target on port ${port}`);
  const cdp = new WebSocket(target.webSocketDebuggerUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      cdp.once('open', () => resolve());
      cdp.once('error', reject);
    });
    const done = new Promise<void>((resolve, reject) => {
      cdp.on('message', (data: Buffer) => {
        const reply = JSON.parse(data.toString('utf8')) as { id?: number; error?: { message: string } };
        if (reply.id !== 1) return;
        if (reply.error) reject(new Error(`collectGarbage: ${reply.error.message}`));
        else resolve();
      });
      cdp.once('close', () => reject(new Error('the inspector closed before the collection was done')));
    });
    cdp.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    await done;
  } finally {
    cdp.close();
  }
}

/** The process's RSS (KiB) after a full collection, read once it holds still as the freed pages go back to the system. */
export async function collectedRssKb(pid: number, inspectPort: number): Promise<number> {
  await collectGarbage(inspectPort);
  let rss = rssKb(pid);
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    const now = rssKb(pid);
    const still = Math.abs(now - rss) < 256;
    rss = now;
    if (still) break;
  }
  return rss;
}
