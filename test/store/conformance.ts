import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/types.js';
import { attributeTests } from './conformance-attributes.js';
import { concurrencyTests } from './conformance-concurrency.js';
import { limitTests } from './conformance-limits.js';
import { destroyRoomTests, roomTests } from './conformance-rooms.js';
import { Conformance, randomApp } from './conformance-support.js';
import { userTests } from './conformance-users.js';

/**
 * The store conformance suite, written against the Store interface only: every store runs it
 * unchanged. Each test uses its own random app id, so a shared store (one Redis) needs no reset.
 * The tests stand by topic in conformance-*.ts; runStoreSuite registers them in the order they
 * run, and ends with the integrity check over every app they wrote (Conformance.written).
 */

/** Changes a store's records behind its back, so that the integrity check has something to find. */
export interface Tamper {
  /** Breaks the bookkeeping of one stored attribute (its owner record or its recorded size). */
  breakAttribute(store: Store, appId: string, roomId: string, key: string): Promise<void>;
}

export function runStoreSuite(name: string, makeStore: () => Promise<Store> | Store, tamper: Tamper): void {
  describe(`store conformance [${name}]`, () => {
    const suite = new Conformance();
    const { written, users, set } = suite;
    before(async () => {
      suite.store = await makeStore();
    });
    after(async () => {
      await suite.store.close();
    });

    describe('users', () => userTests(suite));
    describe('rooms', () => roomTests(suite));
    describe('attributes', () => {
      attributeTests(suite);
      limitTests(suite);
      destroyRoomTests(suite);
      concurrencyTests(suite);
    });

    // After every write test above (node:test runs them in order): what they left is intact.
    describe('integrity', () => {
      it('every app the tests wrote passes the integrity check, per app, per room and as a whole', async () => {
        assert.ok(written.length > 20, `${written.length} apps`);
        for (const app of written) {
          assert.deepEqual(await suite.store.integrityCheck({ appId: app }), [], `app ${app}`);
          for (const room of await suite.store.listRooms(app, '', 1000)) {
            assert.deepEqual(await suite.store.integrityCheck({ appId: app, roomId: room.id }), [], `app ${app} room ${room.id}`);
          }
        }
        assert.deepEqual(
          await suite.store.integrityCheck({ appId: randomApp(), roomId: '424242' }),
          [],
          'nothing of a room that never was',
        );
        assert.deepEqual(await suite.store.integrityCheck(), [], 'the whole store');
      });

      it('reports a broken attribute, in its room and its app, and nowhere else', async () => {
        const app = randomApp();
        await users(app, 'alice');
        const broken = (await suite.store.createRoom(app, { name: 'b', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        const sound = (await suite.store.createRoom(app, { name: 's', description: '', owner: 'alice', maxusers: 10, members: [] })).id;
        await set(app, broken, 'alice', { seat: 'alice', kept: 'x' });
        await set(app, sound, 'alice', { seat: 'alice' });
        assert.deepEqual(await suite.store.integrityCheck({ appId: app }), []);
        await tamper.breakAttribute(suite.store, app, broken, 'seat');
        const inRoom = await suite.store.integrityCheck({ appId: app, roomId: broken });
        assert.ok(
          inRoom.length > 0 && inRoom.every((p) => p.startsWith(`app ${app} room ${broken}: `) && p.includes('seat')),
          inRoom.join('\n'),
        );
        const inApp = await suite.store.integrityCheck({ appId: app });
        for (const p of inRoom) assert.ok(inApp.includes(p), `the app's check reports ${p}`);
        assert.deepEqual(await suite.store.integrityCheck({ appId: app, roomId: sound }), [], 'the other room is sound');
        assert.ok(
          (await suite.store.integrityCheck()).some((p) => inRoom.includes(p)),
          "the whole store's check reports it too",
        );
      });
    });
  });
}
