import type { AppRecord } from '../config/apps.js';
import type { RoomDump, UserDump } from '../store/types.js';
import { headerLine, line, roomLines, type Counts } from './transfer-format.js';

export interface AgoraSource {
  /** Base URL of the Agora Chat REST host, e.g. https://a41.chat.agora.io */
  host: string;
  org: string;
  app: string;
  clientId: string;
  clientSecret: string;
}

/**
 * A password hash that no password matches (verifyPassword knows only scrypt): Agora gives out no
 * passwords, so an imported user signs in through the inherit grant or a 007 user token.
 */
export const NO_PASSWORD = 'none$imported-from-agora';

/** What the import decides where Agora says nothing, for the README and the command's output. */
export const AGORA_CHOICES = [
  "Agora's get returns no owners: every imported attribute is owned by its chatroom's owner, with autoDelete NO_DELETE.",
  'Agora gives out no passwords: imported users get none that works; they sign in with the inherit grant (an app token) or a 007 user token.',
  "Chatroom ids, user uuids and creation times are kept; members keep Agora's order (owner first).",
];

/** Page sizes of Agora's three lists: their largest by default (tests pass small ones). */
export interface AgoraPages {
  users: number;
  rooms: number;
  members: number;
}
const PAGES: AgoraPages = { users: 100, rooms: 1000, members: 1000 };
const ATTEMPTS = 5;
const TIMEOUT_MS = 30_000;

interface Reply {
  [field: string]: unknown;
}

/** Agora's REST calls with an app token; 429 and 5xx answers are tried again with a growing pause. */
class AgoraClient {
  private token = '';
  constructor(private readonly src: AgoraSource) {}

  private url(path: string): string {
    return `${this.src.host.replace(/\/+$/, '')}/${encodeURIComponent(this.src.org)}/${encodeURIComponent(this.src.app)}${path}`;
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(this.url(path), {
        method,
        headers: {
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text) as Reply;
        } catch {
          throw new Error(`Agora ${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`);
        }
      }
      if ((res.status === 429 || res.status >= 500) && attempt < ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
        continue;
      }
      throw new Error(`Agora ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
  }

  async signIn(): Promise<void> {
    const reply = await this.call('POST', '/token', {
      grant_type: 'client_credentials',
      client_id: this.src.clientId,
      client_secret: this.src.clientSecret,
    });
    if (typeof reply.access_token !== 'string') throw new Error('Agora POST /token: no access_token in the answer');
    this.token = reply.access_token;
  }
}

const cursorOf = (reply: Reply) => (typeof reply.cursor === 'string' && reply.cursor !== '' ? reply.cursor : null);
const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? (v as Array<Record<string, unknown>>) : []);
const num = (v: unknown, fallback: number) =>
  typeof v === 'number' && Number.isSafeInteger(v) ? v : Number.isSafeInteger(Number(v)) && v !== '' && v !== null ? Number(v) : fallback;

async function fetchUsers(agora: AgoraClient, now: number, usersPage: number): Promise<UserDump[]> {
  const users: UserDump[] = [];
  for (let cursor: string | null = null; ;) {
    const reply = await agora.call('GET', `/users?limit=${usersPage}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const e of list(reply.entities)) {
      const created = num(e.created, now);
      users.push({
        username: String(e.username).toLowerCase(),
        uuid: String(e.uuid),
        passwordHash: NO_PASSWORD,
        created,
        modified: num(e.modified, created),
      });
    }
    cursor = cursorOf(reply);
    if (cursor === null || list(reply.entities).length === 0) return users;
  }
}

async function fetchRoomIds(agora: AgoraClient, roomsPage: number): Promise<string[]> {
  const ids: string[] = [];
  for (let cursor: string | null = null; ;) {
    const reply = await agora.call('GET', `/chatrooms?limit=${roomsPage}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    ids.push(...list(reply.data).map((r) => String(r.id)));
    cursor = cursorOf(reply);
    if (cursor === null || list(reply.data).length === 0) return ids;
  }
}

async function fetchRoom(agora: AgoraClient, id: string, membersPage: number): Promise<RoomDump> {
  const path = `/chatrooms/${encodeURIComponent(id)}`;
  const [d] = list((await agora.call('GET', path)).data);
  if (!d) throw new Error(`Agora GET ${path}: no chatroom in the answer`);
  const created = num(d.created, Date.now());
  const names: string[] = [];
  for (let page = 1; ; page++) {
    const data = list((await agora.call('GET', `${path}/users?pagenum=${page}&pagesize=${membersPage}`)).data);
    for (const m of data) names.push(String(m.owner ?? m.member).toLowerCase());
    if (data.length < membersPage) break;
  }
  const owner = String(d.owner).toLowerCase();
  const map = (await agora.call('POST', `/metadata/chatroom/${encodeURIComponent(id)}`, {})).data as Record<string, unknown> | undefined;
  return {
    id,
    name: String(d.name ?? ''),
    description: String(d.description ?? ''),
    owner,
    maxusers: num(d.maxusers, 10_000),
    created,
    // Agora tells no join times: one ms apart from the room's creation keeps its order.
    members: [...new Set(names)].map((username, i) => ({ username, joined: created + i })),
    attributes: Object.entries(map ?? {}).map(([key, value]) => ({
      key,
      value: value as string,
      owner,
      autoDelete: 'NO_DELETE' as const,
      revision: null,
      expiresAt: null,
    })),
  };
}

/**
 * Reads an Agora app (users, chatrooms, members, attributes) through Agora's own REST calls and
 * yields it in the export format, as the app `into`: what importTransfer then checks and writes.
 */
export async function* agoraLines(
  src: AgoraSource,
  into: AppRecord,
  roomkvVersion: string,
  log: (text: string) => void,
  pages: AgoraPages = PAGES,
): AsyncGenerator<string> {
  const agora = new AgoraClient(src);
  await agora.signIn();
  const users = (await fetchUsers(agora, Date.now(), pages.users)).sort((a, b) => (a.username < b.username ? -1 : 1));
  const ids = await fetchRoomIds(agora, pages.rooms);
  log(`Agora ${src.org}#${src.app}: ${users.length} users, ${ids.length} chatrooms; reading each chatroom`);
  const counts: Counts = { users: users.length, rooms: 0, members: 0, attributes: 0 };
  yield headerLine(roomkvVersion);
  yield line({ type: 'app', app: into.appKey, appId: into.appId });
  for (const u of users) yield line({ type: 'user', ...u });
  for (const id of [...new Set(ids)]) {
    const room = await fetchRoom(agora, id, pages.members);
    counts.rooms++;
    counts.members += room.members.length;
    counts.attributes += room.attributes.length;
    for (const text of roomLines(room).split('\n')) if (text !== '') yield text;
  }
  yield line({ type: 'end', ...counts });
}
