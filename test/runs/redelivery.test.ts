// Pub/Sub redelivery, for real: the worker runs in its own process behind an emulator push
// subscription. Killing it mid-batch makes the emulator redeliver the batch to the next worker;
// malformed and poison messages end on the dead-letter path after bounded attempts.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { DEAD_LETTERS } from '../../shared/runs/dead-letter.ts';
import { recordDispatched } from '../../shared/runs/dispatched.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { waitForRunReport } from '../../shared/runs/trigger.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import {
  expireAccessTokens,
  pushToWorker,
  startRunHarness,
  startWorkerProcess,
  stopOwnEmulators,
  type RunHarness,
} from './harness.ts';

let harness: RunHarness;
let port: number;
let worker: ChildProcess | undefined;
let pushed: Awaited<ReturnType<typeof pushToWorker>>;

beforeAll(async () => {
  harness = await startRunHarness('redeliver', {
    RUN_BATCH_SIZE: '20',
    WORKER_CONCURRENCY: '4',
    USER_BUDGET_SECONDS: '3',
  });
  port = await freePort();
  // A short ack deadline: a killed worker's message comes back after it at the latest.
  pushed = await pushToWorker(harness, `http://127.0.0.1:${port}`, { ackDeadlineSeconds: 10 });
});

afterAll(async () => {
  if (worker) await stopChild(worker);
  await pushed?.close();
  await harness?.close();
  await stopOwnEmulators();
});

describe('redelivery', () => {
  it('a worker killed mid-batch: the batch is redelivered and every user has exactly one export', async () => {
    const users = await harness.seedUsers(20);
    const { config } = harness.runtime;
    harness.standIn.control.setLatency(150);
    worker = await startWorkerProcess(harness, port);
    const runId = await harness.tick('2026-11-23T06:00:00Z');
    const subs = users.map((user) => user.sub);
    // Kill once some, but not all, users are done.
    for (;;) {
      const done = (await readLedger(harness.db, runId, subs)).size;
      if (done >= 3) {
        expect(done).toBeLessThan(20);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker!.once('exit', resolve));
    harness.standIn.control.setLatency(0);
    worker = await startWorkerProcess(harness, port);

    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 90_000 });
    expect(report.status).toBe('complete');
    expect(report.outcomes).toEqual({ ok: 20 });
    for (const user of users) {
      const exports = harness.standIn.control
        .driveFiles(user.email)
        .filter((file) => file.name === 'export-2026-11-23.csv' && !file.trashed);
      expect(exports).toHaveLength(1);
      const folders = harness.standIn.control
        .driveFiles(user.email)
        .filter((file) => file.name === config.runs.exportFolderName);
      expect(folders).toHaveLength(1);
    }
    const deliveries = await harness.db.collection('deliveries').get();
    expect(deliveries.docs.some((doc) => Number(doc.get('attempts')) >= 2)).toBe(true);
  }, 150_000);

  it('a malformed work message is dead-lettered and acknowledged', async () => {
    const { config } = harness.runtime;
    const publisher = pubsubPublisher(config);
    const messageId = await publisher.publish(config.pubsub.workTopic, {
      v: 1,
      runId: 'nonsense',
      subs: 'x',
    });
    await publisher.close();
    const ref = harness.db.collection(DEAD_LETTERS).doc(messageId);
    await until(async () => (await ref.get()).exists, 30_000);
    const doc = (await ref.get()).data()!;
    expect(doc.reason).toBe('malformed');
    // Acked: no further delivery re-records it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await ref.get()).get('count')).toBe(1);
  });

  it('a forged work message (no such batch, or subs it was not given) is dead-lettered, no Drive write', async () => {
    const { config } = harness.runtime;
    const [victim, other] = await harness.seedUsers(2, { prefix: 'forged' });
    await expireAccessTokens(harness.db, [victim!.sub, other!.sub]);
    const runId = '1970-01-01_86400s';
    // A batch the dispatcher did publish, for the other user only.
    await recordDispatched(
      harness.db,
      { v: 1, runId, batchId: 'b000', subs: [other!.sub] },
      Date.now(),
    );
    const publisher = pubsubPublisher(config);
    const forged = [
      // A run the dispatcher never started.
      await publisher.publish(config.pubsub.workTopic, {
        v: 1,
        runId: '1971-01-01_86400s',
        batchId: 'b000',
        subs: [victim!.sub],
      }),
      // The published batch, with a user slipped in.
      await publisher.publish(config.pubsub.workTopic, {
        v: 1,
        runId,
        batchId: 'b000',
        subs: [other!.sub, victim!.sub],
      }),
    ];
    await publisher.close();
    for (const messageId of forged) {
      const ref = harness.db.collection(DEAD_LETTERS).doc(messageId);
      await until(async () => (await ref.get()).exists, 30_000);
      expect((await ref.get()).get('reason')).toBe('forged');
    }
    for (const user of [victim!, other!])
      expect(
        harness.standIn.control
          .driveFiles(user.email)
          .filter((file) => file.name.startsWith('export-')),
      ).toEqual([]);
    expect(await readLedger(harness.db, runId, [victim!.sub, other!.sub])).toEqual(new Map());
  });

  it('a poison batch (token endpoint down for good) is dead-lettered after bounded attempts', async () => {
    const { config } = harness.runtime;
    const users = await harness.seedUsers(2, { prefix: 'poison' });
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    harness.standIn.control.injectFault('token', { kind: 'status', status: 503, count: 10_000 });
    const publisher = pubsubPublisher(config);
    const runId = '2026-11-30_86400s';
    const batch = { v: 1 as const, runId, batchId: 'b900', subs: users.map((user) => user.sub) };
    await recordDispatched(harness.db, batch, Date.now());
    const messageId = await publisher.publish(config.pubsub.workTopic, batch);
    await publisher.close();
    const ref = harness.db.collection(DEAD_LETTERS).doc(messageId);
    await until(async () => (await ref.get()).exists, 90_000);
    expect((await ref.get()).get('reason')).toBe('max_attempts');
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    expect([...ledger.values()].map((entry) => entry.outcome)).toEqual([
      'dead-lettered',
      'dead-lettered',
    ]);
    const deliveries = await harness.db.collection('deliveries').doc(messageId).get();
    expect(deliveries.get('attempts')).toBe(5);
    harness.standIn.control.clearFaults('token');
    for (const user of users) expect((await harness.connection(user.sub)).state).toBe('active');
  });
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
