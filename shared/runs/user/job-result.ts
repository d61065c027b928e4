// What a job's run() may return, checked before anything is stored: a short effect word and a
// few flat details (numbers, short strings, flags). Anything else is the job's bug: that job
// fails with `job_result_invalid` for this user, and nothing malformed reaches the connection,
// the ledger or the report.
import { JOB_RESULT_INVALID, OperationError } from '../../errors.ts';
import type { JobResult } from '../../jobs/define.ts';

const EFFECT = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
const MAX_DETAILS = 20;
const MAX_DETAIL_TEXT = 200;

export function checkedResult(job: string, value: unknown): JobResult {
  const invalid = (why: string) =>
    new OperationError(JOB_RESULT_INVALID, `job ${job} returned ${why}`, { detail: why });
  if (typeof value !== 'object' || value === null) throw invalid('no result object');
  const { effect, details, output } = value as Record<string, unknown>;
  if (typeof effect !== 'string' || !EFFECT.test(effect))
    throw invalid('an effect that is not a short word');
  if (details === undefined) return { effect, output };
  if (typeof details !== 'object' || details === null || Array.isArray(details))
    throw invalid('details that are not an object');
  const entries = Object.entries(details);
  if (entries.length > MAX_DETAILS) throw invalid(`more than ${MAX_DETAILS} details`);
  for (const [key, item] of entries) {
    if (!DETAIL_KEY.test(key)) throw invalid('a detail with a malformed name');
    const ok =
      (typeof item === 'number' && Number.isFinite(item)) ||
      typeof item === 'boolean' ||
      (typeof item === 'string' && item.length <= MAX_DETAIL_TEXT);
    if (!ok) throw invalid(`detail "${key}" that is not a number, flag or short text`);
  }
  return { effect, details: details as JobResult['details'], output };
}
