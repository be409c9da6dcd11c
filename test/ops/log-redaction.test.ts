// A token in a query string never reaches the log, whatever spelling of its parameter's name the
// server's query parser decodes to access_token or token: `access%5Ftoken`, `%61ccess_token`,
// `ACCESS_TOKEN`, a repeated parameter. roomkv runs as its own process; the test reads its output.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { appToken, makeApp, tempDir, userToken, writeAppsFile } from '../support/apps.js';
import { call } from '../support/client.js';
import { spawnServer, type ChildServer } from '../support/server.js';
import { openStream } from '../support/sse.js';
import { waitFor } from './support.js';

/** The JSON lines of the server's output. */
function jsonLines(output: string): string[] {
  return output.split('\n').filter((l) => l.trim().startsWith('{'));
}

describe('query-string tokens in the log, under any spelling of the parameter name', () => {
  const app = makeApp();
  const prefix = `/${app.org}/${app.app}`;
  let server: ChildServer;
  let room: string;
  /** Each request sent, by its x-request-id: the secret in its URL, and what was sent. */
  const sent = new Map<string, { secret: string; what: string }>();

  before(async () => {
    server = await spawnServer({
      ROOMKV_STORE: 'sqlite',
      ROOMKV_LOG_LEVEL: 'info',
      ROOMKV_DATA_DIR: tempDir(),
      ROOMKV_APPS_FILE: writeAppsFile([app]),
    });
    const admin = appToken(app);
    assert.equal(
      (await call(server.url, 'POST', `${prefix}/users`, { token: admin, body: { username: 'ann', password: 'pw-123456' } })).status,
      200,
    );
    const made = await call(server.url, 'POST', `${prefix}/chatrooms`, {
      token: admin,
      body: { name: 'r', description: 'd', owner: 'ann' },
    });
    assert.equal(made.status, 200, made.text);
    room = made.body.data.id;
  });
  after(() => server?.stop());

  /** Query strings naming the secret's parameter in ways the query parser reads as access_token or token. */
  const spellings = (secret: string): Array<[string, string]> => [
    ['access%5Ftoken', `access%5Ftoken=${secret}`],
    ['%61ccess_token', `%61ccess_token=${secret}`],
    ['ACCESS_TOKEN', `ACCESS_TOKEN=${secret}`],
    ['every character encoded, lower-case hex', `${[...'access_token'].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}=${secret}`],
    ['%54oken', `since=0&%54oken=${secret}`],
    ['repeated', `access_token=a&x=1&access%5ftoken=${secret}&access_token=b`],
    ['repeated, the secret second', `token=x&%74oken=${secret}`],
  ];

  const leaks = (secrets: string[]) =>
    jsonLines(server.output()).filter((l) => secrets.some((s) => l.includes(s) || l.includes(encodeURIComponent(s))));

  it('leaves no such secret in any log line of an event stream or a plain call', async () => {
    const streamUrl = `${server.url}${prefix}/metadata/chatroom/${room}/events`;
    const plainUrl = `${server.url}${prefix}/users/ann`;
    for (const [what, makeQuery] of [
      ['event stream', streamUrl],
      ['plain call', plainUrl],
    ] as const) {
      for (const [spelling] of spellings('x')) {
        // A real token where the server reads one (the stream, without a header), a plain secret elsewhere.
        const secret = what === 'event stream' ? userToken(app, 'ann', 3600 + sent.size) : `SECRET${randomBytes(12).toString('hex')}`;
        const query = spellings(encodeURIComponent(secret)).find(([s]) => s === spelling)![1];
        const id = `redact-${randomBytes(8).toString('hex')}`;
        sent.set(id, { secret, what: `${what}, ${spelling}` });
        if (what === 'event stream') {
          const stream = await openStream(`${makeQuery}?${query}`, { headers: { 'X-Request-Id': id } });
          if (stream.status === 200) {
            await stream.next((m) => m.event === 'snapshot');
            stream.close();
            await stream.closed;
          }
        } else {
          const res = await call(server.url, 'GET', `${makeQuery.slice(server.url.length)}?${query}`, {
            token: appToken(app),
            headers: { 'X-Request-Id': id },
          });
          assert.equal(res.status, 200, res.text);
        }
      }
    }
    // The server does read `access%5Ftoken` as access_token: a stream opened with it is a real risk.
    const accepted = await openStream(
      `${server.url}${prefix}/metadata/chatroom/${room}/events?access%5Ftoken=${encodeURIComponent(userToken(app, 'ann'))}`,
    );
    assert.equal(accepted.status, 200, accepted.text);
    accepted.close();
    await accepted.closed;

    await waitFor('a log line for every request', () =>
      [...sent.keys()].every((id) => jsonLines(server.output()).some((l) => l.includes(`"reqId":"${id}"`))),
    );
    const found = leaks([...sent.values()].map((s) => s.secret));
    assert.deepEqual(found, [], `secrets in the log:\n${found.join('\n')}`);
    // The redacted URL still shows which parameter was there.
    const line = jsonLines(server.output()).find((l) => l.includes(`"reqId":"${[...sent.keys()][0]}"`))!;
    assert.match(line, /"url":"[^"]*\?access%5Ftoken=\[redacted\]"/);
  });
});
