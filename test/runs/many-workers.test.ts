// Fan-out to several worker instances, as Cloud Run scales out: three worker processes (each the
// deployed functions/worker.ts) behind one push endpoint that routes like Cloud Run's front end.
// They share one run: every user is done exactly once (one ledger entry, one export), and the
// batches spread over more than one instance.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../shared/runs/ledger.ts';
import { waitForRunReport } from '../../shared/runs/trigger.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import { startInstanceRouter, type InstanceRouter } from '../support/instance-router.ts';
import {
  pushToWorker,
  startRunHarness,
  startWorkerProcess,
  stopOwnEmulators,
  type RunHarness,
} from './harness.ts';

const WORKERS = 3;
let harness: RunHarness;
let workers: ChildProcess[] = [];
let router: InstanceRouter;
let pushed: Awaited<ReturnType<typeof pushToWorker>>;

beforeAll(async () => {
  harness = await startRunHarness('fleet', { RUN_BATCH_SIZE: '4', WORKER_CONCURRENCY: '2' });
  const ports = await Promise.all(Array.from({ length: WORKERS }, () => freePort()));
  workers = await Promise.all(ports.map((port) => startWorkerProcess(harness, port)));
  router = await startInstanceRouter(
    ports.map((port) => `http://127.0.0.1:${port}`),
    { concurrency: 2 },
  );
  pushed = await pushToWorker(harness, router.url);
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((worker) => stopChild(worker)));
  await router?.close();
  await pushed?.close();
  await harness?.close();
  await stopOwnEmulators();
});

describe('several worker instances', () => {
  it('share one run: every user done exactly once, batches on more than one instance', async () => {
    const users = await harness.seedUsers(24, { prefix: 'fleet' });
    // Slow Google calls keep each batch busy long enough for the router to spread them.
    harness.standIn.control.setLatency(100);
    const runId = await harness.tick('2026-12-02T06:00:00Z');
    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 90_000 });
    harness.standIn.control.setLatency(0);
    expect(report.status).toBe('complete');
    expect(report.outcomes).toEqual({ ok: 24 });
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    expect([...ledger.values()].map((entry) => entry.outcome)).toEqual(Array(24).fill('ok'));
    for (const user of users) {
      const exports = harness.standIn.control
        .driveFiles(user.email)
        .filter((file) => file.name === 'export-2026-12-02.csv' && !file.trashed);
      expect(exports).toHaveLength(1);
    }
    const served = router.served();
    expect(served.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6);
    expect(served.filter((count) => count > 0).length).toBeGreaterThan(1);
  }, 120_000);
});
