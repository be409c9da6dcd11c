/**
 * What a heap holds more of after than before, by kind of object: two V8 heap snapshots of one
 * process (node --heapsnapshot-signal), their nodes' self sizes summed by type and constructor
 * name, the difference divided by `per` (e.g. the connections opened between the two).
 *
 *   node --import tsx bench/heap-diff.ts before.heapsnapshot after.heapsnapshot [per] [rows]
 *
 * bench/fanout.ts --idle-heap uses it for the idle-connection memory; it runs alone too.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self bytes and count by "type name" (a closure by its function's name, a string as "string"). */
export function heapByKind(file: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    // Strings and numbers are named by their content: one row each would say nothing.
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number'
        ? ''
        : snap.strings[snap.nodes[i + iName]!]!;
    const kind = `${type} ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`.trim();
    const row = out.get(kind) ?? { bytes: 0, count: 0 };
    row.bytes += snap.nodes[i + iSize]!;
    row.count += 1;
    out.set(kind, row);
  }
  return out;
}

export interface HeapDiffRow {
  kind: string;
  /** Bytes more after than before, over `per`. */
  bytesPer: number;
  /** Objects more after than before, over `per`. */
  countPer: number;
}

/** The kinds that grew most (bytes over `per`), largest first, and the total growth over `per`. */
export function heapDiff(before: string, after: string, per: number, rows = 25): { total: number; rows: HeapDiffRow[] } {
  const a = heapByKind(before);
  const b = heapByKind(after);
  const diff: HeapDiffRow[] = [];
  let total = 0;
  for (const [kind, row] of b) {
    const was = a.get(kind) ?? { bytes: 0, count: 0 };
    const bytes = row.bytes - was.bytes;
    total += bytes;
    diff.push({ kind, bytesPer: bytes / per, countPer: (row.count - was.count) / per });
  }
  for (const [kind, was] of a) if (!b.has(kind)) total -= was.bytes;
  diff.sort((x, y) => y.bytesPer - x.bytesPer);
  return { total: total / per, rows: diff.slice(0, rows) };
}

export function renderHeapDiff(d: { total: number; rows: HeapDiffRow[] }): string {
  const lines = [
    `JS heap grown ${d.total.toFixed(0)} bytes each in all; the kinds that grew most:`,
    '',
    '| bytes each | objects each | kind (type and constructor) |',
    '|---:|---:|---|',
  ];
  for (const r of d.rows) lines.push(`| ${r.bytesPer.toFixed(0)} | ${r.countPer.toFixed(2)} | \`${r.kind.replace(/[|`]/g, ' ')}\` |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [before, after, per = '1', rows = '25'] = process.argv.slice(2);
  if (before === undefined || after === undefined) {
    console.error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [per] [rows]');
    process.exit(2);
  }
  console.log(renderHeapDiff(heapDiff(before, after, Number(per), Number(rows))));
}
