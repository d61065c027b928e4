// A continuation's chain counts (shared/runs/attempts.ts): what it writes reads back, and anything
// else in those attributes makes the message malformed rather than a fresh batch with no tries.
import { describe, expect, it } from 'vitest';
import { continuationAttributes, parseChain } from '../../shared/runs/attempts.ts';
import { BAD_MESSAGE, isOperationError } from '../../shared/errors.ts';
import type { PubSubDelivery } from '../../shared/runs/messages.ts';

function delivery(attributes: Record<string, string>): PubSubDelivery {
  return {
    messageId: '1',
    publishTime: undefined,
    data: Buffer.alloc(0),
    attributes,
    deliveryAttempt: undefined,
  };
}

describe('delivery chains', () => {
  it('a dispatched batch starts a chain', () => {
    expect(parseChain(delivery({ runId: 'r', batchId: 'b1' }))).toEqual({
      deliveries: 0,
      finished: 0,
    });
  });

  it('a continuation carries the counts of the delivery that sent it', () => {
    const attributes = continuationAttributes({ delivery: 7, ofMessage: 3, finished: 2, lost: 1 });
    expect(parseChain(delivery(attributes))).toEqual({ deliveries: 7, finished: 2 });
  });

  it.each(['', '-1', '1.5', '1e3', ' 2', '99999', 'abc'])(
    'a chain count of %j is a malformed message',
    (count) => {
      let thrown: unknown;
      try {
        parseChain(delivery({ earlierFinished: count }));
      } catch (error) {
        thrown = error;
      }
      expect(isOperationError(thrown, BAD_MESSAGE)).toBe(true);
    },
  );
});
