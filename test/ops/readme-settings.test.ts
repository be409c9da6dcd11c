import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { describeSettings } from '../../src/config/config.js';

// The README's configuration table is what operators read: every setting, its flag and its default.
it("the README's configuration table names every setting, its flag and its default", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const missing = describeSettings()
    .filter((s) => {
      const flag = `--${s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      const shown = s.default === undefined ? '(none)' : `\`${String(s.default)}\``;
      return !readme.includes(`| \`${s.env}\` | \`${flag}\` | ${shown} |`);
    })
    .map((s) => s.env);
  assert.deepEqual(missing, []);
});
