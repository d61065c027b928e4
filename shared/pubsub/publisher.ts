// Publishing to Pub/Sub topics, behind a small interface so the runners can be tested with an
// in-memory publisher. @google-cloud/pubsub, slow to load
// (docs/google-behaviours.md#client-library-load-costs), is imported on the first publish only;
// the emulator is used when PUBSUB_EMULATOR_HOST is configured.
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { Config } from '../settings/config.ts';

export interface PublishedMessage {
  readonly topic: string;
  readonly data: unknown;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface TopicPublisher {
  /** Publishes JSON; resolves with the message id once Pub/Sub accepted it. */
  publish(topic: string, data: unknown, attributes?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export type PubSubSettings = Pick<Config, 'projectId' | 'pubsubEmulatorHost'>;

export async function createPubSubClient(settings: PubSubSettings): Promise<PubSub> {
  const { PubSub } = await import('@google-cloud/pubsub');
  return settings.pubsubEmulatorHost === undefined
    ? new PubSub({ projectId: settings.projectId })
    : new PubSub({
        projectId: settings.projectId,
        apiEndpoint: settings.pubsubEmulatorHost,
        emulatorMode: true,
      });
}

export function pubsubPublisher(settings: PubSubSettings): TopicPublisher {
  let client: Promise<PubSub> | undefined;
  const topics = new Map<string, Topic>();
  return {
    async publish(topicName, data, attributes = {}) {
      client ??= createPubSubClient(settings);
      const pubsub = await client;
      let topic = topics.get(topicName);
      if (!topic) {
        topic = pubsub.topic(topicName, { batching: { maxMessages: 100, maxMilliseconds: 5 } });
        topics.set(topicName, topic);
      }
      return topic.publishMessage({ data: Buffer.from(JSON.stringify(data)), attributes });
    },
    async close() {
      if (!client) return;
      const pubsub = await client;
      await Promise.all([...topics.values()].map((topic) => topic.flush()));
      await pubsub.close();
    },
  };
}

/** Keeps every message in memory (tests, RUN_INLINE without an emulator). */
export function memoryPublisher(): TopicPublisher & { readonly messages: PublishedMessage[] } {
  const messages: PublishedMessage[] = [];
  return {
    messages,
    publish(topic, data, attributes = {}) {
      messages.push({ topic, data, attributes });
      return Promise.resolve(String(messages.length));
    },
    close: () => Promise.resolve(),
  };
}
