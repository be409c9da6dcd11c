// `npm run bench` end to end, made small: every workload, one round of one second, against the
// baseline, roomkv on SQLite and roomkv on Redis; then the scale run with a small preload. The
// figures mean nothing here (the run is short and the machine shared); what is held is the harness
// itself: every workload and target in the table with its ratio and verdict, every run's answers
// checked by the load generator's probes (no transport error, no unexpected non-2xx or per-key error),
// the machine, the command and the lifted rate limit written down, and the committed results in
// bench/results/ left as they were (--out). The data set is smaller (ROOMKV_BENCH_ROOMS) and the load
// lighter (8 connections), so that a fast machine does not use up the delete run's keys in its second.
// Runs the roomkv in dist/, as built by `npm test`'s packaging test (or by npm ci).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { tempDir } from '../support/apps.js';
import { at } from '../support/at.js';
import { redisEnv } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKLOADS = ['set', 'get-all', 'get-keys', 'delete', 'forced-set', 'mixed', 'increment', 'conditional-set'];
const TIMEOUT_MS = 420_000;

/** The committed results' modification times, to see that a trial run left them alone. */
function resultsStamp(): string {
  const dir = join(ROOT, 'bench', 'results');
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}:${statSync(join(dir, f)).mtimeMs}`)
    .join(',');
}

/** Rooms of the trial runs' data set, against the real runs' 1,000: the workloads and checks are the same. */
const ROOMS = 200;

async function bench(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ROOMKV_BENCH_ROOMS: String(ROOMS) },
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, `bench ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`);
  return out;
}

/** The table's rows as cells, keyed "workload/target". */
function rows(md: string, columns: number): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of md.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| workload') || line.startsWith('| target')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (cells.length === columns) found.set(`${cells[0]}/${cells[1]}`, cells);
  }
  return found;
}

const redis = redisEnv('redis');
const skip = 'missing' in redis ? redis.missing : false;
const redisUrl = 'missing' in redis ? '' : redis.env.ROOMKV_REDIS_URL;

describe('npm run bench, end to end (small)', { skip, timeout: 2 * TIMEOUT_MS }, () => {
  const outs: string[] = [];
  after(() => {
    for (const d of outs) rmSync(d, { recursive: true, force: true });
  });

  it(
    'measures every workload on the baseline, SQLite and Redis, and writes the table with its setup',
    { timeout: TIMEOUT_MS },
    async () => {
      assert.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js: build roomkv first (npm test does)');
      const before = resultsStamp();
      const out = tempDir('roomkv-bench-test-');
      outs.push(out);
      await bench(['--no-build', '--rounds=1', '--duration=1', '--warmup=0', '--connections=8', `--out=${out}`, `--redis-url=${redisUrl}`]);
      const md = readFileSync(join(out, 'latest.md'), 'utf8');

      assert.match(md, /^- command: `npm run bench -- --no-build --rounds=1 /m);
      assert.match(md, /^- machine: \d+ cores? \(.*\), Node v\d+\.\d+\.\d+, /m);
      assert.match(md, /^- \*\*rate limit lifted\*\*: the benchmark app declares `limits\.rateLimitPerSecond: 1000000000`/m);
      assert.match(md, /Redis \d+\.\d+\.\d+ at redis:\/\//);
      assert.match(md, new RegExp(`^- data: ${ROOMS} rooms x 10 members`, 'm'));
      assert.match(md, /^- server peak RSS: baseline \d+ MB, sqlite \d+ MB, redis \d+ MB$/m);

      const table = rows(md, 15);
      for (const w of WORKLOADS) {
        for (const t of ['baseline', 'sqlite', 'redis']) {
          const r = table.get(`${w}/${t}`);
          assert.ok(r, `no row for ${w} on ${t}:\n${md}`);
          const [, , , , , errors, non2xx, perKey] = r;
          const rps = at(r, 2);
          const cpu = at(r, 8);
          assert.ok(Number(rps.replace(/,/g, '')) > 0, `${w}/${t}: ${rps} req/s`);
          assert.ok(Number(cpu.replace(/,/g, '')) > 0, `${w}/${t}: ${cpu} µs of server CPU a call`);
          assert.deepEqual([errors, non2xx, perKey], ['0', '0', '0'], `${w}/${t}: errors, non-2xx, per-key errors`);
          const verdict = at(r, 14);
          if (t === 'baseline') {
            assert.equal(r[10], '1.00');
            assert.equal(verdict, '', `${w}/baseline: ${verdict}`);
          } else {
            assert.match(at(r, 10), /^\d+\.\d{2,6}$/, `${w}/${t}: ratio ${r[10]}`);
            assert.match(at(r, 12), /^>= 0\.\d\d$/, `${w}/${t}: target ${r[12]}`);
            // Figures from one second on a shared machine may miss a target; a failed run may not.
            assert.doesNotMatch(verdict, /ERRORS/, `${w}/${t}: ${verdict}`);
            assert.match(verdict, /^(ok|(\*\*(ratio BELOW TARGET|p99 ABOVE 3x)\*\*(, )?)+)$/, `${w}/${t}: ${verdict}`);
          }
        }
      }
      assert.match(md, /^Targets missed: .+\.$/m);
      assert.doesNotMatch(md, /^Notes:/m, 'a probe failed or a run saw failures');
      assert.equal(resultsStamp(), before, 'bench/results/ was written to');
    },
  );

  it('runs the scale run: a preloaded store against an empty one, member removal and peak RSS', { timeout: TIMEOUT_MS }, async () => {
    const before = resultsStamp();
    const out = tempDir('roomkv-bench-test-');
    outs.push(out);
    await bench([
      '--scale',
      '--scale-rooms=200',
      '--no-build',
      '--rounds=1',
      '--duration=1',
      '--warmup=0',
      '--connections=8',
      `--out=${out}`,
      `--redis-url=${redisUrl}`,
    ]);
    const md = readFileSync(join(out, 'latest-scale.md'), 'utf8');
    assert.match(md, /^- scale: the "10,000" targets hold, besides the benchmark's data, 200 rooms x 50 keys \(10,000 attributes/m);

    const table = rows(md, 10);
    for (const w of ['get-all', 'set']) {
      for (const t of ['sqlite-empty', 'sqlite-10,000', 'redis-empty', 'redis-10,000']) {
        const r = table.get(`${w}/${t}`);
        assert.ok(r, `no row for ${w} on ${t}:\n${md}`);
        assert.deepEqual(r.slice(5, 8), ['0', '0', '0'], `${w}/${t}: errors, non-2xx, per-key errors`);
        assert.match(at(r, 8), /^\d+\.\d\d$/);
      }
    }
    const removal = rows(md, 7);
    for (const t of ['sqlite-empty', 'sqlite-10,000', 'redis-empty', 'redis-10,000']) {
      const r = [...removal.values()].find((cells) => cells[0] === t);
      assert.ok(r, `no member-removal row for ${t}:\n${md}`);
      assert.ok(Number(r[2]) > 0, `${t}: removal median ${r[2]} ms`);
      assert.match(at(r, 6), /^ok \(< 300\)$/, `${t}: peak RSS ${r[5]} MB, ${r[6]}`);
    }
    assert.match(md, /10,000 attrs in [\d.]+ s/);
    assert.equal(resultsStamp(), before, 'bench/results/ was written to');
  });
});
