// The bench's push relay against the real Pub/Sub emulator: it keeps `window` messages
// outstanding (the emulator's own push keeps two), delivers each message in Pub/Sub's push
// envelope, and a refused push comes back for another try while the others go on.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createPubSubClient } from '../../shared/pubsub/publisher.ts';
import { startPushRelay } from './push-relay.ts';

const settings = {
  projectId: `demo-relay-${randomBytes(3).toString('hex')}`,
  pubsubEmulatorHost: process.env.PUBSUB_EMULATOR_HOST,
};

interface Envelope {
  message: { data: string; attributes: Record<string, string>; messageId: string };
  subscription: string;
}

function body(request: IncomingMessage): Promise<Envelope> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () =>
      resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Envelope),
    );
  });
}

describe('push relay', () => {
  it('keeps the window full, and a refused message is pushed again until acknowledged', async () => {
    expect(settings.pubsubEmulatorHost, 'run through npm test').toBeTruthy();
    const window = 5;
    const received: string[] = [];
    let inFlight = 0;
    let peak = 0;
    let refused = 0;
    const server = createServer((request, response) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      void body(request).then((envelope) => {
        const text = Buffer.from(envelope.message.data, 'base64').toString('utf8');
        // Held a while, so that the window fills; message 3 is refused once.
        setTimeout(() => {
          inFlight -= 1;
          if (text === '3' && refused === 0) {
            refused += 1;
            response.writeHead(503).end();
            return;
          }
          received.push(`${text}:${envelope.message.attributes.n}`);
          response.writeHead(204).end();
        }, 150);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const pubsub = await createPubSubClient(settings);
    const [topic] = await pubsub.createTopic('relay-work');
    const [subscription] = await topic.createSubscription('relay-work-pull');
    const { port } = server.address() as AddressInfo;
    const relay = startPushRelay(subscription, `http://127.0.0.1:${port}/push`, {
      window,
      retryAfterMs: 100,
      ackDeadlineSeconds: 60,
    });
    const count = 20;
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        topic.publishMessage({
          data: Buffer.from(String(index)),
          attributes: { n: String(index) },
        }),
      ),
    );
    for (let waited = 0; received.length < count && waited < 30_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await relay.close();
    await pubsub.close();
    await new Promise((resolve) => server.close(resolve));

    expect(received.sort()).toEqual(
      Array.from({ length: count }, (_, index) => `${index}:${index}`).sort(),
    );
    expect(refused).toBe(1);
    expect(peak).toBe(window);
    expect(relay.peak()).toBe(window);
  });
});
