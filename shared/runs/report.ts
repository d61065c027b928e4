// A run's report, counted from its ledger `runs/{runId}/ledger/{sub}` (one outcome per user,
// decided by the first delivery that finished the user; ./ledger.ts) beside the dispatcher's run
// document. Nothing a delivery writes about itself is read, so overlapping deliveries cannot
// change what it says. Counts are Firestore count() aggregations (./ledger-stats.ts): about 90
// queries matching some 8 index entries per user, billed one read per 1,000
// (docs/architecture.md#reports). Used by `npm run report`, `npm run rerun` and the demo.
import { FieldPath, Timestamp, type Firestore } from '@google-cloud/firestore';
import type { FailureClass } from '../retry/classify.ts';
import type { RepairRecord, RunDoc } from './dispatch.ts';
import { readHalt, type HaltSignal } from './halt.ts';
import {
  FINAL_OUTCOMES,
  REDO_OUTCOMES,
  RUNS,
  ledgerCollection,
  type LedgerEntry,
} from './ledger.ts';
import { countAll, countByValue, largest, percentileByCounts } from './ledger-stats.ts';
import type { JobOutcome } from './user/jobs-step.ts';

export type ReportStatus = 'dispatching' | 'repairing' | 'running' | 'complete' | 'halted';

/** One re-run of the run (docs/operations.md#re-running-a-run). */
export interface RepairSummary {
  /** 1 for the first re-run of the period. */
  readonly attempt: number;
  readonly startedAt: Date;
  /** When its batches were all re-dispatched; undefined while it dispatches. */
  readonly finishedAt: Date | undefined;
  /** Users re-dispatched. */
  readonly users: number;
  readonly batches: number;
  /** The ledger outcomes it replaced, per outcome (`unrecorded`: users who had none). */
  readonly replaced: Readonly<Record<string, number>>;
}

export interface RunReport {
  readonly runId: string;
  readonly status: ReportStatus;
  readonly scheduledAt: Date;
  readonly startedAt: Date;
  /** When the last user was recorded (complete or halted runs), else undefined. */
  readonly endedAt: Date | undefined;
  /** Users dispatched. */
  readonly users: number;
  readonly batches: number;
  /** Users with an outcome in the ledger. */
  readonly recorded: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly failures: Readonly<Record<string, number>>;
  /** Per job: users per outcome (`ok`, `failed`, `needs-consent`, `needs-settings`, `not-due`). */
  readonly jobs: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /**
   * Users dispatched without an outcome yet: being worked on, waiting for redelivery, or (in a
   * halted run) not started.
   */
  readonly pending: number;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly haltReason: string | undefined;
  readonly repairs: readonly RepairSummary[];
}

/** What a poll needs: where the run stands, from the run document and one count. */
export interface RunProgress {
  readonly run: RunDoc;
  readonly halt: HaltSignal;
  readonly status: ReportStatus;
  readonly recorded: number;
}

// Every value of the failure classes and job outcomes, for counting: a new one fails to compile
// until it is listed here.
const FAILURE_CLASSES = Object.keys({
  invalid_grant: 0,
  client_config: 0,
  signing_key: 0,
  scope_missing: 0,
  transient: 0,
  decrypt: 0,
  unauthenticated: 0,
  unknown: 0,
} satisfies Record<FailureClass, 0>);
const JOB_OUTCOMES = Object.keys({
  ok: 0,
  failed: 0,
  'needs-consent': 0,
  'needs-settings': 0,
  retry: 0,
  'not-due': 0,
} satisfies Record<JobOutcome, 0>);

/** Field names of the ledger, checked against its type. */
const FIELD = {
  outcome: 'outcome',
  failure: 'failure',
  durationMs: 'durationMs',
  at: 'at',
  jobs: 'jobs',
} as const satisfies Record<string, keyof LedgerEntry>;

async function readRunDoc(db: Firestore, runId?: string): Promise<RunDoc | undefined> {
  const runs = db.collection(RUNS);
  const snapshot =
    runId === undefined
      ? (await runs.orderBy('startedAt', 'desc').limit(1).get()).docs[0]
      : await runs.doc(runId).get();
  return snapshot?.exists ? (snapshot.data() as RunDoc) : undefined;
}

/** The given run's progress, or the latest run's (by start time). Undefined when there is none. */
export async function readRunProgress(
  db: Firestore,
  runId?: string,
): Promise<RunProgress | undefined> {
  const run = await readRunDoc(db, runId);
  return run === undefined ? undefined : progressOf(db, run);
}

/** Where the given run document's run stands. */
export async function progressOf(db: Firestore, run: RunDoc): Promise<RunProgress> {
  const [halt, recorded] = await Promise.all([
    readHalt(db, run.runId),
    countAll(ledgerCollection(db, run.runId)),
  ]);
  return { run, halt, recorded, status: statusOf(run, halt, recorded) };
}

function statusOf(run: RunDoc, halt: HaltSignal, recorded: number): ReportStatus {
  if (run.status === 'halted' || halt.halted) return 'halted';
  if (run.status === 'dispatching' || run.status === 'repairing') return run.status;
  return recorded >= run.users ? 'complete' : 'running';
}

/** Users a re-run would redo now: recorded with a redo outcome, or dispatched and unrecorded. */
export async function countToRedo(db: Firestore, progress: RunProgress): Promise<number> {
  const redo = await countAll(
    ledgerCollection(db, progress.run.runId).where(FIELD.outcome, 'in', [...REDO_OUTCOMES]),
  );
  return redo + Math.max(0, progress.run.users - progress.recorded);
}

/** When the run's ledger last recorded a user (ms); undefined: nobody yet. */
export async function lastRecordedAt(db: Firestore, runId: string): Promise<number | undefined> {
  const at = await largest(ledgerCollection(db, runId), FIELD.at);
  return at instanceof Timestamp ? at.toMillis() : undefined;
}

/** The given run, or the latest one (by start time). Undefined when there is none. */
export async function readRunReport(db: Firestore, runId?: string): Promise<RunReport | undefined> {
  const progress = await readRunProgress(db, runId);
  if (progress === undefined) return undefined;
  const { run, halt, status, recorded } = progress;
  const ledger = ledgerCollection(db, run.runId);
  const durations = async (q: number, max: unknown) =>
    percentileByCounts(
      (low, high) =>
        countAll(ledger.where(FIELD.durationMs, '>', low).where(FIELD.durationMs, '<=', high)),
      { total: recorded, max: typeof max === 'number' ? max : 0 },
      q,
    );
  const [outcomes, failures, jobs, maxDuration, endedAt] = await Promise.all([
    countByValue(ledger, FIELD.outcome, FINAL_OUTCOMES),
    countByValue(ledger, FIELD.failure, FAILURE_CLASSES),
    jobCounts(db, run),
    recorded > 0 ? largest(ledger, FIELD.durationMs) : undefined,
    status === 'complete' || status === 'halted' ? lastRecordedAt(db, run.runId) : undefined,
  ]);
  const [p50Ms, p95Ms] = await Promise.all([
    durations(0.5, maxDuration),
    durations(0.95, maxDuration),
  ]);
  return {
    runId: run.runId,
    status,
    scheduledAt: run.scheduledAt.toDate(),
    startedAt: run.startedAt.toDate(),
    endedAt:
      status === 'complete' || status === 'halted'
        ? new Date(Math.max(endedAt ?? 0, run.startedAt.toMillis()))
        : undefined,
    users: run.users,
    batches: run.batches,
    recorded,
    outcomes,
    failures,
    jobs,
    pending: Math.max(0, run.users - recorded),
    p50Ms,
    p95Ms,
    haltReason: run.haltReason ?? halt.reason,
    repairs: (run.repairs ?? []).map(repairSummary),
  };
}

/** Per job the run ran (named on its run document), users per job outcome. */
async function jobCounts(
  db: Firestore,
  run: RunDoc,
): Promise<Record<string, Record<string, number>>> {
  const ledger = ledgerCollection(db, run.runId);
  const names = run.jobs ?? [];
  const counts = await Promise.all(
    names.map((job) =>
      countByValue(ledger, new FieldPath(FIELD.jobs, job, 'outcome'), JOB_OUTCOMES),
    ),
  );
  const jobs: Record<string, Record<string, number>> = {};
  names.forEach((job, index) => {
    const found = counts[index] ?? {};
    if (Object.keys(found).length > 0) jobs[job] = found;
  });
  return jobs;
}

function repairSummary(repair: RepairRecord): RepairSummary {
  return {
    attempt: repair.attempt,
    startedAt: repair.startedAt.toDate(),
    finishedAt: repair.finishedAt?.toDate(),
    users: repair.users,
    batches: repair.batches,
    replaced: repair.replaced,
  };
}

export function isRunFinished(report: Pick<RunReport, 'status'>): boolean {
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
    ['batches', String(report.batches)],
  ];
  for (const [outcome, count] of Object.entries(report.outcomes).sort())
    rows.push([`  ${outcome}`, String(count)]);
  if (report.pending > 0)
    rows.push([
      report.status === 'halted' ? '  not finished (halted)' : '  pending',
      String(report.pending),
    ]);
  rows.push(['per-user p50', report.p50Ms === undefined ? '-' : `${report.p50Ms} ms`]);
  rows.push(['per-user p95', report.p95Ms === undefined ? '-' : `${report.p95Ms} ms`]);
  const jobs = Object.entries(report.jobs);
  if (jobs.length > 0) {
    rows.push(['jobs', '']);
    for (const [job, counts] of jobs) rows.push([`  ${job}`, listed(counts)]);
  }
  const failures = Object.entries(report.failures).sort();
  if (failures.length > 0) {
    rows.push(['errors by class', '']);
    for (const [failure, count] of failures) rows.push([`  ${failure}`, String(count)]);
  }
  for (const repair of report.repairs)
    rows.push([
      `repaired (attempt ${repair.attempt})`,
      `${repair.users} users, re-dispatched ${repair.batches} batches` +
        (repair.users > 0 ? ` (were ${listed(repair.replaced)})` : '') +
        `, ${repair.startedAt.toISOString()}` +
        (repair.finishedAt === undefined ? ', dispatching' : ''),
    ]);
  return table(['field', 'value'], rows);
}

function listed(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .sort()
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
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
