// Creates the topics and the push subscriptions that Eventarc creates in production for the
// dispatcher and worker triggers, in the Pub/Sub emulator, pointing at local functions-framework
// endpoints. The push path names the topic, which the functions-framework reads to build the
// CloudEvent source. Also a pull subscription on the events topic, for printing events. With
// `pushWindow`, work messages go through a relay (./push-relay.ts) rather than the emulator's
// push, which never has more than two outstanding.
import type { PubSub, Subscription } from '@google-cloud/pubsub';
import type { PubSubSettings as Topics } from '../../shared/settings/config.ts';
import { createPubSubClient, type PubSubSettings } from '../../shared/pubsub/publisher.ts';
import { startPushRelay } from './push-relay.ts';

export interface WiringOptions {
  readonly ackDeadlineSeconds?: number;
  readonly maxDeliveryAttempts?: number;
  /**
   * Work messages pushed by a relay (./push-relay.ts) with up to this many outstanding, instead
   * of the emulator's own push, which has two.
   */
  readonly pushWindow?: number;
  /** Called with each connection event published to the events topic. */
  readonly onEvent?: (event: Record<string, unknown>) => void;
}

export interface PubSubWiring {
  readonly pubsub: PubSub;
  /** With `pushWindow`: the most work messages pushed at once. */
  readonly pushPeak?: () => number;
  close(): Promise<void>;
}

export async function wirePushSubscriptions(
  settings: PubSubSettings,
  topics: Topics,
  endpoints: { readonly dispatcher: string; readonly worker: string },
  options: WiringOptions = {},
): Promise<PubSubWiring> {
  const pubsub = await createPubSubClient(settings);
  const project = settings.projectId;
  const [tick] = await pubsub.createTopic(topics.tickTopic);
  const [work] = await pubsub.createTopic(topics.workTopic);
  const [events] = await pubsub.createTopic(topics.eventsTopic);
  const [dead] = await pubsub.createTopic(topics.deadLetterTopic);
  const ackDeadlineSeconds = options.ackDeadlineSeconds ?? 60;
  const retryPolicy = { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 2 } };
  const push = (base: string, topic: string) => ({
    pushEndpoint: `${base.replace(/\/$/, '')}/projects/${project}/topics/${topic}`,
  });
  await tick.createSubscription(`${topics.tickTopic}-push`, {
    pushConfig: push(endpoints.dispatcher, topics.tickTopic),
    ackDeadlineSeconds,
    retryPolicy,
  });
  const workPush = push(endpoints.worker, topics.workTopic);
  const [workSubscription] = await work.createSubscription(`${topics.workTopic}-push`, {
    ...(options.pushWindow === undefined ? { pushConfig: workPush } : {}),
    ackDeadlineSeconds,
    retryPolicy,
    deadLetterPolicy: {
      deadLetterTopic: dead.name,
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
    },
  });
  const relay =
    options.pushWindow === undefined
      ? undefined
      : startPushRelay(workSubscription, workPush.pushEndpoint, {
          window: options.pushWindow,
          retryAfterMs: retryPolicy.minimumBackoff.seconds * 1000,
          ackDeadlineSeconds,
        });
  let listener: Subscription | undefined;
  if (options.onEvent) {
    const onEvent = options.onEvent;
    [listener] = await events.createSubscription(`${topics.eventsTopic}-local-printer`);
    listener.on('message', (message: { data: Buffer; ack(): void }) => {
      message.ack();
      try {
        onEvent(JSON.parse(message.data.toString('utf8')) as Record<string, unknown>);
      } catch {
        onEvent({ type: 'unparseable' });
      }
    });
  }
  return {
    pubsub,
    ...(relay ? { pushPeak: () => relay.peak() } : {}),
    async close() {
      await relay?.close();
      await listener?.close();
      await pubsub.close();
    },
  };
}
