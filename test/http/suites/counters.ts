import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

/**
 * Spec section 10, counters, through the REST API: `increment` in place of `metaData`, a missing
 * key starting at "0", bounds, a stored value that is not an integer, ownership and forced as for
 * set, the `increment` event, the bad shapes, and many members adding to one counter at once.
 */
export function countersSuite(target: Target): void {
  describe(`counters: increment [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    const members = Array.from({ length: 12 }, (_, i) => `m${i}`);
    const put = (user: string, body: unknown, forced = false, r = room) =>
      fx.user(user).call('PUT', `/metadata/chatroom/${r}/user/${user}${forced ? '/forced' : ''}`, { body });
    const values = async (keys: string[], r = room) => {
      const res = await fx.admin.call('POST', `/metadata/chatroom/${r}`, { body: { keys } });
      assert.equal(res.status, 200, res.text);
      return res.body.data as Record<string, string>;
    };
    const history = async (r = room) => {
      const res = await fx.admin.call('GET', `/metadata/chatroom/${r}/history?since=0&limit=1000`);
      assert.equal(res.status, 200, res.text);
      return res.body.data.events as Array<Record<string, unknown>>;
    };
    before(async () => {
      fx = await startFixture(target, { rateLimitPerSecond: 100_000 });
      await fx.createUsers('alice', 'bob', ...members);
      room = await fx.createRoom('alice', ['bob', ...members]);
    });
    after(() => fx.close());

    it('a missing key starts at "0"; the answer and the event carry the new values', async () => {
      const res = await put('alice', { increment: { likes: 5, gifts: -2 } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.data, { successKeys: ['likes', 'gifts'], errorKeys: {}, values: { likes: '5', gifts: '-2' } });
      const again = await put('alice', { increment: { likes: 3 } });
      assert.deepEqual(again.body.data, { successKeys: ['likes'], errorKeys: {}, values: { likes: '8' } });
      assert.deepEqual(await values(['likes', 'gifts']), { likes: '8', gifts: '-2' });
      const last = (await history()).at(-1)!;
      assert.equal(last.reason, 'increment');
      assert.equal(last.operation, 'updateChatRoomAttributes');
      assert.equal(last.from, 'alice');
      assert.deepEqual(last.attributes, { likes: '8' });
      assert.deepEqual(last.previous, { likes: { value: '5', owner: 'alice' } });
      // A plain set answers as before: no values.
      const plain = await put('alice', { metaData: { note: 'x' } });
      assert.deepEqual(plain.body.data, { successKeys: ['note'], errorKeys: {} });
    });

    it('min and max bound the result (inclusive); outside, the key is not written', async () => {
      await put('bob', { increment: { seats: 2 } });
      const over = await put('bob', { increment: { seats: 2, other: 1 }, min: 0, max: 3 });
      assert.deepEqual(over.body.data, {
        successKeys: ['other'],
        errorKeys: { seats: "properties value of 'seats' would leave [0, 3]" },
        values: { other: '1' },
      });
      const edge = await put('bob', { increment: { seats: 1 }, max: 3 });
      assert.deepEqual(edge.body.data.values, { seats: '3' });
      const under = await put('bob', { increment: { seats: -4 }, min: 0 });
      assert.deepEqual(under.body.data.errorKeys, { seats: "properties value of 'seats' would leave [0, inf]" });
      assert.deepEqual(await values(['seats']), { seats: '3' });
    });

    it('a stored value that is not a decimal integer is refused; exact past 2^53', async () => {
      for (const v of ['abc', '01', '1.5', '', '+1', '-0x1']) {
        await put('bob', { metaData: { odd: v } });
        const res = await put('bob', { increment: { odd: 1 } });
        assert.deepEqual(res.body.data.errorKeys, { odd: "properties value of 'odd' is not an integer" }, v);
      }
      await put('bob', { metaData: { big: '9007199254740993' } });
      const big = await put('bob', { increment: { big: 9007199254740991 } });
      assert.deepEqual(big.body.data.values, { big: '18014398509481984' });
      // The spec's integer is -?(0|[1-9][0-9]*): "-0" is one.
      await put('bob', { metaData: { neg: '-0' } });
      assert.deepEqual((await put('bob', { increment: { neg: 1 } })).body.data.values, { neg: '1' });
    });

    it("ownership as for set: another member's counter is not part of you unless forced; conditions and atomic apply", async () => {
      const theirs = await put('bob', { increment: { likes: 1 } });
      assert.deepEqual(theirs.body.data, { successKeys: [], errorKeys: { likes: "key 'likes' is not part of you" }, values: {} });
      const forced = await put('bob', { increment: { likes: 1 } }, true);
      assert.deepEqual(forced.body.data.values, { likes: '9' });
      const detail = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['likes'], detail: true } });
      assert.equal(detail.body.data.likes.owner, 'bob');
      const rev = detail.body.data.likes.revision as number;
      const stale = await put('bob', { increment: { likes: 1 }, ifRevision: { likes: rev - 1 } });
      assert.deepEqual(stale.body.data.errorKeys, { likes: `key 'likes' revision is ${rev}, not ${rev - 1}` });
      const atomic = await put('bob', { increment: { likes: 1, seats: 5 }, max: 5, atomic: true });
      assert.deepEqual(atomic.body.data.successKeys, []);
      assert.deepEqual(await values(['likes', 'seats']), { likes: '9', seats: '3' });
      // As the app, on the forced route (the console's increment).
      const app = await fx.admin.call('PUT', `/metadata/chatroom/${room}/user/alice/forced`, { body: { increment: { likes: 10 } } });
      assert.deepEqual(app.body.data.values, { likes: '19' });
    });

    it('bad shapes are 400 illegal_argument naming the field, and write nothing', async () => {
      const before = await history();
      const cases: Array<[unknown, RegExp]> = [
        [{ increment: { likes: 1 }, metaData: { likes: '1' } }, /increment and metaData/],
        [{ increment: { likes: 1.5 } }, /increment/],
        [{ increment: { likes: '1' } }, /increment/],
        [{ increment: { likes: 2 ** 53 } }, /increment/],
        [{ increment: { likes: 1 }, min: 5, max: 1 }, /min 5 is above max 1/],
        [{ increment: { likes: 1 }, min: 0.5 }, /min/],
        [{ metaData: { likes: '1' }, max: 3 }, /min and max go with increment/],
        [{ autoDelete: 'DELETE' }, /metaData is required/],
        [{ increment: {} }, /non-empty|increment/],
      ];
      for (const [body, why] of cases) {
        const res = await put('alice', body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.body.error, 'illegal_argument', JSON.stringify(body));
        assert.match(res.body.error_description, why, JSON.stringify(body));
      }
      assert.equal((await history()).length, before.length);
    });

    it('many members adding to one counter at once: no increment lost, each sees a distinct new value', async () => {
      const r = await fx.createRoom('alice', members);
      await put('alice', { increment: { hot: 0 }, autoDelete: 'NO_DELETE' }, false, r);
      const rounds = 3;
      const seen: string[] = [];
      for (let round = 0; round < rounds; round++) {
        const answers = await Promise.all(members.map((m) => put(m, { increment: { hot: 1 } }, true, r)));
        for (const a of answers) {
          assert.equal(a.status, 200, a.text);
          assert.deepEqual(a.body.data.successKeys, ['hot'], a.text);
          seen.push(a.body.data.values.hot as string);
        }
      }
      const total = members.length * rounds;
      assert.deepEqual(await values(['hot'], r), { hot: String(total) });
      assert.deepEqual(
        seen.map(Number).sort((a, b) => a - b),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      const events = (await history(r)).filter((e) => e.reason === 'increment');
      assert.equal(events.length, total + 1);
    });
  });
}
