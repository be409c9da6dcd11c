// The official web SDK (agora-chat@1.4.0) driving roomkv from Node: what it sends, and how it reads
// roomkv's answers (spec section 8). SQLite only: this checks the wire format, not the store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { makeApp, userToken } from '../support/apps.js';
import { at } from '../support/at.js';
import { startFixture, type Fixture } from '../support/fixture.js';
import { sqliteTarget } from '../support/server.js';
import { createSdkConnection, type RecordedRequest, type SdkConnection } from '../support/web-sdk.js';

const MISSING_ROOM = '999999999';

/** The same 007 token with one byte of its signature flipped: well-formed, wrongly signed. */
function forgeSignature(token: string): string {
  const content = inflateSync(Buffer.from(token.slice(3), 'base64'));
  const sigLength = content.readUInt16LE(0);
  assert.ok(sigLength > 0);
  content[2]! ^= 0x01;
  return `007${deflateSync(content).toString('base64')}`;
}

describe('official web SDK agora-chat@1.4.0 [sqlite]', () => {
  let fx: Fixture;
  let alice: SdkConnection;
  let bob: SdkConnection;
  const tokens: Record<string, string> = {};
  const extra: SdkConnection[] = [];

  const connect = (userId: string, accessToken: string) =>
    createSdkConnection({ apiUrl: fx.server.url, org: fx.app.org, app: fx.app.app, userId, accessToken });

  /** Runs one SDK call and returns its outcome with the requests it sent. */
  async function sdk<T>(c: SdkConnection, run: (conn: any) => Promise<T>): Promise<{ result?: T; error?: any; sent: RecordedRequest[] }> {
    const mark = c.requests.length;
    try {
      const result = await run(c.conn);
      return { result, sent: c.requests.slice(mark) };
    } catch (error) {
      return { error, sent: c.requests.slice(mark) };
    }
  }

  const attrUrl = (room: string, user?: string, forced = false) =>
    `${fx.server.url}/${fx.app.org}/${fx.app.app}/metadata/chatroom/${room}${user ? `/user/${user}` : ''}${forced ? '/forced' : ''}`;

  function assertSent(sent: RecordedRequest[], user: string, method: string, url: string, body: unknown): void {
    assert.equal(sent.length, 1, JSON.stringify(sent));
    const req = at(sent, 0);
    assert.equal(req.method, method);
    assert.equal(req.url, url);
    assert.equal(req.headers.Authorization, `Bearer ${tokens[user]}`);
    assert.equal(req.headers['Content-Type'], 'application/json');
    assert.equal(req.body, JSON.stringify(body));
  }

  async function stored(room: string): Promise<Record<string, string>> {
    const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`);
    assert.equal(res.status, 200, res.text);
    return { ...res.body.data };
  }

  /** Who owns `key`: the owner's normal set of the same value succeeds, anyone else's is refused. */
  async function ownerSetResult(room: string, user: string, key: string, value: string) {
    const res = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}`, {
      body: { metaData: { [key]: value }, autoDelete: 'NO_DELETE' },
    });
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  before(async () => {
    fx = await startFixture(sqliteTarget, { rateLimitPerSecond: 10_000 });
    await fx.createUsers('alice', 'bob');
    tokens.alice = userToken(fx.app, 'alice');
    tokens.bob = userToken(fx.app, 'bob');
    alice = await connect('alice', tokens.alice);
    bob = await connect('bob', tokens.bob);
  });
  after(async () => {
    for (const c of [alice, bob, ...extra]) c?.close();
    await fx?.close();
  });

  it('setChatRoomAttributes stores several keys and resolves success with successKeys', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    const out = await sdk(alice, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { seat1: 'alice', seat2: '' } }));
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assertSent(out.sent, 'alice', 'PUT', attrUrl(room, 'alice'), { metaData: { seat1: 'alice', seat2: '' }, autoDelete: 'DELETE' });
    assert.deepEqual(out.result, { data: { status: 'success', errorKeys: {}, successKeys: ['seat1', 'seat2'] }, type: 0 });
    assert.deepEqual(await stored(room), { seat1: 'alice', seat2: '' });
    assert.deepEqual(await ownerSetResult(room, 'bob', 'seat1', 'bob'), {
      successKeys: [],
      errorKeys: { seat1: "key 'seat1' is not part of you" },
    });
  });

  it('getChatRoomAttributes returns the listed keys that exist, or every key when none are listed', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    await ownerSetResult(room, 'alice', 'g1', 'one');
    await ownerSetResult(room, 'bob', 'g2', 'two');

    const some = await sdk(bob, (c) => c.getChatRoomAttributes({ chatRoomId: room, attributeKeys: ['g1', 'missing'] }));
    assert.equal(some.error, undefined, JSON.stringify(some.error));
    assertSent(some.sent, 'bob', 'POST', attrUrl(room), { keys: ['g1', 'missing'] });
    assert.deepEqual(some.result, { data: { g1: 'one' }, type: 0 });

    const all = await sdk(alice, (c) => c.getChatRoomAttributes({ chatRoomId: room }));
    assert.equal(all.error, undefined, JSON.stringify(all.error));
    assertSent(all.sent, 'alice', 'POST', attrUrl(room), {});
    assert.equal(at(all.sent, 0).body, '{}');
    assert.deepEqual(all.result, { data: { g1: 'one', g2: 'two' }, type: 0 });
  });

  it('removeChatRoomAttributes removes its own keys and resolves success', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    await ownerSetResult(room, 'alice', 'r1', '1');
    await ownerSetResult(room, 'alice', 'r2', '2');
    await ownerSetResult(room, 'alice', 'r3', '3');
    const out = await sdk(alice, (c) => c.removeChatRoomAttributes({ chatRoomId: room, attributeKeys: ['r1', 'r2'] }));
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assertSent(out.sent, 'alice', 'DELETE', attrUrl(room, 'alice'), { keys: ['r1', 'r2'] });
    assert.deepEqual(out.result, { data: { status: 'success', errorKeys: {}, successKeys: ['r1', 'r2'] }, type: 0 });
    assert.deepEqual(await stored(room), { r3: '3' });
  });

  it("forced set takes over another member's key; forced remove deletes it whoever set it", async () => {
    const room = await fx.createRoom('alice', ['bob']);
    await ownerSetResult(room, 'alice', 'host', 'alice');

    const set = await sdk(bob, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { host: 'bob' }, isForced: true }));
    assert.equal(set.error, undefined, JSON.stringify(set.error));
    assertSent(set.sent, 'bob', 'PUT', attrUrl(room, 'bob', true), { metaData: { host: 'bob' }, autoDelete: 'DELETE' });
    assert.deepEqual(set.result, { data: { status: 'success', errorKeys: {}, successKeys: ['host'] }, type: 0 });
    assert.deepEqual(await stored(room), { host: 'bob' });
    // bob owns it now
    const aliceTry = await sdk(alice, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { host: 'alice' } }));
    assert.deepEqual(aliceTry.result, {
      data: { status: 'fail', errorKeys: { host: "key 'host' is not part of you" }, successKeys: [] },
      type: 0,
    });

    const rm = await sdk(alice, (c) => c.removeChatRoomAttributes({ chatRoomId: room, attributeKeys: ['host'], isForced: true }));
    assert.equal(rm.error, undefined, JSON.stringify(rm.error));
    assertSent(rm.sent, 'alice', 'DELETE', attrUrl(room, 'alice', true), { keys: ['host'] });
    assert.deepEqual(rm.result, { data: { status: 'success', errorKeys: {}, successKeys: ['host'] }, type: 0 });
    assert.deepEqual(await stored(room), {});
  });

  it('single-key setChatRoomAttribute and removeChatRoomAttribute resolve with no value', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    const set = await sdk(bob, (c) => c.setChatRoomAttribute({ chatRoomId: room, attributeKey: 'mic', attributeValue: 'on' }));
    assert.equal(set.error, undefined, JSON.stringify(set.error));
    assert.equal(set.result, undefined);
    assertSent(set.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { mic: 'on' }, autoDelete: 'DELETE' });
    assert.deepEqual(await stored(room), { mic: 'on' });

    const forced = await sdk(alice, (c) =>
      c.setChatRoomAttribute({ chatRoomId: room, attributeKey: 'mic', attributeValue: 'off', isForced: true }),
    );
    assert.equal(forced.error, undefined, JSON.stringify(forced.error));
    assertSent(forced.sent, 'alice', 'PUT', attrUrl(room, 'alice', true), { metaData: { mic: 'off' }, autoDelete: 'DELETE' });
    assert.deepEqual(await stored(room), { mic: 'off' });

    const rm = await sdk(alice, (c) => c.removeChatRoomAttribute({ chatRoomId: room, attributeKey: 'mic' }));
    assert.equal(rm.error, undefined, JSON.stringify(rm.error));
    assert.equal(rm.result, undefined);
    assertSent(rm.sent, 'alice', 'DELETE', attrUrl(room, 'alice'), { keys: ['mic'] });
    assert.deepEqual(await stored(room), {});
  });

  it('sends autoDelete false as NO_DELETE, and that key outlives its owner leaving the room', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    const keep = await sdk(bob, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { keep: 'bob' }, autoDelete: false }));
    assert.equal(keep.error, undefined, JSON.stringify(keep.error));
    assertSent(keep.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { keep: 'bob' }, autoDelete: 'NO_DELETE' });
    const keep2 = await sdk(bob, (c) =>
      c.setChatRoomAttribute({ chatRoomId: room, attributeKey: 'keep2', attributeValue: 'bob', autoDelete: false }),
    );
    assert.equal(keep2.error, undefined, JSON.stringify(keep2.error));
    assertSent(keep2.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { keep2: 'bob' }, autoDelete: 'NO_DELETE' });
    const temp = await sdk(bob, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { temp: 'bob' }, autoDelete: true }));
    assertSent(temp.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { temp: 'bob' }, autoDelete: 'DELETE' });
    assert.deepEqual(await stored(room), { keep: 'bob', keep2: 'bob', temp: 'bob' });

    const leave = await fx.admin.call('DELETE', `/chatrooms/${room}/users/bob`);
    assert.equal(leave.status, 200, leave.text);
    assert.deepEqual(await stored(room), { keep: 'bob', keep2: 'bob' });
  });

  it("rejects a single-key set of another member's key with type 52", async () => {
    const room = await fx.createRoom('alice', ['bob']);
    await ownerSetResult(room, 'alice', 'seat', 'alice');
    const out = await sdk(bob, (c) => c.setChatRoomAttribute({ chatRoomId: room, attributeKey: 'seat', attributeValue: 'bob' }));
    assert.ok(out.error, 'the promise should reject');
    assert.equal(out.error.type, 52);
    assert.equal(out.error.message, "key 'seat' is not part of you");
    assertSent(out.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { seat: 'bob' }, autoDelete: 'DELETE' });
    assert.deepEqual(await stored(room), { seat: 'alice' });

    const rm = await sdk(bob, (c) => c.removeChatRoomAttribute({ chatRoomId: room, attributeKey: 'seat' }));
    assert.ok(rm.error, 'the promise should reject');
    assert.equal(rm.error.type, 52);
    assert.deepEqual(await stored(room), { seat: 'alice' });
  });

  it('resolves a multi-key set with one foreign key as status "fail" with errorKeys, storing the rest', async () => {
    const room = await fx.createRoom('alice', ['bob']);
    await ownerSetResult(room, 'alice', 'seat', 'alice');
    const out = await sdk(bob, (c) => c.setChatRoomAttributes({ chatRoomId: room, attributes: { seat: 'bob', mine: 'bob' } }));
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assertSent(out.sent, 'bob', 'PUT', attrUrl(room, 'bob'), { metaData: { seat: 'bob', mine: 'bob' }, autoDelete: 'DELETE' });
    assert.deepEqual(out.result, {
      data: { status: 'fail', errorKeys: { seat: "key 'seat' is not part of you" }, successKeys: ['mine'] },
      type: 0,
    });
    assert.deepEqual(await stored(room), { seat: 'alice', mine: 'bob' });
  });

  it('rejects calls on a chatroom that does not exist with type 705', async () => {
    const calls: Array<[string, (c: any) => Promise<unknown>]> = [
      ['setChatRoomAttributes', (c) => c.setChatRoomAttributes({ chatRoomId: MISSING_ROOM, attributes: { a: '1' } })],
      ['setChatRoomAttribute', (c) => c.setChatRoomAttribute({ chatRoomId: MISSING_ROOM, attributeKey: 'a', attributeValue: '1' })],
      ['getChatRoomAttributes', (c) => c.getChatRoomAttributes({ chatRoomId: MISSING_ROOM })],
      ['removeChatRoomAttributes', (c) => c.removeChatRoomAttributes({ chatRoomId: MISSING_ROOM, attributeKeys: ['a'] })],
    ];
    for (const [name, run] of calls) {
      const out = await sdk(alice, run);
      assert.ok(out.error, `${name} should reject`);
      assert.equal(out.error.type, 705, `${name}: ${JSON.stringify(out.error)}`);
      assert.equal(out.error.statusCode, 404, name);
      assert.equal(out.error.data.error, 'resource_not_found', name);
      assert.equal(out.error.data.error_description, `grpID ${MISSING_ROOM} does not exist!`, name);
    }
  });

  it("rejects a forged token and another app's token with type 52", async () => {
    const room = await fx.createRoom('alice', ['bob']);
    const forgedToken = forgeSignature(tokens.alice!);
    assert.notEqual(forgedToken, tokens.alice);
    const forged = await connect('alice', forgedToken);
    extra.push(forged);
    const foreign = await connect('alice', userToken(makeApp(), 'alice'));
    extra.push(foreign);

    for (const [name, c] of [
      ['forged signature', forged],
      ['another app', foreign],
    ] as const) {
      const set = await sdk(c, (conn) => conn.setChatRoomAttributes({ chatRoomId: room, attributes: { x: name } }));
      assert.ok(set.error, `${name}: set should reject`);
      assert.equal(set.error.type, 52, `${name}: ${JSON.stringify(set.error)}`);
      assert.equal(set.error.statusCode, 401, name);
      assert.equal(set.error.data.error, 'unauthorized', name);
      assert.equal(set.error.data.error_description, 'Unable to authenticate (OAuth)', name);
      assert.equal(set.sent.length, 1, name);
      assert.equal(at(set.sent, 0).headers.Authorization, `Bearer ${c.conn.context.accessToken}`);

      const get = await sdk(c, (conn) => conn.getChatRoomAttributes({ chatRoomId: room }));
      assert.ok(get.error, `${name}: get should reject`);
      assert.equal(get.error.type, 52, name);
    }
    assert.deepEqual(await stored(room), {});
  });
});
