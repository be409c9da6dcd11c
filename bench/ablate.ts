/**
 * `npm run bench:ablate`: copies of the built roomkv (dist/) with one part taken out, to run beside
 * it with `npm run bench -- --compare=dist-<name> --no-redis`. They are ceilings, not builds to
 * serve: each says what roomkv would read if that part cost nothing.
 *
 *   dist-no-store-writes    the SQLite store's set and delete answer every key as a success at once,
 *                           without SQL. Only the write workloads mean anything: the benchmark makes
 *                           its keys over HTTP too, so this target's rooms stay empty (the read
 *                           probes say so, and its read rows are not comparable).
 *   dist-no-observability   no CORS headers, no X-Request-Id header, and no per-request metrics, log
 *                           line or store timing: what the HTTP work costs without them.
 *
 * Each takes out its part by replacing exact lines of the compiled files; when a line is not found
 * exactly once (the source moved on), it stops rather than make a copy that measures something else.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Ablation {
  name: string;
  what: string;
  edits: Array<{ file: string; replace: string; with: string }>;
}

const ABLATIONS: Ablation[] = [
  {
    name: 'no-store-writes',
    what: "the SQLite store's set and delete answering at once, without SQL",
    edits: [
      {
        file: 'store/sqlite/sqlite-store.js',
        replace: '    async setAttributes(call) {\n',
        with: '    async setAttributes(call) {\n        return { successKeys: call.pairs.map((p) => p[0]), errorKeys: {} };\n',
      },
      {
        file: 'store/sqlite/sqlite-store.js',
        replace: '    async deleteAttributes(call) {\n',
        with: '    async deleteAttributes(call) {\n        return { successKeys: call.keys.slice(), errorKeys: {} };\n',
      },
    ],
  },
  {
    name: 'no-observability',
    what: 'no CORS headers, no X-Request-Id header, no per-request metrics, log line or store timing',
    edits: [
      { file: 'http/app.js', replace: 'const store = metrics.instrument(deps.store);', with: 'const store = deps.store;' },
      {
        file: 'http/app.js',
        replace: 'genReqId: () => randomUUID(),',
        with: 'genReqId: (() => { let n = 0; return () => String(++n); })(),',
      },
      { file: 'http/app.js', replace: 'await f.register(cors, {', with: 'if (false) await f.register(cors, {' },
      { file: 'http/app.js', replace: "f.addHook('onSend',", with: "if (false) f.addHook('onSend'," },
      { file: 'http/app.js', replace: "f.addHook('onResponse',", with: "if (false) f.addHook('onResponse'," },
    ],
  },
];

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

const dist = join(ROOT, 'dist');
if (!existsSync(join(dist, 'cli.js'))) throw new Error('no dist/cli.js: run `npm run build` first');
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || 'unknown';

for (const a of ABLATIONS) {
  const target = join(ROOT, `dist-${a.name}`);
  rmSync(target, { recursive: true, force: true });
  cpSync(dist, target, { recursive: true });
  for (const e of a.edits) {
    const file = join(target, e.file);
    const text = readFileSync(file, 'utf8');
    const n = occurrences(text, e.replace);
    if (n !== 1) {
      rmSync(target, { recursive: true, force: true });
      throw new Error(`dist-${a.name}: expected ${JSON.stringify(e.replace)} once in dist/${e.file}, found it ${n} times`);
    }
    writeFileSync(
      file,
      text.replace(e.replace, () => e.with),
    );
  }
  // The benchmark names a --compare build by this file.
  writeFileSync(join(target, 'COMMIT'), `${commit} with ${a.what} (ablation)\n`);
  console.log(`dist-${a.name}: ${a.what}`);
}
