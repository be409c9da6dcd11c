import { Command } from 'ioredis';
import type { LuaScript } from './lua-registry.js';
import type { RedisClient } from './redis-store.js';

const NO_ARGS: never[] = [];

/**
 * An EVALSHA (or EVAL) whose arguments are handed over as they are. ioredis's own scripted
 * commands copy the arguments three times, flatten them with `Array.prototype.flat` (about 2 µs
 * for the 30 arguments of a set, timed alone) and give every command a new reject closure. The
 * arguments here are already a flat list, so the command keeps the list it is given. In the
 * benchmark's full run this took 1-9 µs off a Redis call's median server CPU, depending on the
 * workload (bench/results/latest.md).
 */
class ScriptCommand extends Command {
  constructor(name: 'evalsha' | 'eval', args: Array<string | number>) {
    super(name, NO_ARGS, { replyEncoding: 'utf8' });
    // What Command does to the arguments it is given: numbers are sent as their decimal text.
    for (let i = 0; i < args.length; i++) if (typeof args[i] !== 'string') args[i] = String(args[i]);
    this.args = args;
  }
}

/**
 * A Lua script of the registry (lua-registry.ts) run by its SHA; when Redis does not have it
 * (NOSCRIPT: a new or flushed server), the same call is sent again with the script's text, which
 * loads it. As ioredis's `defineCommand`: `numberOfKeys` null means the caller passes the key count
 * first. It assumes what roomkv's client is: no ioredis `keyPrefix` (roomkv writes its prefix into
 * the keys) and arguments that are strings or numbers.
 */
export function scriptRunner(client: RedisClient, script: LuaScript): (...args: Array<string | number>) => Promise<unknown> {
  // The rest parameter is a fresh array: the owned-arguments runner may take it as it is.
  const run = ownedArgsRunner(client, script);
  return (...args) => run(args);
}

/**
 * As scriptRunner, for the hot write scripts: the runner takes the caller's argument array as it
 * is and owns it from then on (it puts the SHA, and the key count when the script fixes one, in
 * front), so that the arguments of a write are not copied again on their way to the socket.
 */
export function ownedArgsRunner(client: RedisClient, script: LuaScript): (args: Array<string | number>) => Promise<unknown> {
  const { sha, text: lua, numberOfKeys } = script;
  return (args) => {
    if (numberOfKeys !== null) args.unshift(numberOfKeys);
    args.unshift(sha);
    return (client.sendCommand(new ScriptCommand('evalsha', args)) as Promise<unknown>).catch((err: Error) => {
      if (typeof err?.message !== 'string' || !err.message.startsWith('NOSCRIPT')) throw err;
      // The EVALSHA is answered (NOSCRIPT): its arguments are free to go out again, with the text.
      args[0] = lua;
      return client.sendCommand(new ScriptCommand('eval', args)) as Promise<unknown>;
    });
  };
}
