// A project-wide Google quota met by a run (the stand-in refuses calls beyond 15 per second with
// 429 rateLimitExceeded): the instance narrows its Google lanes and the run finishes with every
// user ok, once each; nobody fails for the quota.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { readRunReport } from '../../shared/runs/report.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
} from './harness.ts';

let harness: RunHarness;
beforeAll(async () => {
  harness = await startRunHarness('quota', { RUN_INLINE: 'true', WORKER_CONCURRENCY: '8' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

describe('a project quota', () => {
  it('narrows the lanes; every user finishes ok, none fails for the quota', async () => {
    const users = await harness.seedUsers(30, { prefix: 'quota' });
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    const deps = await harness.deps({ publisher: memoryPublisher(), backoffBaseMs: 50 });
    let narrowest = deps.limiter.limit;
    const watch = setInterval(() => (narrowest = Math.min(narrowest, deps.limiter.limit)), 5);
    harness.standIn.control.setProjectQuota({ callsPerSecond: 15, endpoints: ['token', 'drive'] });
    try {
      const result = await dispatchRun(deps, { scheduledAt: Date.parse('2027-02-01T05:00:00Z') });
      const report = await readRunReport(harness.db, result.runId);
      expect(report?.outcomes).toEqual({ ok: 30 });
      expect(harness.standIn.control.quotaRefusals()).toBeGreaterThan(0);
      expect(narrowest).toBeLessThan(8);
      for (const user of users)
        expect(
          harness.standIn.control
            .driveFiles(user.email)
            .filter((file) => file.name === 'export-2027-02-01.csv'),
        ).toHaveLength(1);
    } finally {
      clearInterval(watch);
      harness.standIn.control.setProjectQuota(undefined);
    }
  }, 120_000);
});
