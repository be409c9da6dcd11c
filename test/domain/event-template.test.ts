import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EVENT_REASONS, eventTemplate, operationOf, renderEvent } from '../../src/domain/events.js';

/**
 * eventTemplate writes the event's JSON out by hand (it runs on every write): the text must be
 * exactly what JSON.stringify gives for the same event, field order included, for any room id,
 * app key and user, whatever they hold to escape.
 */
describe('eventTemplate', () => {
  it('renders exactly the JSON.stringify of the event, for any strings', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.string(),
        fc.constantFrom(...EVENT_REASONS),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (roomId, appKey, from, reason, timestamp, seq) => {
          const t = eventTemplate({ roomId, appKey, from, reason, timestamp });
          const attributes = { k: 'v' };
          const previous = { k: null };
          const expected = JSON.stringify({
            id: `${roomId}:${seq}`,
            seq,
            chatroomId: roomId,
            app: appKey,
            timestamp,
            operation: operationOf(reason),
            from,
            reason,
            attributes,
            previous,
          });
          assert.equal(renderEvent(t, seq, attributes, previous), expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
