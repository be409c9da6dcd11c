import type { Limits } from '../../src/domain/limits.js';
import { appToken, makeApp, userToken, type TestApp } from './apps.js';
import { client, type Client } from './client.js';
import { startTarget, type ServerHandle, type StartOptions, type Target } from './server.js';

export interface Fixture {
  server: ServerHandle;
  app: TestApp;
  /** App-token client under `/{org}/{app}`. */
  admin: Client;
  /** App-token client under `/app-id/{appId}`. */
  adminById: Client;
  /** A client acting with a 007 user token of `username`. */
  user(username: string): Client;
  createUsers(...names: string[]): Promise<void>;
  /** Creates a room owned by `owner` with `members`; returns its id. */
  createRoom(owner: string, members?: string[]): Promise<string>;
  close(): Promise<void>;
}

/** One app (with `overrides` to its declaration) on a fresh real server of `target`, with helpers to set up users and rooms. */
export async function startFixture(
  target: Target,
  limits?: Partial<Limits>,
  opts: StartOptions = {},
  overrides: Partial<TestApp> = {},
): Promise<Fixture> {
  const app = makeApp({ ...(limits ? { limits } : {}), ...overrides });
  const server = await startTarget(target, [app], opts);
  const token = appToken(app);
  const admin = client(server.url, `/${app.org}/${app.app}`, token);
  const fixture: Fixture = {
    server,
    app,
    admin,
    adminById: client(server.url, `/app-id/${app.appId}`, token),
    user: (username) => client(server.url, `/${app.org}/${app.app}`, userToken(app, username)),
    async createUsers(...names) {
      const res = await admin.call('POST', '/users', { body: names.map((username) => ({ username, password: 'pw-123456' })) });
      if (res.status !== 200) throw new Error(`createUsers: ${res.status} ${res.text}`);
    },
    async createRoom(owner, members = []) {
      const res = await admin.call('POST', '/chatrooms', { body: { name: 'room', description: 'test room', owner, members } });
      if (res.status !== 200) throw new Error(`createRoom: ${res.status} ${res.text}`);
      return res.body.data.id as string;
    },
    close: () => server.close(),
  };
  return fixture;
}
