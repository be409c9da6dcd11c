#!/usr/bin/env node
// Part of `npm run build`: tsc compiles the .ts files only, and the Redis store reads its Lua
// scripts at start from lua/ beside its compiled registry (src/store/redis/lua-registry.ts). This
// puts the .lua files there, replacing what an earlier build left, so a deleted script is gone
// from dist/ (and from the package) too.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/store/redis/lua/', import.meta.url));
const to = fileURLToPath(new URL('../dist/store/redis/lua/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith('.md') });
