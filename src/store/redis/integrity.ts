import { pairBytes } from '../../domain/attributes.js';
import type { IntegrityScope } from '../types.js';
import type { RedisClient } from './redis-store.js';

/** The store's key names (their layout: lua/README.md), and a scan of its keys on every master. */
export interface IntegrityKeys {
  room(appId: string, roomId: string): { room: string; members: string; attrs: string; meta: string };
  auto(appId: string, roomId: string, owner: string): string;
  log(appId: string, roomId: string): string;
  /** The room's expiry index (B:exp): key -> expiresAt. */
  expiry(appId: string, roomId: string): string;
  user(appId: string, username: string): string;
  userRooms(appId: string, username: string): string;
  usage(appId: string): string;
  /** The keys matching `pattern` after the prefix, without the prefix. */
  scan(pattern: string): Promise<string[]>;
}

/** What a hash tag `{app:room}` or `{app}` at the start of a key names. */
function tagOf(key: string): { app: string; room?: string } | null {
  if (!key.startsWith('{')) return null;
  const tag = key.slice(1, key.indexOf('}'));
  const colon = tag.indexOf(':');
  return colon < 0 ? { app: tag } : { app: tag.slice(0, colon), room: tag.slice(colon + 1) };
}

/**
 * Store.integrityCheck on Redis. Plain reads, key by key: the store at rest is what it checks. A
 * scan of the app's keys finds its rooms, including the ones that no longer exist but left
 * something behind, and every autoDelete set of a room.
 */
export async function redisIntegrity(r: RedisClient, keys: IntegrityKeys, scope: IntegrityScope | undefined): Promise<string[]> {
  if (scope?.roomId !== undefined) return roomProblems(r, keys, scope.appId, scope.roomId, []);
  let apps = scope === undefined ? [] : [scope.appId];
  if (scope === undefined) apps = [...new Set((await keys.scan('{*')).map((k) => tagOf(k)?.app).filter((a) => a !== undefined))];
  const problems: string[] = [];
  for (const app of apps) problems.push(...(await appProblems(r, keys, app)));
  return problems;
}

async function appProblems(r: RedisClient, keys: IntegrityKeys, app: string): Promise<string[]> {
  const autoOwners = new Map<string, string[]>();
  const autoMark = `:auto:`;
  for (const key of await keys.scan(`{${app}:*}:*`)) {
    const room = tagOf(key)?.room;
    if (room === undefined) continue;
    const owners = autoOwners.get(room) ?? [];
    const at = key.indexOf(autoMark, key.indexOf('}'));
    if (at >= 0) owners.push(key.slice(at + autoMark.length));
    autoOwners.set(room, owners);
  }
  const problems: string[] = [];
  let total = 0;
  for (const [room, owners] of autoOwners) {
    problems.push(...(await roomProblems(r, keys, app, room, owners)));
    for (const meta of Object.values(await r.hgetall(keys.room(app, room).meta))) total += Number(meta.split('|')[2]);
  }
  const counted = Number((await r.get(keys.usage(app))) ?? 0);
  if (total !== counted) problems.push(`app ${app}: attributes hold ${total} bytes, usage says ${counted}`);
  return problems;
}

async function roomProblems(r: RedisClient, keys: IntegrityKeys, app: string, room: string, autoOwners: string[]): Promise<string[]> {
  const where = `app ${app} room ${room}`;
  const k = keys.room(app, room);
  const [exists, attrs, metas, members, seq, newest] = await Promise.all([
    r.exists(k.room),
    r.hgetall(k.attrs),
    r.hgetall(k.meta),
    r.zrange(k.members, 0, -1),
    r.hget(k.room, 'seq'),
    r.xrevrange(keys.log(app, room), '+', '-', 'COUNT', 1),
  ]);
  const problems: string[] = [];
  if (!exists) {
    const held = [Object.keys(attrs).length, Object.keys(metas).length, members.length, autoOwners.length];
    if (held.some((n) => n > 0)) {
      problems.push(
        `${where}: no such room, yet it holds ${held[0]} attributes, ${held[1]} owner records, ${held[2]} members and ${held[3]} autoDelete sets`,
      );
    }
    return problems;
  }
  const parsed = new Map<string, { owner: string; auto: string }>();
  for (const [key, value] of Object.entries(attrs)) {
    const meta = metas[key];
    if (meta === undefined) {
      problems.push(`${where}: attribute ${key} has no owner record`);
      continue;
    }
    // A part missing reads as '' (split gives the first one always): the check below reports it.
    const [owner = '', auto = '', bytes] = meta.split('|');
    if (owner === '' || (auto !== '0' && auto !== '1')) problems.push(`${where}: attribute ${key} has a malformed owner record '${meta}'`);
    if (Number(bytes) !== pairBytes(key, value))
      problems.push(`${where}: attribute ${key} is recorded as ${bytes} bytes, holds ${pairBytes(key, value)}`);
    parsed.set(key, { owner, auto });
  }
  for (const key of Object.keys(metas)) if (!(key in attrs)) problems.push(`${where}: owner record of ${key} has no attribute`);
  const owners = new Set([...autoOwners, ...members, ...[...parsed.values()].map((m) => m.owner)]);
  for (const owner of owners) {
    const auto = new Set(await r.smembers(keys.auto(app, room, owner)));
    for (const key of auto) {
      const m = parsed.get(key);
      if (m?.owner !== owner || m.auto !== '1') problems.push(`${where}: the autoDelete set of ${owner} lists ${key}`);
    }
    for (const [key, m] of parsed) {
      if (m.owner === owner && m.auto === '1' && !auto.has(key))
        problems.push(`${where}: ${key} (DELETE) is missing from the autoDelete set of ${owner}`);
    }
  }
  for (const u of members) {
    const [isUser, indexed] = await Promise.all([r.exists(keys.user(app, u)), r.sismember(keys.userRooms(app, u), room)]);
    if (!isUser) problems.push(`${where}: member ${u} is not a user`);
    else if (!indexed) problems.push(`${where}: the room index of member ${u} does not name the room`);
  }
  // The expiry index lists exactly the keys whose owner record has an expiry, at that time.
  const expiry = new Map<string, string>();
  const flat = await r.zrange(keys.expiry(app, room), 0, -1, 'WITHSCORES');
  for (let i = 0; i + 1 < flat.length; i += 2) expiry.set(flat[i]!, flat[i + 1]!);
  for (const [key, meta] of Object.entries(metas)) {
    const at = meta.split('|')[4] ?? '';
    if ((expiry.get(key) ?? '') !== at)
      problems.push(`${where}: ${key} expires at '${at}', its expiry index says '${expiry.get(key) ?? ''}'`);
  }
  for (const key of expiry.keys()) if (!(key in metas)) problems.push(`${where}: the expiry index lists ${key}, which is not stored`);
  const [latest] = newest;
  const logged = latest !== undefined ? Number(latest[0].slice(2)) : 0;
  if (Number(seq ?? 0) < logged) problems.push(`${where}: seq ${seq ?? 0} is behind its newest logged event ${logged}`);
  return problems;
}
