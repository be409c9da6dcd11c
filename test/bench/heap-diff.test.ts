// What bench/heap-diff.ts reads of two V8 heap snapshots: the growth between them by kind of
// object, over a count. Checked on real snapshots of this process, around objects of known kinds.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeHeapSnapshot } from 'node:v8';
import { heapDiff, renderHeapDiff } from '../../bench/heap-diff.js';

class HeapDiffProbe {
  constructor(
    readonly a: number,
    readonly b: string,
  ) {}
}

describe('heap snapshots compared by kind (bench/heap-diff.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roomkv-heap-diff-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds what was made between two snapshots, per thing made', () => {
    const before = writeHeapSnapshot(join(dir, 'before.heapsnapshot'));
    const held: HeapDiffProbe[] = [];
    for (let i = 0; i < 2000; i++) held.push(new HeapDiffProbe(i + 0.5, `probe-${i}-${'x'.repeat(40)}`));
    const afterFile = writeHeapSnapshot(join(dir, 'after.heapsnapshot'));
    const d = heapDiff(before, afterFile, 2000, 50);
    const probe = d.rows.find((r) => r.kind === 'object HeapDiffProbe');
    assert.ok(probe, `no HeapDiffProbe row in ${d.rows.map((r) => r.kind).join(', ')}`);
    assert.equal(probe.countPer, 1);
    assert.ok(probe.bytesPer >= 16 && probe.bytesPer <= 64, `a probe object: ${probe.bytesPer} bytes`);
    // Each probe's string (about 50 characters) grew the strings by about that much apiece.
    const strings = d.rows.find((r) => r.kind === 'string');
    assert.ok(strings && strings.countPer >= 1 && strings.bytesPer >= 50, JSON.stringify(strings));
    assert.ok(d.total >= probe.bytesPer + 50, `total ${d.total}`);
    // Largest first, and the table names each row.
    for (let i = 1; i < d.rows.length; i++) assert.ok(d.rows[i - 1]!.bytesPer >= d.rows[i]!.bytesPer);
    assert.match(renderHeapDiff(d), /\| `object HeapDiffProbe` \|/);
    assert.equal(held.length, 2000);
  });
});
