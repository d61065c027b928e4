// What the operator's dashboard counts (infra/monitoring/, docs/operations.md#dashboard-and-alerts):
// after each work delivery, one INFO line `users finished` per final outcome the delivery
// recorded, with how many users and how far into the run (or into its latest re-run,
// ./rerun.ts). The deploy's log-based metrics sum `users` per run and outcome, and an alerting
// policy fires on a `runElapsedSeconds` past the run's deadline. Per delivery and outcome, never
// per user: a million users a day in batches of 100 make some ten to thirty thousand such lines
// a day, not a million (Cloud Logging bills ingested bytes,
// https://cloud.google.com/stackdriver/pricing). The run's report (./report.ts) stays the exact
// tally: a user two overlapping deliveries both finished is counted by both here, and a re-run
// counts again the users it redoes.
import type { Logger } from '../log.ts';
import type { LedgerEntry } from './ledger.ts';

/** The message of the line; the metrics filter on it. */
export const USERS_FINISHED = 'users finished';

export interface FinishedCount {
  readonly outcome: string;
  readonly users: number;
}

/**
 * The users a delivery finished, per outcome: the batch's outcome counts after it (which include
 * the users earlier deliveries had finished), less the ledger entries it read before it started.
 */
export function finishedByDelivery(
  after: Readonly<Record<string, number>>,
  before: Iterable<Pick<LedgerEntry, 'outcome'>>,
): FinishedCount[] {
  const earlier: Record<string, number> = {};
  for (const entry of before) earlier[entry.outcome] = (earlier[entry.outcome] ?? 0) + 1;
  return Object.keys(after)
    .sort()
    .map((outcome) => ({ outcome, users: (after[outcome] ?? 0) - (earlier[outcome] ?? 0) }))
    .filter((count) => count.users > 0);
}

/** One line per outcome; `log` carries the run and batch ids; `runStartedAt`: of the attempt. */
export function logUsersFinished(
  log: Logger,
  counts: readonly FinishedCount[],
  timing: { readonly runStartedAt: number | undefined; readonly now: number },
): void {
  const { runStartedAt, now } = timing;
  const elapsed =
    runStartedAt === undefined || now < runStartedAt
      ? {}
      : { runElapsedSeconds: Math.round((now - runStartedAt) / 1000) };
  for (const { outcome, users } of counts) log.info(USERS_FINISHED, { outcome, users, ...elapsed });
}
