// What a job's run() may return, checked before anything is stored: a short effect word, a few
// flat details (numbers, short strings, flags) and as flat a memory for its next runs. Anything else is the job's bug: that job
// fails with `job_result_invalid` for this user, and nothing malformed reaches the connection,
// the ledger or the report.
import { JOB_RESULT_INVALID, OperationError } from '../../errors.ts';
import type { JobDetails, JobResult } from '../../jobs/define.ts';

const EFFECT = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
const MAX_DETAILS = 20;
const MAX_DETAIL_TEXT = 200;

export function checkedResult(job: string, value: unknown): JobResult {
  const invalid = (why: string) =>
    new OperationError(JOB_RESULT_INVALID, `job ${job} returned ${why}`, { detail: why });
  if (typeof value !== 'object' || value === null) throw invalid('no result object');
  const { effect, details, output, remember } = value as Record<string, unknown>;
  if (typeof effect !== 'string' || !EFFECT.test(effect))
    throw invalid('an effect that is not a short word');
  return {
    effect,
    output,
    ...(details === undefined ? {} : { details: flat(details, 'details', invalid) }),
    ...(remember === undefined ? {} : { remember: flat(remember, 'remember', invalid) }),
  };
}

/** A few flat entries: numbers, flags and short texts under short names. */
function flat(
  value: unknown,
  what: 'details' | 'remember',
  invalid: (why: string) => Error,
): JobDetails {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${what} that are not an object`);
  const entries = Object.entries(value);
  if (entries.length > MAX_DETAILS) throw invalid(`more than ${MAX_DETAILS} ${what} entries`);
  for (const [key, item] of entries) {
    if (!DETAIL_KEY.test(key)) throw invalid(`${what} with a malformed name`);
    const ok =
      (typeof item === 'number' && Number.isFinite(item)) ||
      typeof item === 'boolean' ||
      (typeof item === 'string' && item.length <= MAX_DETAIL_TEXT);
    if (!ok) throw invalid(`${what} "${key}" that is not a number, flag or short text`);
  }
  return value as JobDetails;
}
