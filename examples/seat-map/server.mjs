#!/usr/bin/env node
// The seat map's own small web server: it serves the page and roomkv/client, and stands for your
// app's backend, which knows the app's certificate: it mints each visitor a 007 user token, makes
// the visitor a user and a member of the room, and tells the page where roomkv is.
//
//   npm run build && npm start                      # roomkv, with its development app in ./data
//   node examples/seat-map/server.mjs               # then open http://127.0.0.1:8090/?user=alice
//
// Settings (env): ROOMKV_URL (http://127.0.0.1:8080), ROOMKV_APPS_FILE (./data/demo-app.json; its
// first app), PORT (8090), SEATMAP_ROOM (an existing room; else one is made at start).
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import agoraToken from 'agora-token';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const DIST_CLIENT = fileURLToPath(new URL('../../dist/client/', import.meta.url));
const TOKEN_TTL_S = 3600;
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/**
 * Starts the example's server. `clientFile(name)` gives the text of roomkv/client's `name`.js
 * (default: read from dist/client/, which `npm run build` writes).
 */
export async function startSeatMap({ roomkvUrl, app, port = 0, room, clientFile }) {
  const { ChatTokenBuilder } = agoraToken;
  const appToken = ChatTokenBuilder.buildAppToken(app.appId, app.appCertificate, TOKEN_TTL_S);
  const base = `${roomkvUrl.replace(/\/+$/, '')}/${app.org}/${app.app}`;
  const admin = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${appToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json() };
  };
  // Users are made as they come; an existing one answers 400 duplicate_unique_property_exists.
  const ensureUser = async (username) => {
    const made = await admin('POST', '/users', { username, password: `pw-${username}-${app.appId.slice(0, 8)}` });
    if (made.status !== 200 && made.body.error !== 'duplicate_unique_property_exists')
      throw new Error(`user ${username}: ${JSON.stringify(made.body)}`);
  };
  if (room === undefined) {
    await ensureUser('seatmap-host');
    const made = await admin('POST', '/chatrooms', { name: 'seat map', description: 'roomkv example', owner: 'seatmap-host' });
    if (made.status !== 200) throw new Error(`room: ${JSON.stringify(made.body)}`);
    room = made.body.data.id;
  }
  const readClient = clientFile ?? ((name) => readFile(join(DIST_CLIENT, `${name}.js`), 'utf8').catch(() => null));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status, type, text) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(text);
    };
    try {
      if (url.pathname === '/' || url.pathname === '/seat-map.js') {
        const file = url.pathname === '/' ? 'index.html' : 'seat-map.js';
        return send(200, TYPES[extname(file)], await readFile(join(HERE, file), 'utf8'));
      }
      const lib = /^\/roomkv-client\/([a-z-]+)\.js$/.exec(url.pathname);
      if (lib) {
        const text = await readClient(lib[1]);
        return text === null ? send(404, 'text/plain', 'not found (npm run build writes dist/client/)') : send(200, TYPES['.js'], text);
      }
      if (url.pathname === '/config')
        return send(200, 'application/json', JSON.stringify({ baseUrl: roomkvUrl, org: app.org, app: app.app, room }));
      if (url.pathname === '/token') {
        const user = (url.searchParams.get('user') ?? '').toLowerCase();
        if (!/^[a-z0-9_.-]{1,64}$/.test(user)) return send(400, 'text/plain', 'user: 1 to 64 of a-z 0-9 _ - .');
        await ensureUser(user);
        const joined = await admin('POST', `/chatrooms/${room}/users/${user}`);
        if (joined.status !== 200) throw new Error(`join: ${JSON.stringify(joined.body)}`);
        const token = ChatTokenBuilder.buildUserToken(app.appId, app.appCertificate, user, TOKEN_TTL_S);
        return send(200, 'application/json', JSON.stringify({ token, expiresAt: Date.now() + TOKEN_TTL_S * 1000 }));
      }
      send(404, 'text/plain', 'not found');
    } catch (err) {
      send(500, 'text/plain', String(err));
    }
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    room,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const appsFile = process.env.ROOMKV_APPS_FILE ?? './data/demo-app.json';
  const app = JSON.parse(await readFile(appsFile, 'utf8')).apps[0];
  const site = await startSeatMap({
    roomkvUrl: process.env.ROOMKV_URL ?? 'http://127.0.0.1:8080',
    app,
    port: Number(process.env.PORT ?? 8090),
    room: process.env.SEATMAP_ROOM,
  });
  console.log(`seat map of room ${site.room}: open ${site.url}/?user=alice and ${site.url}/?user=bob`);
}
