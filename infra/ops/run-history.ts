// The last runs for the HTML report (`npm run report -- --html FILE`, ./report-html.ts): each run's
// report (shared/runs/report.ts) and, for the newest, how many users took how long, counted from
// its ledger with count() aggregations (shared/runs/ledger-stats.ts): one query per bucket, billed
// one read per 1,000 entries matched (docs/architecture.md#reports).
import type { Firestore } from '@google-cloud/firestore';
import { RUNS, ledgerCollection, type LedgerEntry } from '../../shared/runs/ledger.ts';
import { countAll } from '../../shared/runs/ledger-stats.ts';
import { readRunReport, type RunReport } from '../../shared/runs/report.ts';

/** Upper bounds (ms) of the duration buckets; a last bucket holds everything above. */
export const DURATION_BOUNDS_MS = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000] as const;

const DURATION = 'durationMs' satisfies keyof LedgerEntry;

export interface DurationBucket {
  /** Exclusive lower bound (ms); undefined for the first bucket, which starts at 0. */
  readonly aboveMs: number | undefined;
  /** Inclusive upper bound (ms); undefined for the last bucket. */
  readonly atMostMs: number | undefined;
  readonly users: number;
}

export interface RunHistory {
  /** Newest first. */
  readonly reports: readonly RunReport[];
  /** The newest run's per-user durations; empty without runs. */
  readonly durations: readonly DurationBucket[];
}

/** The latest `count` runs by start time. */
export async function readRunHistory(db: Firestore, count: number): Promise<RunHistory> {
  const latest = await db.collection(RUNS).orderBy('startedAt', 'desc').limit(count).get();
  const reports: RunReport[] = [];
  // One run after the other: each report is some 90 count() queries at once.
  for (const doc of latest.docs) {
    const report = await readRunReport(db, doc.id);
    if (report) reports.push(report);
  }
  const newest = reports[0];
  return { reports, durations: newest ? await durationBuckets(db, newest.runId) : [] };
}

async function durationBuckets(db: Firestore, runId: string): Promise<DurationBucket[]> {
  const ledger = ledgerCollection(db, runId);
  const edges = [undefined, ...DURATION_BOUNDS_MS, undefined];
  return Promise.all(
    edges.slice(0, -1).map(async (aboveMs, index) => {
      const atMostMs = edges[index + 1];
      let query = ledger.where(DURATION, '>=', 0);
      if (aboveMs !== undefined) query = ledger.where(DURATION, '>', aboveMs);
      if (atMostMs !== undefined) query = query.where(DURATION, '<=', atMostMs);
      return { aboveMs, atMostMs, users: await countAll(query) };
    }),
  );
}
