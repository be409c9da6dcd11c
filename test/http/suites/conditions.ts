import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, type Fixture } from '../../support/fixture.js';
import type { Target } from '../../support/server.js';

/** Spec section 10 through the REST API: revisions and get with detail, ifRevision, atomic. */
export function conditionsSuite(target: Target): void {
  describe(`revisions, conditions and atomic calls [${target.name}]`, () => {
    let fx: Fixture;
    let room: string;
    const put = (user: string, body: unknown, forced = false) =>
      fx.admin.call('PUT', `/metadata/chatroom/${room}/user/${user}${forced ? '/forced' : ''}`, { body });
    const del = (user: string, body: unknown) => fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/${user}`, { body });
    const detail = async (keys?: string[]) => {
      const res = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { ...(keys ? { keys } : {}), detail: true } });
      assert.equal(res.status, 200, res.text);
      return res.body.data;
    };
    before(async () => {
      fx = await startFixture(target);
      await fx.createUsers('alice', 'bob');
      room = await fx.createRoom('alice', ['bob']);
    });
    after(() => fx.close());

    it('get with detail: value, owner, autoDelete, revision (the seq of the writing event) and expiresAt; one call, one revision', async () => {
      const first = await put('alice', { metaData: { s1: 'alice', s2: 'x' }, autoDelete: 'NO_DELETE' });
      assert.deepEqual(first.body.data, { successKeys: ['s1', 's2'], errorKeys: {} });
      const d = await detail(['s1', 's2', 'ghost']);
      assert.deepEqual(Object.keys(d), ['s1', 's2']);
      assert.equal(d.s1.revision, d.s2.revision);
      assert.ok(Number.isInteger(d.s1.revision) && d.s1.revision > 0);
      assert.deepEqual(d.s1, { value: 'alice', owner: 'alice', autoDelete: 'NO_DELETE', revision: d.s1.revision, expiresAt: null });
      await put('bob', { metaData: { b: '1' } });
      const all = await detail();
      assert.equal(all.b.revision, d.s1.revision + 1);
      assert.equal(all.b.autoDelete, 'DELETE');
      // without detail the answer is the plain map, as the official SDK reads it
      const plain = await fx.admin.call('POST', `/metadata/chatroom/${room}`, { body: { keys: ['s1'] } });
      assert.deepEqual(plain.body.data, { s1: 'alice' });
    });

    it('ifRevision on set: N must be the current revision, 0 means the key must not exist', async () => {
      const rev = (await detail(['s1'])).s1.revision;
      const stale = await put('alice', { metaData: { s1: 'new', fresh: 'f' }, ifRevision: { s1: rev + 5, fresh: 0 } });
      assert.deepEqual(stale.body.data, { successKeys: ['fresh'], errorKeys: { s1: `key 's1' revision is ${rev}, not ${rev + 5}` } });
      const ok = await put('alice', { metaData: { s1: 'new' }, ifRevision: { s1: rev } });
      assert.deepEqual(ok.body.data, { successKeys: ['s1'], errorKeys: {} });
      const again = await put('alice', { metaData: { fresh: 'g' }, ifRevision: { fresh: 0 } });
      assert.match(again.body.data.errorKeys.fresh, /^key 'fresh' revision is \d+, not 0$/);
      // another member's key is not part of you whatever its revision
      const theirs = await put('bob', { metaData: { s1: 'bob' }, ifRevision: { s1: (await detail(['s1'])).s1.revision } });
      assert.deepEqual(theirs.body.data.errorKeys, { s1: "key 's1' is not part of you" });
    });

    it('ifRevision on delete and forced calls', async () => {
      const { b } = await detail(['b']);
      const wrong = await del('bob', { keys: ['b'], ifRevision: { b: b.revision - 1 } });
      assert.deepEqual(wrong.body.data.errorKeys, { b: `key 'b' revision is ${b.revision}, not ${b.revision - 1}` });
      const forced = await put('alice', { metaData: { b: 'taken' }, ifRevision: { b: b.revision } }, true);
      assert.deepEqual(forced.body.data, { successKeys: ['b'], errorKeys: {} });
      const gone = await fx.admin.call('DELETE', `/metadata/chatroom/${room}/user/admin/forced`, {
        body: { keys: ['b'], ifRevision: { b: (await detail(['b'])).b.revision } },
      });
      assert.deepEqual(gone.body.data, { successKeys: ['b'], errorKeys: {} });
    });

    it('atomic: one failing key writes none, and no event is recorded', async () => {
      const before = await detail();
      const res = await put('bob', { metaData: { b1: '1', s1: 'steal', b2: '2' }, atomic: true });
      assert.deepEqual(res.body.data, {
        successKeys: [],
        errorKeys: {
          s1: "key 's1' is not part of you",
          b1: "key 'b1' not written: the call is atomic and another key failed",
          b2: "key 'b2' not written: the call is atomic and another key failed",
        },
      });
      assert.deepEqual(await detail(), before);
      const events = await fx.admin.call('GET', `/metadata/chatroom/${room}/history?since=0`);
      if (events.status === 200)
        assert.ok(events.body.data.events.every((e: { attributes: unknown }) => !JSON.stringify(e).includes('steal')));
    });

    it('a seat move: free one seat and take another in one atomic call with conditions', async () => {
      await put('bob', { metaData: { seat2: 'bob' } });
      const seat2 = (await detail(['seat2'])).seat2.revision;
      const move = await put('bob', { metaData: { seat2: '', seat5: 'bob' }, atomic: true, ifRevision: { seat2, seat5: 0 } });
      assert.deepEqual(move.body.data, { successKeys: ['seat2', 'seat5'], errorKeys: {} });
      const d = await detail(['seat2', 'seat5']);
      assert.equal(d.seat2.value, '');
      assert.equal(d.seat2.revision, d.seat5.revision);
      // the same move again: seat5 is taken now, so nothing moves
      const twice = await put('bob', {
        metaData: { seat2: '', seat5: 'bob' },
        atomic: true,
        ifRevision: { seat2: d.seat2.revision, seat5: 0 },
      });
      assert.deepEqual(twice.body.data.successKeys, []);
      assert.match(twice.body.data.errorKeys.seat5, /^key 'seat5' revision is \d+, not 0$/);
    });

    it('bad shapes are 400 illegal_argument naming the field, and write nothing', async () => {
      const before = await detail();
      for (const body of [
        { metaData: { a: '1' }, ifRevision: { a: -1 } },
        { metaData: { a: '1' }, ifRevision: { a: 1.5 } },
        { metaData: { a: '1' }, ifRevision: { a: '3' } },
        { metaData: { a: '1' }, ifRevision: { other: 1 } },
        { metaData: { a: '1' }, atomic: 'yes' },
      ]) {
        const res = await put('alice', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'illegal_argument');
        assert.match(res.body.error_description, /ifRevision|atomic/, JSON.stringify(body));
      }
      const delBad = await del('alice', { keys: ['s1'], ifRevision: { zz: 0 } });
      assert.equal(delBad.status, 400);
      assert.match(delBad.body.error_description, /ifRevision names key 'zz'/);
      assert.deepEqual(await detail(), before);
    });
  });
}
