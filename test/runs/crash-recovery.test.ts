// A worker instance dies while it holds many users' leases (SIGKILL), and a new one starts behind
// the same endpoint, as Cloud Run would. The leases are short and renewed by their live holder
// (shared/runs/user/lease-step.ts), so the new instance takes the dead one's users over within
// seconds instead of waiting out their whole budget (120 s here), and while they are set aside
// the batch's other users go on. Every user ends with exactly one export. And a batch whose
// deliveries keep dying while it makes progress goes on as a fresh message each time, so five
// kills do not spend the five tries Pub/Sub allows it (shared/runs/attempts.ts).
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { DEAD_LETTERS } from '../../shared/runs/dead-letter.ts';
import { recordDispatched } from '../../shared/runs/dispatched.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { waitForRunReport } from '../../shared/runs/trigger.ts';
import { CONNECTIONS } from '../../shared/store/connection/document.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import {
  pushToWorker,
  startRunHarness,
  startWorkerProcess,
  stopOwnEmulators,
  type RunHarness,
} from './harness.ts';

const USERS = 40;
const KILLED_BATCH = 240;
let harness: RunHarness;
let port: number;
let worker: ChildProcess | undefined;
let pushed: Awaited<ReturnType<typeof pushToWorker>>;

beforeAll(async () => {
  // The default user budget: before, a dead holder's lease lasted all of it (125 s).
  harness = await startRunHarness('crash', {
    RUN_BATCH_SIZE: String(USERS),
    WORKER_CONCURRENCY: '8',
    LOG_LEVEL: 'INFO',
  });
  port = await freePort();
  pushed = await pushToWorker(harness, `http://127.0.0.1:${port}`, { ackDeadlineSeconds: 20 });
});

afterAll(async () => {
  if (worker) await stopChild(worker);
  await pushed?.close();
  await harness?.close();
  await stopOwnEmulators();
});

describe('a worker instance lost mid-batch', () => {
  it('its users are taken over within seconds while the others go on; one export each', async () => {
    const users = await harness.seedUsers(USERS, { prefix: 'crash' });
    const subs = users.map((user) => user.sub);
    harness.standIn.control.setLatency(400);
    worker = await startWorkerProcess(harness, port);
    const runId = await harness.tick('2026-12-03T06:00:00Z');
    // Kill the instance once it holds several users' leases and has finished some.
    for (;;) {
      const held = await leasesHeld();
      const done = (await readLedger(harness.db, runId, subs)).size;
      if (held.length >= 4 && done >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker!.once('exit', resolve));
    const killedAt = Date.now();
    const leasedAtKill = await leasesHeld();
    harness.standIn.control.setLatency(0);
    const lines: Record<string, unknown>[] = [];
    worker = await startWorkerProcess(harness, port, lines);

    // Well within one user budget (120 s): before, the new instance waited out every lease.
    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 60_000 });
    expect(report.outcomes).toEqual({ ok: USERS });
    expectOneExportEach(users, 'export-2026-12-03.csv');

    // The new instance took over the dead one's leases (each a user it held at the kill)...
    const takeovers = lines.filter((line) => line.message === 'took over a lapsed lease');
    expect(takeovers.length).toBeGreaterThan(0);
    for (const line of takeovers) expect(leasedAtKill).toContain(line.sub);
    // ...and users it did not hold finished meanwhile, before the last takeover.
    const ledger = await readLedger(harness.db, runId, subs);
    const lastTakeover = Math.max(...takeovers.map((line) => Date.parse(String(line.time))));
    const others = [...ledger.values()].filter(
      (entry) => !leasedAtKill.includes(entry.sub) && entry.at.toMillis() > killedAt,
    );
    expect(others.some((entry) => entry.at.toMillis() < lastTakeover)).toBe(true);
    // No lease is left held.
    expect(await leasesHeld()).toEqual([]);
  }, 150_000);

  it('five kills hitting one batch: no healthy user dead-lettered, one export each, no lease left', async () => {
    // Enough users, slow enough, that every one of the five instances finds many left to do.
    const users = await harness.seedUsers(KILLED_BATCH, { prefix: 'kill5' });
    const subs = users.map((user) => user.sub);
    const { config } = harness.runtime;
    // One batch, sent as the dispatcher sends it.
    const runId = '2026-12-04_86400s';
    const batch = { v: 1 as const, runId, batchId: 'b000000', subs };
    await recordDispatched(harness.db, batch, Date.now());
    harness.standIn.control.setLatency(600);
    const lines: Record<string, unknown>[][] = [[]];
    if (worker) await stopChild(worker);
    worker = await startWorkerProcess(harness, port, lines[0]);
    const publisher = pubsubPublisher(config);
    await publisher.publish(config.pubsub.workTopic, batch, { runId, batchId: batch.batchId });
    await publisher.close();
    const ledgerSize = async () => (await readLedger(harness.db, runId, subs)).size;
    for (let kill = 0; kill < 5; kill += 1) {
      // Each instance is killed once it has done users of the batch and holds leases. Counted
      // from when it is up: by then the writes the dead one had in flight have landed.
      const baseline = await ledgerSize();
      await until(
        async () => (await ledgerSize()) >= baseline + 2 && (await leasesHeld()).length >= 2,
        `instance ${kill + 1} making progress`,
      );
      expect(await ledgerSize()).toBeLessThan(KILLED_BATCH);
      worker.kill('SIGKILL');
      await new Promise((resolve) => worker!.once('exit', resolve));
      lines.push([]);
      worker = await startWorkerProcess(harness, port, lines.at(-1));
    }
    harness.standIn.control.setLatency(0);

    await until(async () => (await ledgerSize()) === KILLED_BATCH, 'every user done');
    const ledger = await readLedger(harness.db, runId, subs);
    expect(new Set([...ledger.values()].map((entry) => entry.outcome))).toEqual(new Set(['ok']));
    expectOneExportEach(users, 'export-2026-12-04.csv');
    // Each kill after the first redelivery found users done: the rest went on afresh.
    const continued = lines
      .flat()
      .filter((line) => line.message === 'batch continued after a lost delivery');
    expect(continued.length).toBeGreaterThanOrEqual(4);
    expect((await harness.db.collection(DEAD_LETTERS).count().get()).data().count).toBe(0);
    expect(await leasesHeld()).toEqual([]);
  }, 240_000);
});

/** Polls `check` until it holds; fails naming `what` after 60 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function expectOneExportEach(users: readonly { email: string }[], name: string): void {
  for (const user of users)
    expect(
      harness.standIn.control
        .driveFiles(user.email)
        .filter((file) => file.name === name && !file.trashed),
    ).toHaveLength(1);
}

/** The users whose connection holds a lease. */
async function leasesHeld(): Promise<string[]> {
  const held = await harness.db.collection(CONNECTIONS).where('refreshLease', '!=', null).get();
  return held.docs.map((doc) => doc.id);
}
