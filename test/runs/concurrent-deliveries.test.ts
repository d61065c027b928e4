// One worker instance taking several work messages at once (Cloud Run concurrency K > 1): the
// instance's process-wide limiter keeps WORKER_CONCURRENCY users in flight across every batch,
// the batches overlap, and every user is processed once. Also the limiter itself: never above
// its limit, first come first served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import type { RunDeps } from '../../shared/runs/deps.ts';
import { recordDispatched } from '../../shared/runs/dispatched.ts';
import { workerHandler } from '../../shared/runs/handlers.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { createLimiter } from '../../shared/runs/limiter.ts';
import { trackedLimiter } from '../support/tracked-limiter.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

const C = 3;
const K = 4;
const BATCH = 6;
let harness: RunHarness;

beforeAll(async () => {
  harness = await startRunHarness(
    'deliveries',
    { WORKER_CONCURRENCY: String(C), RUN_BATCH_SIZE: String(BATCH) },
    { latencyMs: 15 },
  );
});

afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

describe('several deliveries on one worker instance', () => {
  it(`K=${K} batches at once never have more than WORKER_CONCURRENCY=${C} users calling Google`, async () => {
    const users = await harness.seedUsers(K * BATCH);
    const built = await harness.deps({ publisher: memoryPublisher() });
    const inFlight = trackedLimiter(built.limiter);
    const deps: RunDeps = { ...built, limiter: inFlight.limiter };
    // One deps per instance, shared by every delivery, as functions/worker.ts does.
    const handle = workerHandler(() => Promise.resolve(deps));
    const runId = '2026-12-24_86400s';
    let handlers = 0;
    let peakHandlers = 0;
    const results = await Promise.all(
      Array.from({ length: K }, async (_, index) => {
        const subs = users.slice(index * BATCH, (index + 1) * BATCH).map((user) => user.sub);
        const batch = { v: 1 as const, runId, batchId: batchId(index), subs };
        await recordDispatched(harness.db, batch, Date.now());
        const data = Buffer.from(JSON.stringify(batch)).toString('base64');
        handlers += 1;
        peakHandlers = Math.max(peakHandlers, handlers);
        try {
          return await handle({ data: { message: { data, messageId: `m-${index}` } } });
        } finally {
          handlers -= 1;
        }
      }),
    );
    expect(peakHandlers).toBe(K);
    expect(inFlight.peak()).toBe(C);
    expect(deps.limiter.active).toBe(0);
    expect(deps.lookahead.active).toBe(0);
    for (const result of results) {
      expect(result?.kind).toBe('processed');
      if (result?.kind === 'processed') expect(result.summary.outcomes).toEqual({ ok: BATCH });
    }
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    expect(ledger.size).toBe(K * BATCH);
  });
});

describe('the limiter', () => {
  it('runs at most its limit at once, in arrival order, and survives failures', async () => {
    const limiter = createLimiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, index) =>
        limiter.run(async () => {
          started.push(index);
          running += 1;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setTimeout(resolve, 2 + (index % 3)));
          running -= 1;
          if (index % 4 === 0) throw new Error(`boom ${index}`);
          return index;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(started).toEqual(Array.from({ length: 12 }, (_, index) => index));
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(3);
    expect(limiter.active).toBe(0);
  });

  it('acquire() holds a lane until its release, which counts once however often it is called', async () => {
    const limiter = createLimiter(1);
    const release = await limiter.acquire();
    let second = false;
    const waiting = limiter.acquire().then((next) => {
      second = true;
      return next;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(second).toBe(false);
    release();
    release();
    const next = await waiting;
    expect(limiter.active).toBe(1);
    next();
    expect(limiter.active).toBe(0);
  });
});
