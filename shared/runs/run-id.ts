// A run is one schedule period. Its id derives only from the scheduled time and the period
// length, so a duplicated or retried tick (Pub/Sub is at-least-once; Cloud Scheduler retries)
// maps to the same run and never starts a second one.

export interface RunPeriod {
  readonly runId: string;
  readonly periodSeconds: number;
  /** Period start and end, ms since the epoch (UTC, aligned to the period length). */
  readonly start: number;
  readonly end: number;
  /** Human label used in file names: `2026-11-22` for daily periods, else `2026-11-22T1300Z`. */
  readonly label: string;
}

const RUN_ID = /^(\d{4}-\d{2}-\d{2}(?:T\d{4}Z)?)_(\d+)s$/;

export function runPeriodFor(scheduledAt: number, periodSeconds: number): RunPeriod {
  const periodMs = periodSeconds * 1000;
  const start = Math.floor(scheduledAt / periodMs) * periodMs;
  const label = periodLabel(start, periodSeconds);
  return {
    runId: `${label}_${periodSeconds}s`,
    periodSeconds,
    start,
    end: start + periodMs,
    label,
  };
}

/** Inverse of runPeriodFor; undefined for anything that is not a run id. */
export function parseRunId(runId: string): RunPeriod | undefined {
  const match = RUN_ID.exec(runId);
  if (!match) return undefined;
  const [, label = '', seconds = ''] = match;
  const periodSeconds = Number(seconds);
  const iso =
    label.length === 10 ? `${label}T00:00:00Z` : `${label.slice(0, 13)}:${label.slice(13, 15)}:00Z`;
  const start = Date.parse(iso);
  if (Number.isNaN(start) || periodSeconds < 60) return undefined;
  const period = runPeriodFor(start, periodSeconds);
  return period.runId === runId ? period : undefined;
}

function periodLabel(start: number, periodSeconds: number): string {
  const iso = new Date(start).toISOString();
  const day = iso.slice(0, 10);
  if (periodSeconds % 86400 === 0) return day;
  return `${day}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}
