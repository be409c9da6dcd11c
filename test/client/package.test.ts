// roomkv/client as a package entry: importable as `roomkv/client` from the built dist/, standalone
// (it imports nothing outside src/client: no runtime dependency, no Node module), and compiling
// with nothing but the ECMAScript library and the timer functions every host has, so it needs no
// DOM or Node types in browsers and mini-programs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'src/client');
const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));

it('package.json exports ./client from dist/client with its types, and the build compiles src/ into dist/', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./client'], { types: './dist/client/index.d.ts', default: './dist/client/index.js' });
  const build = ts.readConfigFile(join(ROOT, 'tsconfig.build.json'), ts.sys.readFile).config;
  assert.deepEqual([build.compilerOptions.rootDir, build.compilerOptions.outDir, build.compilerOptions.declaration], ['src', 'dist', true]);
  assert.ok((build.include as string[]).includes('src'));
});

it('src/client imports only its own files', () => {
  for (const f of files) {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const m of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)) {
      const spec = m[1] ?? m[2]!;
      assert.match(spec, /^\.\/[a-z-]+\.js$/, `${f} imports ${spec}`);
      assert.ok(files.includes(spec.slice(2).replace(/\.js$/, '.ts')), `${f} imports ${spec}, which is not in src/client`);
    }
    assert.doesNotMatch(text, /\b(process|Buffer|require|NodeJS|window|document)\b\s*[.([]/, `${f} uses a host-specific global`);
    assert.doesNotMatch(text, /new URL\(/, `${f} uses URL, which mini-programs may lack`);
  }
});

it('compiles with the ECMAScript library and the timer functions only, declarations included', () => {
  const timers = 'timers.d.ts';
  const hostTimers = `
    declare function setTimeout(fn: () => void, ms?: number): unknown;
    declare function clearTimeout(t: unknown): void;
    declare function setInterval(fn: () => void, ms?: number): unknown;
    declare function clearInterval(t: unknown): void;`;
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    declaration: true,
    outDir: '/out',
  };
  const host = ts.createCompilerHost(options);
  const emitted = new Map<string, string>();
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.readFile = (name) => (name.endsWith(timers) ? hostTimers : read(name));
  host.fileExists = (name) => name.endsWith(timers) || exists(name);
  host.writeFile = (name, text) => emitted.set(name, text);
  const program = ts.createProgram([join(DIR, 'index.ts'), join(DIR, timers)], options, host);
  const result = program.emit();
  const problems = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics].map((d) =>
    ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  );
  assert.deepEqual(problems, []);
  assert.ok(emitted.has('/out/index.js') && emitted.has('/out/index.d.ts'), [...emitted.keys()].join(', '));
  for (const [name, text] of emitted) if (name.endsWith('.d.ts')) assert.doesNotMatch(text, /NodeJS\.|from 'node:|types="node"/, name);
});
