// A batching endpoint's claim passes read a bounded number of events: rooms x run stays within
// CLAIM_EVENTS_MAX whatever maxEvents is, so a backlog cannot make one pass read maxEvents squared.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import pino from 'pino';
import type { AppRecord } from '../../src/config/apps.js';
import { CLAIM_EVENTS_MAX, WebhookDispatcher } from '../../src/events/webhooks.js';
import type { Outbox } from '../../src/store/types.js';

it('a batching endpoint claims at most CLAIM_EVENTS_MAX events a pass (rooms x run), for every maxEvents', async () => {
  for (const maxEvents of [1, 5, 100, 1000]) {
    const asked: Array<{ limit: number; run: number }> = [];
    const outbox = {
      claimDeliveries: async (_a: string, _e: string, _now: number, limit: number, _busy: unknown, run = 1) => {
        asked.push({ limit, run });
        return [];
      },
    } as unknown as Outbox;
    const app = {
      appId: 'app',
      appKey: 'o#a',
      webhooks: [
        {
          id: 'ep',
          url: 'http://127.0.0.1:9/hook',
          secret: 's'.repeat(16),
          events: null,
          format: 'roomkv',
          agoraSecret: null,
          batch: { maxEvents, maxDelayMs: 0 },
        },
      ],
    } as unknown as AppRecord;
    const d = new WebhookDispatcher(
      outbox,
      [app],
      { retryMs: 1000, backoffMs: 10, backoffMaxMs: 100, timeoutMs: 1000, pollMs: 60_000 },
      pino({ level: 'silent' }),
    );
    d.start();
    await d.tick();
    await d.stop();
    assert.ok(asked.length > 0, `maxEvents ${maxEvents}: a pass claimed`);
    for (const a of asked) {
      assert.equal(a.limit, maxEvents, 'as many rooms as the batch holds events');
      assert.ok(
        a.run >= 1 && a.limit * a.run <= Math.max(CLAIM_EVENTS_MAX, maxEvents),
        `maxEvents ${maxEvents}: ${a.limit} rooms x run ${a.run}`,
      );
      assert.equal(a.run, Math.min(maxEvents, Math.max(1, Math.floor(CLAIM_EVENTS_MAX / maxEvents))));
    }
  }
});
