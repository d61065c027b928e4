// A worker instance dies while it holds many users' leases (SIGKILL), and a new one starts behind
// the same endpoint, as Cloud Run would. The leases are short and renewed by their live holder
// (shared/runs/user/lease-step.ts), so the new instance takes the dead one's users over within
// seconds instead of waiting out their whole budget (120 s here), and while they are set aside
// the batch's other users go on. Every user ends with exactly one export.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatcherHandler } from '../../shared/runs/handlers.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { publishTick, waitForRunReport } from '../../shared/runs/trigger.ts';
import { CONNECTIONS } from '../../shared/store/connection/document.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import {
  serveCloudEvent,
  startRunHarness,
  startWorkerProcess,
  stopOwnEmulators,
  wirePubSub,
  type RunHarness,
} from './harness.ts';

const USERS = 40;
let harness: RunHarness;
let port: number;
let worker: ChildProcess | undefined;
let dispatcher: Awaited<ReturnType<typeof serveCloudEvent>>;
let wiring: Awaited<ReturnType<typeof wirePubSub>>;

beforeAll(async () => {
  // The default user budget: before, a dead holder's lease lasted all of it (125 s).
  harness = await startRunHarness('crash', {
    RUN_BATCH_SIZE: String(USERS),
    WORKER_CONCURRENCY: '8',
    LOG_LEVEL: 'INFO',
  });
  port = await freePort();
  dispatcher = await serveCloudEvent(dispatcherHandler(() => harness.deps()));
  wiring = await wirePubSub(
    harness,
    { dispatcher: dispatcher.url, worker: `http://127.0.0.1:${port}` },
    { ackDeadlineSeconds: 20 },
  );
});

afterAll(async () => {
  if (worker) await stopChild(worker);
  await dispatcher?.close();
  await wiring?.close();
  await harness?.close();
  await stopOwnEmulators();
});

describe('a worker instance lost mid-batch', () => {
  it('its users are taken over within seconds while the others go on; one export each', async () => {
    const users = await harness.seedUsers(USERS, { prefix: 'crash' });
    const subs = users.map((user) => user.sub);
    harness.standIn.control.setLatency(400);
    worker = await startWorkerProcess(harness, port);
    const { config } = harness.runtime;
    const publisher = pubsubPublisher(config);
    const { runId } = await publishTick(
      publisher,
      config.pubsub.tickTopic,
      Date.parse('2026-12-03T06:00:00Z'),
      86400,
    );
    await publisher.close();
    // Kill the instance once it holds several users' leases and has finished some.
    let held: string[];
    for (;;) {
      const leased = await harness.db
        .collection(CONNECTIONS)
        .where('refreshLease', '!=', null)
        .get();
      const done = (await readLedger(harness.db, runId, subs)).size;
      held = leased.docs.map((doc) => doc.id);
      if (held.length >= 4 && done >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker!.once('exit', resolve));
    const killedAt = Date.now();
    const leasedAtKill = (
      await harness.db.collection(CONNECTIONS).where('refreshLease', '!=', null).get()
    ).docs.map((doc) => doc.id);
    harness.standIn.control.setLatency(0);
    const lines: Record<string, unknown>[] = [];
    worker = await startWorkerProcess(harness, port, lines);

    // Well within one user budget (120 s): before, the new instance waited out every lease.
    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 60_000 });
    expect(report.outcomes).toEqual({ ok: USERS });
    for (const user of users)
      expect(
        harness.standIn.control
          .driveFiles(user.email)
          .filter((file) => file.name === 'export-2026-12-03.csv' && !file.trashed),
      ).toHaveLength(1);

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
    const leftHeld = await harness.db
      .collection(CONNECTIONS)
      .where('refreshLease', '!=', null)
      .get();
    expect(leftHeld.size).toBe(0);
  }, 150_000);
});
