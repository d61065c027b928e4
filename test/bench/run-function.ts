// One run function (dispatcher or worker) in its own process for `npm run bench:run`, served by
// the real functions-framework on PORT, with Firestore calls counted. The parent asks for
// figures over IPC: peak RSS, Firestore reads and writes (split into per-user and per-batch),
// secret-store backend reads, and the peak number of deliveries and users in flight.
//
// Deployment model (infra/deploy/resources.ts): a dispatcher instance takes one tick at a time; a
// worker instance takes up to K work messages at once (its Cloud Run concurrency, argv[3]) and
// its process-wide limiter keeps WORKER_CONCURRENCY users in flight across all of them. The
// emulator's push subscription would hand this process every batch at once, so deliveries beyond
// K wait here for a free slot: this process behaves as exactly one deployed instance.
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Firestore } from '@google-cloud/firestore';
import { runnerServices } from '../../shared/platform/runner-services.ts';
import { createRunDeps } from '../../shared/runs/deps.ts';
import { createLimiter } from '../../shared/runs/limiter.ts';
import { trackedLimiter } from '../support/tracked-limiter.ts';
import { dispatcherHandler, workerHandler } from '../../shared/runs/handlers.ts';
import { runtimeFromEnvironment } from '../../shared/platform/runtime.ts';

const role = process.argv[2] === 'dispatcher' ? 'dispatcher' : 'worker';
const acceptedAtOnce = role === 'dispatcher' ? 1 : Math.max(1, Number(process.argv[3] ?? 1));
const runtime = runtimeFromEnvironment(process.env, role, runnerServices);
const counts = { reads: 0, writes: 0, batchWrites: 0, roundTrips: 0 };
const peaks = { deliveries: 0, users: () => 0 };
let deliveries = 0;
/** Milestones of this process's start (ms since it began), for the kill figures. */
const startup = { listeningMs: 0, depsReadyMs: 0, firstDeliveryMs: 0 };
const deps = createRunDeps(runtime).then((built) => {
  startup.depsReadyMs = performance.now();
  instrument(built.db);
  const tracked = trackedLimiter(built.limiter);
  peaks.users = tracked.peak;
  return { ...built, limiter: tracked.limiter };
});
const handler = role === 'dispatcher' ? dispatcherHandler(() => deps) : workerHandler(() => deps);
const slots = createLimiter(acceptedAtOnce);
cloudEvent(role, async (event: CloudEvent<unknown>) => {
  // At most `acceptedAtOnce` deliveries at a time, as a deployed instance with that concurrency.
  await slots.run(async () => {
    deliveries += 1;
    startup.firstDeliveryMs ||= performance.now();
    peaks.deliveries = Math.max(peaks.deliveries, deliveries);
    try {
      await handler(event);
    } finally {
      deliveries -= 1;
    }
  });
});
const server = getTestServer(role);
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  startup.listeningMs = performance.now();
  process.send?.({ ready: true });
});
process.on('message', (message) => {
  // Used heap after a full collection: what the process really keeps, not what GC has not
  // yet reclaimed. Optionally a heap snapshot for leak hunting (CV_BENCH_HEAP_SNAPSHOT=path).
  if (message === 'stats') (globalThis as { gc?: () => void }).gc?.();
  if (message === 'stats' && process.env.CV_BENCH_HEAP_SNAPSHOT)
    writeHeapSnapshot(`${process.env.CV_BENCH_HEAP_SNAPSHOT}.${role}.heapsnapshot`);
  if (message === 'stats')
    process.send?.({
      maxRssKb: process.resourceUsage().maxRSS,
      ...counts,
      secretReads: runtime.secrets.backendReads,
      peakDeliveries: peaks.deliveries,
      peakUsers: peaks.users(),
      heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20,
      startup,
    });
});
// A clean exit on SIGTERM, so that --cpu-prof / --heap-prof write their files.
process.on('SIGTERM', () => process.exit(0));

/** connections/{sub} and runs/{id}/ledger/{sub} are per-user documents. */
function isPerUser(name: string | undefined): boolean {
  return (
    name !== undefined && /\/documents\/(connections\/[^/]+|runs\/[^/]+\/ledger\/[^/]+)$/.test(name)
  );
}

/** Counts document reads and writes as billed: per document in commits, gets and query results. */
function instrument(db: Firestore): void {
  const target = db as unknown as {
    request: (
      method: string,
      request: Record<string, unknown>,
      ...rest: unknown[]
    ) => Promise<unknown>;
    requestStream: (
      method: string,
      bidi: unknown,
      request: Record<string, unknown>,
      ...rest: unknown[]
    ) => Promise<NodeJS.ReadableStream>;
  };
  const request = target.request.bind(db);
  const requestStream = target.requestStream.bind(db);
  target.request = async (method, body, ...rest) => {
    counts.roundTrips += 1;
    const result = await request(method, body, ...rest);
    if (method === 'commit') {
      const writes =
        (body.writes as { update?: { name?: string }; delete?: string }[] | undefined) ?? [];
      counts.writes += writes.length;
      // Per-batch and per-run documents (runs/{id}, runs/{id}/batches/*, deliveries/*): overhead
      // that does not grow with the users of a batch.
      for (const write of writes)
        if (!isPerUser(write.update?.name ?? write.delete)) counts.batchWrites += 1;
    }
    return result;
  };
  target.requestStream = async (method, bidi, body, ...rest) => {
    counts.roundTrips += 1;
    const stream = await requestStream(method, bidi, body, ...rest);
    if (method === 'batchGetDocuments' || method === 'runQuery')
      stream.on('data', (chunk: { found?: unknown; missing?: unknown; document?: unknown }) => {
        if (chunk.found || chunk.missing || chunk.document) counts.reads += 1;
      });
    return stream;
  };
}
