// A run's report, assembled from the dispatcher's run document and the per-batch summaries
// (no single hot document is ever written by many workers). Used by `npm run report` and the demo.
import type { Firestore } from '@google-cloud/firestore';
import type { BatchSummary } from './batch.ts';
import type { RunDoc } from './dispatch.ts';
import { readHalt } from './halt.ts';
import { RUNS } from './ledger.ts';

export type ReportStatus = 'dispatching' | 'running' | 'complete' | 'halted';

export interface RunReport {
  readonly runId: string;
  readonly status: ReportStatus;
  readonly scheduledAt: Date;
  readonly startedAt: Date;
  /** When the last batch finished (complete runs), else undefined. */
  readonly endedAt: Date | undefined;
  readonly users: number;
  readonly batches: number;
  readonly batchesDone: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly failures: Readonly<Record<string, number>>;
  /** Per job: users per outcome (`ok`, `failed`, `needs-consent`, `needs-settings`, `not-due`). */
  readonly jobs: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Users waiting for redelivery. */
  readonly pending: number;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly haltReason: string | undefined;
}

/** The given run, or the latest one (by start time). Undefined when there is none. */
export async function readRunReport(db: Firestore, runId?: string): Promise<RunReport | undefined> {
  const runs = db.collection(RUNS);
  const snapshot =
    runId === undefined
      ? (await runs.orderBy('startedAt', 'desc').limit(1).get()).docs[0]
      : await runs.doc(runId).get();
  if (!snapshot?.exists) return undefined;
  const run = snapshot.data() as RunDoc;
  const [batchDocs, halt] = await Promise.all([
    snapshot.ref.collection('batches').get(),
    readHalt(db, run.runId),
  ]);
  const outcomes: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const jobs: Record<string, Record<string, number>> = {};
  const durations: number[] = [];
  let pending = 0;
  let endedAt = 0;
  let done = 0;
  for (const doc of batchDocs.docs) {
    const batch = doc.data() as BatchSummary;
    for (const [key, count] of Object.entries(batch.outcomes))
      outcomes[key] = (outcomes[key] ?? 0) + count;
    for (const [key, count] of Object.entries(batch.failures))
      failures[key] = (failures[key] ?? 0) + count;
    for (const [job, counts] of Object.entries(batch.jobs ?? {}))
      for (const [outcome, count] of Object.entries(counts)) {
        const into = (jobs[job] ??= {});
        into[outcome] = (into[outcome] ?? 0) + count;
      }
    for (const duration of batch.durationsMs) durations.push(duration);
    pending += batch.pending;
    if (batch.halted > 0) outcomes.halted = (outcomes.halted ?? 0) + batch.halted;
    if (batch.pending === 0) done += 1;
    endedAt = Math.max(endedAt, batch.finishedAt.toMillis());
  }
  durations.sort((a, b) => a - b);
  const halted = run.status === 'halted' || halt.halted;
  const complete = run.status === 'dispatched' && done >= run.batches;
  return {
    runId: run.runId,
    status: halted
      ? 'halted'
      : run.status === 'dispatching'
        ? 'dispatching'
        : complete
          ? 'complete'
          : 'running',
    scheduledAt: run.scheduledAt.toDate(),
    startedAt: run.startedAt.toDate(),
    endedAt: complete || halted ? new Date(Math.max(endedAt, run.startedAt.toMillis())) : undefined,
    users: run.users,
    batches: run.batches,
    batchesDone: done,
    outcomes,
    failures,
    jobs,
    pending,
    p50Ms: percentile(durations, 0.5),
    p95Ms: percentile(durations, 0.95),
    haltReason: run.haltReason ?? halt.reason,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export function isRunFinished(report: RunReport): boolean {
  return report.status === 'complete' || report.status === 'halted';
}

export function formatRunReport(report: RunReport): string {
  const rows: [string, string][] = [
    ['run', report.runId],
    ['status', report.status + (report.haltReason ? ` (${report.haltReason})` : '')],
    ['scheduled', report.scheduledAt.toISOString()],
    ['started', report.startedAt.toISOString()],
    ['ended', report.endedAt?.toISOString() ?? '-'],
    [
      'duration',
      report.endedAt
        ? `${((report.endedAt.getTime() - report.startedAt.getTime()) / 1000).toFixed(1)} s`
        : '-',
    ],
    ['users', String(report.users)],
    ['batches', `${report.batchesDone}/${report.batches} done`],
  ];
  for (const [outcome, count] of Object.entries(report.outcomes).sort())
    rows.push([`  ${outcome}`, String(count)]);
  if (report.pending > 0) rows.push(['  pending (redelivery)', String(report.pending)]);
  rows.push(['per-user p50', report.p50Ms === undefined ? '-' : `${report.p50Ms} ms`]);
  rows.push(['per-user p95', report.p95Ms === undefined ? '-' : `${report.p95Ms} ms`]);
  const jobs = Object.entries(report.jobs);
  if (jobs.length > 0) {
    rows.push(['jobs', '']);
    for (const [job, counts] of jobs)
      rows.push([
        `  ${job}`,
        Object.entries(counts)
          .sort()
          .map(([outcome, count]) => `${outcome} ${count}`)
          .join(', '),
      ]);
  }
  const failures = Object.entries(report.failures).sort();
  if (failures.length > 0) {
    rows.push(['errors by class', '']);
    for (const [failure, count] of failures) rows.push([`  ${failure}`, String(count)]);
  }
  return table(['field', 'value'], rows);
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
  ].join('\n');
}
