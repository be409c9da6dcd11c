/**
 * The benchmark's baseline: a minimal Fastify server with roomkv's five attribute routes. It
 * parses the JSON body and answers a canned success envelope of about roomkv's size: no auth, no
 * store, no logging. What roomkv adds on top of this is what the ratios measure.
 *
 *   PORT=8081 node --import tsx bench/baseline-server.ts
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { BASE_KEYS, baseKey } from './common.js';

const port = Number(process.env.PORT ?? 8081);
const f = Fastify({ logger: false });

const APPLICATION = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
/** A canned map like a room's 20 attributes. */
const CANNED: Record<string, string> = {};
for (let i = 0; i < BASE_KEYS; i++) CANNED[baseKey(i)] = `value-of-${baseKey(i)}-000000`;

interface Params {
  org: string;
  app: string;
  chatroomId: string;
  username?: string;
}

function envelope(req: FastifyRequest, reply: FastifyReply, data: unknown) {
  const p = req.params as Params;
  return reply
    .code(200)
    .type('application/json')
    .send({
      uri: `http://${req.headers.host ?? 'localhost'}/${p.org}/${p.app}/metadata/chatroom`,
      timestamp: Date.now(),
      organization: p.org,
      application: APPLICATION,
      applicationName: p.app,
      action: req.method.toLowerCase(),
      duration: 0,
      data,
    });
}

const set = async (req: FastifyRequest, reply: FastifyReply) => {
  const body = req.body as { metaData?: Record<string, unknown>; increment?: Record<string, number> } | undefined;
  if (body?.increment !== undefined) {
    // A counter's answer carries the new values (spec section 10): one of about the same size.
    const values = Object.fromEntries(Object.keys(body.increment).map((k) => [k, '1024']));
    return envelope(req, reply, { successKeys: Object.keys(values), errorKeys: {}, values });
  }
  return envelope(req, reply, { successKeys: Object.keys(body?.metaData ?? {}), errorKeys: {} });
};

const del = async (req: FastifyRequest, reply: FastifyReply) => {
  const body = req.body as { keys?: string[] } | undefined;
  return envelope(req, reply, { successKeys: body?.keys ?? [], errorKeys: {} });
};

const get = async (req: FastifyRequest, reply: FastifyReply) => {
  const body = req.body as { keys?: string[] | null } | undefined;
  const keys = body?.keys;
  if (!keys || keys.length === 0) return envelope(req, reply, CANNED);
  const data: Record<string, string> = {};
  for (const k of keys) if (k in CANNED) data[k] = CANNED[k]!;
  return envelope(req, reply, data);
};

const base = '/:org/:app/metadata/chatroom/:chatroomId';
f.post(base, get);
f.put(`${base}/user/:username`, set);
f.delete(`${base}/user/:username`, del);
f.put(`${base}/user/:username/forced`, set);
f.delete(`${base}/user/:username/forced`, del);

await f.listen({ port, host: '127.0.0.1' });
const stop = () => {
  void f.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
