import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Every Lua script roomkv sends to Redis, read once when this module loads from `lua/` beside it
 * (src/ under tsx, dist/ after the build, which copies the files: scripts/copy-lua.mjs). What the
 * scripts do, the keys they touch and the directives below: lua/README.md.
 */

/** A script ready to run: the text sent to Redis (includes expanded) and its SHA1 for EVALSHA. */
export interface LuaScript {
  readonly name: LuaName;
  readonly file: string;
  readonly text: string;
  readonly sha: string;
  /** How many arguments are keys; null when it varies and the caller passes the count first. */
  readonly numberOfKeys: number | null;
}

/** The registered scripts, by the name the code calls them, and their files under lua/. */
const FILES = {
  APPLY_SET: 'apply-set.lua',
  APPLY_DELETE: 'apply-delete.lua',
  READ_ATTRS: 'read-attrs.lua',
  READ_DETAIL: 'read-detail.lua',
  CREATE_ROOM: 'create-room.lua',
  ADD_MEMBERS: 'add-members.lua',
  READ_MEMBERS: 'read-members.lua',
  REMOVE_MEMBERS: 'remove-members.lua',
  DESTROY_ROOM: 'destroy-room.lua',
  CREATE_USERS: 'create-users.lua',
  READ_EVENTS: 'read-events.lua',
  SNAPSHOT: 'snapshot.lua',
  OB_CLAIM: 'ob-claim.lua',
  OB_FINISH: 'ob-finish.lua',
  OB_RETRY: 'ob-retry.lua',
  DUMP_ROOM: 'dump-room.lua',
  RESTORE_ROOM: 'restore-room.lua',
  RESTORE_USERS: 'restore-users.lua',
  RAISE_COUNTER: 'raise-counter.lua',
  EXPIRE_ROOM: 'expire-room.lua',
  RATE_LEASE: 'rate-lease.lua',
  PRES_SET: 'pres-set.lua',
  PRES_SWEEP: 'pres-sweep.lua',
  PRES_READ: 'pres-read.lua',
  PRES_ONLINE: 'pres-online.lua',
  PRES_UNDUE: 'pres-undue.lua',
  PRES_FORGET: 'pres-forget.lua',
} as const;

export type LuaName = keyof typeof FILES;

/** Where the files are: a URL, so it resolves the same from src/ and from dist/. */
export const LUA_DIR = new URL('./lua/', import.meta.url);

const INCLUDE = /^--! include ([a-z0-9-]+)[ \t]*$/gm;
const KEYS = /^--! keys (\d+|\*)[ \t]*$/m;
const DIRECTIVE = /^--!.*$/gm;
const KNOWN = /^--! (keys (\d+|\*)|include [a-z0-9-]+)[ \t]*$/;

/** `--! include NAME` lines replaced by lua/lib/NAME.lua; a snippet includes nothing itself. */
function expandIncludes(text: string, file: string): string {
  return text.replace(INCLUDE, (_, name: string) => {
    const lib = read(`lib/${name}.lua`);
    if (/^--! include /m.test(lib))
      throw new Error(`lua/lib/${name}.lua (included by ${file}) includes another snippet: snippets include nothing`);
    return lib.trimEnd();
  });
}

function read(file: string): string {
  try {
    return readFileSync(new URL(file, LUA_DIR), 'utf8');
  } catch (err) {
    // dist/ built by tsc alone has no .lua files: say where they should be and what puts them there.
    throw new Error(
      `cannot read the Lua script ${fileURLToPath(new URL(file, LUA_DIR))} (npm run build copies them with scripts/copy-lua.mjs)`,
      { cause: err },
    );
  }
}

function load(name: LuaName): LuaScript {
  const file = FILES[name];
  const source = read(file);
  // A mistyped directive would otherwise stay a comment, and the script fail on its first call.
  for (const [line] of source.matchAll(DIRECTIVE)) {
    if (!KNOWN.test(line)) throw new Error(`lua/${file}: unknown directive '${line}'`);
  }
  const keys = KEYS.exec(source);
  if (!keys) throw new Error(`lua/${file} has no '--! keys N' (or '--! keys *') line`);
  const text = expandIncludes(source, file);
  return {
    name,
    file,
    text,
    sha: createHash('sha1').update(text).digest('hex'),
    numberOfKeys: keys[1] === '*' ? null : Number(keys[1]),
  };
}

function loadAll(): Readonly<Record<LuaName, LuaScript>> {
  const all = {} as Record<LuaName, LuaScript>;
  for (const name of Object.keys(FILES) as LuaName[]) all[name] = Object.freeze(load(name));
  return Object.freeze(all);
}

/** Every script, loaded when roomkv starts: a missing or broken file stops it there, not on a first call. */
export const LUA = loadAll();
