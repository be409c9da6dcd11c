/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and summarizes where the time went: self time by
 * function, self time by package or roomkv file, and inclusive time of roomkv's own functions.
 * Shares are of the non-idle samples.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const IDLE = new Set(['(idle)', '(root)']);

function place(url: string, root: string): string {
  if (url === '') return '';
  let u = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (u.startsWith(root)) u = u.slice(root.length);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm);
  return u;
}

/** The package or roomkv file a frame belongs to. */
function group(p: string, name: string): string {
  if (p === '') return name.startsWith('(') ? name : '(native)';
  if (p.startsWith('node_modules/')) {
    const parts = p.split('/');
    return parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!;
  }
  if (p.startsWith('node:')) return 'node: internals';
  return p;
}

/** `windowMs`: only the samples of the profile's last windowMs count (the run, not start-up). */
export function summarizeProfile(file: string, root: string, top = 25, windowMs = Infinity, calls?: number): string[] {
  const rootDir = root.endsWith('/') ? root : `${root}/`;
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) byId.set(n.id, n);
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => {
    const p = place(n.callFrame.url, rootDir);
    return `${n.callFrame.functionName || '(anonymous)'}${p ? ` ${p}:${n.callFrame.lineNumber + 1}` : ''}`;
  };

  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  const inclusive = new Map<string, number>();
  /** leaf function -> its caller -> time: who pays for the top self-time frames. */
  const callers = new Map<string, Map<string, number>>();
  let total = 0;
  let idle = 0;
  const from = prof.endTime - windowMs * 1000;
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] ?? 0;
    const n = byId.get(prof.samples[i]!)!;
    const dt = prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0;
    if (at < from) continue;
    if (IDLE.has(n.callFrame.functionName)) {
      idle += dt;
      continue;
    }
    total += dt;
    const k = keyOf(n);
    self.set(k, (self.get(k) ?? 0) + dt);
    const g = group(place(n.callFrame.url, rootDir), n.callFrame.functionName);
    groups.set(g, (groups.get(g) ?? 0) + dt);
    // The nearest caller in roomkv or a package (node internals and native frames skipped).
    let up = parent.get(n.id);
    while (up !== undefined && !/^(dist|node_modules)\//.test(place(byId.get(up)!.callFrame.url, rootDir))) up = parent.get(up);
    const ck = up === undefined ? '(none)' : keyOf(byId.get(up)!);
    const cm = callers.get(k) ?? new Map<string, number>();
    cm.set(ck, (cm.get(ck) ?? 0) + dt);
    callers.set(k, cm);
    // Inclusive: once per roomkv function on the sample's stack.
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!;
      if (!place(f.callFrame.url, rootDir).startsWith('dist/')) continue;
      const fk = keyOf(f);
      if (seen.has(fk)) continue;
      seen.add(fk);
      inclusive.set(fk, (inclusive.get(fk) ?? 0) + dt);
    }
  }
  const pct = (x: number) => `${((100 * x) / total).toFixed(1)}%`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `| ${pct(v)} | ${(v / 1000).toFixed(0)} ms | \`${k}\` |`);
  return [
    `Main thread in the window: ${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle` +
      (calls ? `; about ${(total / calls).toFixed(1)} µs busy a call (${calls.toLocaleString('en-US')} calls).` : '.'),
    '',
    '| self | ms | function |',
    '|---:|---:|---|',
    ...rows(self, top),
    '',
    '| self | nearest roomkv or package caller | of function |',
    '|---:|---|---|',
    ...[...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .flatMap(([k]) =>
        [...(callers.get(k) ?? new Map<string, number>())]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([c, v]) => `| ${pct(v)} | \`${c}\` | \`${k.split(' ')[0]}\` |`),
      ),
    '',
    '| self | ms | package or roomkv file |',
    '|---:|---:|---|',
    ...rows(groups, 15),
    // (The baseline has no roomkv functions: no table for it.)
    ...(inclusive.size > 0 ? ['', '| inclusive | ms | roomkv function (dist/) |', '|---:|---:|---|', ...rows(inclusive, 20)] : []),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(summarizeProfile(process.argv[2]!, process.cwd(), Number(process.argv[3] ?? 25)).join('\n'));
}
