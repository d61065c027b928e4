// One truth per user and run: the report is counted from the ledger, where the first delivery that
// finished a user decides (shared/runs/report.ts). Overlapping deliveries of one batch, the later
// one working from reads made before the first finished, cannot change what it says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionReportSource, type ExportSource } from '../../shared/jobs/export-source.ts';
import { createDriveExportJob } from '../../shared/jobs/builtin/drive-export.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch, readBatchState } from '../../shared/runs/batch.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { readLedger, type LedgerEntry } from '../../shared/runs/ledger.ts';
import type { WorkBatch } from '../../shared/runs/messages.ts';
import { formatRunReport, readRunReport, type RunReport } from '../../shared/runs/report.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

let harness: RunHarness;
const failing = new Set<string>();
const source: ExportSource = {
  produce(input) {
    if (failing.has(input.connection.sub)) throw new Error('export source broken');
    return connectionReportSource.produce(input);
  },
};
const jobs = [createDriveExportJob({ source })];

beforeAll(async () => {
  harness = await startRunHarness('report', { RUN_BATCH_SIZE: '20', WORKER_CONCURRENCY: '4' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

/** The report's counts, computed from every ledger entry of the run. */
function countsOf(entries: readonly LedgerEntry[]) {
  const outcomes: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const perJob: Record<string, Record<string, number>> = {};
  for (const entry of entries) {
    outcomes[entry.outcome] = (outcomes[entry.outcome] ?? 0) + 1;
    if (entry.failure) failures[entry.failure] = (failures[entry.failure] ?? 0) + 1;
    for (const [job, record] of Object.entries(entry.jobs ?? {})) {
      const counts = (perJob[job] ??= {});
      counts[record.outcome] = (counts[record.outcome] ?? 0) + 1;
    }
  }
  return { outcomes, failures, jobs: perJob };
}

async function runOf(day: string, users: readonly SeededUser[]) {
  const publisher = memoryPublisher();
  const deps = await harness.deps({ publisher, jobs });
  const scheduledAt = Date.parse(`${day}T03:00:00Z`);
  await dispatchRun(deps, { scheduledAt });
  const [batch] = publisher.messages.map((message) => message.data as WorkBatch);
  expect(batch?.subs).toEqual(expect.arrayContaining(users.map((user) => user.sub)));
  return { deps, batch: batch!, runId: runPeriodFor(scheduledAt, 86400).runId };
}

async function expectReportIsLedger(runId: string, subs: readonly string[]): Promise<RunReport> {
  const ledger = await readLedger(harness.db, runId, subs);
  expect(ledger.size).toBe(subs.length);
  const report = await readRunReport(harness.db, runId);
  expect(report?.status).toBe('complete');
  expect({
    outcomes: report?.outcomes,
    failures: report?.failures,
    jobs: report?.jobs,
  }).toEqual(countsOf([...ledger.values()]));
  return report!;
}

describe('the report is the ledger', () => {
  it('two overlapping deliveries of one batch: the later one changes nothing it reports', async () => {
    const users = await harness.seedUsers(6, { prefix: 'overlap' });
    const [reconnect, failed] = [users[1]!, users[3]!];
    await expireAccessTokens(harness.db, [reconnect.sub]);
    harness.standIn.control.requireReauth(reconnect.email);
    failing.add(failed.sub);
    const { deps, batch, runId } = await runOf('2026-09-01', users);
    // The later delivery read the batch (ledger, connections) before the first one finished it.
    const stale = await readBatchState(deps, batch);
    await processBatch(deps, batch, { attempt: 1, final: false });
    failing.clear();
    await processBatch(deps, batch, { attempt: 2, final: false }, stale);

    const ledger = await readLedger(harness.db, runId, batch.subs);
    expect(ledger.get(reconnect.sub)?.outcome).toBe('needs-reconnect');
    expect(ledger.get(failed.sub)?.outcome).toBe('failed');
    const report = await expectReportIsLedger(runId, batch.subs);
    expect(report.outcomes).toMatchObject({ 'needs-reconnect': 1, failed: 1 });
    expect(report.outcomes.ok).toBe(batch.subs.length - 2);
    expect(report.p50Ms).toBeGreaterThanOrEqual(0);
    expect(formatRunReport(report)).toMatch(/needs-reconnect +1/);
  });

  it('two deliveries of one batch at once: the report equals the ledger', async () => {
    const users = await harness.seedUsers(8, { prefix: 'twice' });
    await expireAccessTokens(harness.db, [users[2]!.sub]);
    harness.standIn.control.requireReauth(users[2]!.email);
    const { deps, batch, runId } = await runOf('2026-09-02', users);
    await Promise.all([
      processBatch(deps, batch, { attempt: 1, final: false }),
      processBatch(deps, batch, { attempt: 2, final: false }),
    ]);
    const report = await expectReportIsLedger(runId, batch.subs);
    expect(report.outcomes['needs-reconnect']).toBe(1);
  });
});
