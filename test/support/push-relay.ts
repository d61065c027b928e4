// Pub/Sub push with more than two messages outstanding. The emulator pushes each subscription's
// messages from exactly two loops, one message at a time each (docs/testing.md#emulators), where
// Pub/Sub's push window grows to thousands (docs/scale.md#pubsub-push): two worker instances
// would get every batch, a third none. The relay takes the emulator's place for one
// subscription: it pulls from a pull subscription of the same topic (the emulator keeps the
// messages, their ack deadlines and delivery counts) and POSTs each message as Pub/Sub's push
// does, the same JSON envelope (https://cloud.google.com/pubsub/docs/push#receive_push), up to
// `window` at once. An acknowledging answer (the codes the emulator takes: 102, 200, 201, 202,
// 204) acks the message; any other answer, or none, nacks it after `retryAfterMs`, as the
// subscription's retry policy would delay its redelivery. As in Pub/Sub, a message waiting for
// its retry is not outstanding: the next message is pushed in its place at once. The window is
// fixed: Pub/Sub's slow start (which the simulation models) is not.
import { Duration, type Message, type Subscription } from '@google-cloud/pubsub';

const ACKNOWLEDGING = new Set([102, 200, 201, 202, 204]);

export interface PushRelay {
  /** The most messages that were being pushed at once. */
  peak(): number;
  close(): Promise<void>;
}

export function startPushRelay(
  subscription: Subscription,
  endpoint: string,
  options: {
    readonly window: number;
    readonly retryAfterMs: number;
    /** The subscription's; the client library's default (10 s) would let queued messages lapse. */
    readonly ackDeadlineSeconds: number;
  },
): PushRelay {
  let inFlight = 0;
  let peak = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  /** Pulled, not yet pushed: the backlog's head (the client library extends their leases). */
  const waiting: Message[] = [];
  // Pulled ahead of the window, so that a message waiting for its retry leaves room for others.
  // The library extends each held message's deadline by `ackDeadline` at a time; at its
  // default, a message waiting here behind a full window was sometimes redelivered meanwhile.
  const deadline = Duration.from({ seconds: options.ackDeadlineSeconds });
  subscription.setOptions({
    minAckDeadline: deadline,
    maxAckDeadline: deadline,
    flowControl: { maxMessages: options.window * 4, allowExcessMessages: false },
  });
  const push = async (message: Message): Promise<boolean> => {
    const envelope = {
      message: {
        attributes: message.attributes,
        data: message.data.toString('base64'),
        messageId: message.id,
        message_id: message.id,
        publishTime: message.publishTime.toISOString(),
        publish_time: message.publishTime.toISOString(),
      },
      subscription: subscription.name,
      // Pub/Sub's count, on a subscription with a dead-letter policy.
      ...(message.deliveryAttempt > 0 ? { deliveryAttempt: message.deliveryAttempt } : {}),
    };
    try {
      const answer = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(envelope),
      });
      await answer.arrayBuffer();
      return ACKNOWLEDGING.has(answer.status);
    } catch {
      return false; // no answer: the instance died or was not there
    }
  };
  const pushNext = (): void => {
    while (inFlight < options.window && waiting.length > 0) {
      const message = waiting.shift()!;
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      void push(message).then((acknowledged) => {
        inFlight -= 1;
        if (acknowledged) message.ack();
        else if (!closed) {
          const timer = setTimeout(() => {
            timers.delete(timer);
            message.nack();
          }, options.retryAfterMs);
          timers.add(timer);
        }
        pushNext();
      });
    }
  };
  subscription.on('message', (message: Message) => {
    waiting.push(message);
    pushNext();
  });
  subscription.on('error', () => undefined); // the stream reconnects by itself
  return {
    peak: () => peak,
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      await subscription.close();
    },
  };
}
