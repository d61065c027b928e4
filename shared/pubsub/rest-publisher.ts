// Publishing over Pub/Sub's REST API (projects.topics.publish) with google-auth-library, for the
// user-facing HTTP functions: they publish one small event per request, and @google-cloud/pubsub
// with gRPC is slow to load on a cold start (docs/google-behaviours.md#client-library-load-costs),
// on a path a person is waiting on, while google-auth-library is loaded there already for the
// token exchange. The batch runners keep the full client (shared/pubsub/publisher.ts), whose
// batching they use.
// https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.topics/publish
import type { PubSubSettings, TopicPublisher } from './publisher.ts';
import { loadAuthLibrary } from '../oauth/google-client.ts';
import { PUBLISH_FAILED, ServiceError } from '../errors.ts';

const SCOPE = 'https://www.googleapis.com/auth/pubsub';

export function restPublisher(settings: PubSubSettings): TopicPublisher {
  const emulator = settings.pubsubEmulatorHost;
  const base = emulator === undefined ? 'https://pubsub.googleapis.com' : `http://${emulator}`;
  let authorize: Promise<() => Promise<Record<string, string>>> | undefined;

  const headers = async (): Promise<Record<string, string>> => {
    if (emulator !== undefined) return {};
    authorize ??= loadAuthLibrary().then(({ GoogleAuth }) => {
      const auth = new GoogleAuth({ scopes: [SCOPE] });
      return async () => {
        const requestHeaders = await auth.getRequestHeaders();
        return { authorization: requestHeaders.get('authorization') ?? '' };
      };
    });
    return (await authorize)();
  };

  return {
    async publish(topic, data, attributes = {}) {
      const url = `${base}/v1/projects/${encodeURIComponent(settings.projectId)}/topics/${encodeURIComponent(topic)}:publish`;
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await headers()) },
        body: JSON.stringify({
          messages: [{ data: Buffer.from(JSON.stringify(data)).toString('base64'), attributes }],
        }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceError(PUBLISH_FAILED, `Pub/Sub publish answered ${response.status}`, {
          httpStatus: response.status,
        });
      }
      const body = (await response.json()) as { messageIds?: string[] };
      return body.messageIds?.[0] ?? '';
    },
    close: () => Promise.resolve(),
  };
}
