// The REST publisher of the HTTP functions, against the real Pub/Sub emulator, read back with
// Google's own client.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPubSubClient } from '../../shared/pubsub/publisher.ts';
import { PUBLISH_FAILED, ServiceError } from '../../shared/errors.ts';
import { restPublisher } from '../../shared/pubsub/rest-publisher.ts';

const settings = {
  projectId: `demo-rest-${randomBytes(3).toString('hex')}`,
  pubsubEmulatorHost: process.env.PUBSUB_EMULATOR_HOST,
};

describe('restPublisher', () => {
  it('publishes JSON with attributes that Google’s client receives', async () => {
    expect(settings.pubsubEmulatorHost, 'run through npm test').toBeTruthy();
    const pubsub = await createPubSubClient(settings);
    const [topic] = await pubsub.createTopic('events-rest');
    const [subscription] = await topic.createSubscription('events-rest-sub');
    const id = await restPublisher(settings).publish(
      'events-rest',
      { type: 'connected', sub: '42' },
      { type: 'connected' },
    );
    expect(id).not.toBe('');
    // Streaming pull: the first message delivered to the subscription.
    const received = await new Promise<{ data: Buffer; attributes: Record<string, string> }>(
      (resolve) => {
        subscription.once(
          'message',
          (message: { data: Buffer; attributes: Record<string, string>; ack(): void }) => {
            message.ack();
            resolve(message);
          },
        );
      },
    );
    await subscription.close();
    await pubsub.close();
    expect(JSON.parse(received.data.toString('utf8'))).toEqual({ type: 'connected', sub: '42' });
    expect(received.attributes).toEqual({ type: 'connected' });
  });

  it('fails with the HTTP status when the topic does not exist', async () => {
    const error = await restPublisher(settings)
      .publish('no-such-topic', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).code).toBe(PUBLISH_FAILED);
    expect((error as ServiceError).httpStatus).toBe(404);
  });
});
