// The batch runners leave functions-framework's per-request domain before any work
// (shared/platform/request-domain.ts), so the promises of a whole batch carry no domain bookkeeping.
// Served by the real functions-framework, as deployed.
import type { AddressInfo } from 'node:net';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { describe, expect, it } from 'vitest';
import { leaveRequestDomain } from '../../shared/platform/request-domain.ts';
import { dispatcherHandler, workerHandler } from '../../shared/runs/handlers.ts';

const domainOf = (): unknown => (process as { domain?: unknown }).domain ?? undefined;

/** Serves `handler` as a CloudEvent function and delivers one event to it. */
async function deliver(
  name: string,
  handler: (event: CloudEvent<unknown>) => Promise<unknown>,
): Promise<void> {
  cloudEvent(name, async (event: CloudEvent<unknown>) => {
    await handler(event).catch(() => undefined);
  });
  const server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': 'e1',
        'ce-specversion': '1.0',
        'ce-source': '//pubsub.googleapis.com/projects/p/topics/t',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      },
      body: JSON.stringify({ message: { data: '', messageId: 'm1' } }),
    });
    await response.arrayBuffer();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('leaving the request domain', () => {
  it('functions-framework runs a CloudEvent handler inside a domain, promise callbacks included', async () => {
    let direct: unknown;
    let later: unknown;
    await deliver('domain-control', async () => {
      direct = domainOf();
      later = await Promise.resolve().then(domainOf);
    });
    expect(direct).toBeDefined();
    expect(later).toBe(direct);
  });

  it('leaveRequestDomain unbinds the rest of the request, promise callbacks included', async () => {
    let direct: unknown = 'not run';
    let later: unknown = 'not run';
    await deliver('domain-left', async () => {
      leaveRequestDomain();
      direct = domainOf();
      later = await Promise.resolve().then(domainOf);
    });
    expect(direct).toBeUndefined();
    expect(later).toBeUndefined();
  });

  it.each([
    ['worker', workerHandler],
    ['dispatcher', dispatcherHandler],
  ] as const)('the %s handler leaves it before building its dependencies', async (role, make) => {
    let seen: unknown = 'not run';
    const handler = make(() => {
      seen = domainOf();
      return Promise.reject(new Error('probe: no dependencies'));
    });
    await deliver(`domain-${role}`, handler);
    expect(seen).toBeUndefined();
  });

  it('is harmless outside any domain', () => {
    expect(() => leaveRequestDomain()).not.toThrow();
    expect(domainOf()).toBeUndefined();
  });
});
