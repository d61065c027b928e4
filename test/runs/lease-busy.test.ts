// Attempts measure progress (issue 15): a user whose lease another live delivery holds for the
// whole of this delivery is not this delivery's failure. On the batch's last delivery it is left
// to the holder (no `dead-lettered` entry), while the batch's other users finish.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import { recordDispatched } from '../../shared/runs/dispatched.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { batchId } from '../../shared/runs/messages.ts';
import { connectionRef } from '../support/connections.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

let harness: RunHarness;
beforeAll(async () => {
  harness = await startRunHarness('busy', { USER_BUDGET_SECONDS: '1', WORKER_CONCURRENCY: '2' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

describe('a user held by another live delivery', () => {
  it('is left to its holder on the last delivery, not dead-lettered; the others finish', async () => {
    const [held, ...others] = await harness.seedUsers(3, { prefix: 'busy' });
    // Another delivery holds the user and keeps renewing (its lease never lapses here).
    const renew = () =>
      connectionRef(harness.db, held!.sub).update({
        refreshLease: { holder: 'another-live-delivery', until: new Date(Date.now() + 6_000) },
      });
    await renew();
    const beat = setInterval(() => void renew(), 1_000);
    const runId = '2027-04-01_86400s';
    const batch = {
      v: 1 as const,
      runId,
      batchId: batchId(0),
      subs: [held!.sub, ...others.map((user) => user.sub)],
    };
    await recordDispatched(harness.db, batch, Date.now());
    try {
      const deps = await harness.deps({ publisher: memoryPublisher() });
      const summary = await processBatch(deps, batch, { attempt: 5, final: true });
      expect(summary.deadLettered).toBe(false);
    } finally {
      clearInterval(beat);
    }
    const ledger = await readLedger(harness.db, runId, batch.subs);
    expect(ledger.has(held!.sub)).toBe(false);
    for (const user of others) expect(ledger.get(user.sub)?.outcome).toBe('ok');
    expect(
      harness.logs.some(
        (line) =>
          line.message === 'user left to the delivery that holds it' && line.sub === held!.sub,
      ),
    ).toBe(true);
  }, 60_000);
});
