// The user's jobs inside their Google lane (docs/jobs.md#how-a-run-treats-each-job). Each
// enabled job is decided on its own: not due (it already ran to an end in its period), waiting
// for consent (the grant lacks one of its scopes), waiting for settings (the app's settings for
// it are missing or invalid), or run. A job's failure, a missing scope or a transient error stops
// only that job; the user's other jobs go on. Only what concerns the grant itself (a dead refresh
// token, our broken OAuth client) stops the user. An access token is obtained only if some job
// will run, and right before each job's side effect the run checks that it still holds the user:
// one who revoked or reconnected meanwhile gets nothing more done.
import type { OAuth2Client } from 'google-auth-library';
import type { PurposeKeys } from '../../crypto/keyset.ts';
import { JOB_DEADLINE, OperationError, SCOPE_MISSING } from '../../errors.ts';
import { lackingScopes as missing } from '../../jobs/catalog.ts';
import {
  SCHEDULES,
  type JobDefinition,
  type JobDetails,
  type JobResult,
} from '../../jobs/define.ts';
import { jobContext } from '../../jobs/context.ts';
import { createOAuthClient } from '../../oauth/google-client.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError, missingScopeOf, type FailureClass } from '../../retry/classify.ts';
import type { JobState } from '../../store/connection/document.ts';
import type { Held } from '../../store/connection/repository.ts';
import type { JobSettingsValues } from '../../store/job-settings.ts';
import { runPeriodFor, type RunPeriod } from '../run-id.ts';
import { obtainToken, type UserToken } from '../tokens.ts';
import { checkedResult } from './job-result.ts';
import type { UserWork } from './context.ts';

/** What one job came to in this run; `not-due` is not stored on the connection. */
export type JobOutcome = JobState['status'] | 'not-due';

export interface JobRecord {
  readonly outcome: JobOutcome;
  readonly effect: string | null;
  readonly details: JobResult['details'] | null;
  readonly reason: string | null;
  readonly failure: FailureClass | null;
}

/** What the lane produced: the token (to persist if refreshed) and each job's decision. */
export type JobsStep =
  | {
      readonly kind: 'ran';
      readonly token: UserToken | undefined;
      /** The job states to store (every job that was decided, not the ones not due). */
      readonly jobs: Readonly<Record<string, JobState>>;
      readonly records: Readonly<Record<string, JobRecord>>;
    }
  /** The grant itself failed (refresh): the user's outcome; jobs decided before are kept. */
  | {
      readonly kind: 'failed';
      readonly token: UserToken | undefined;
      readonly error: unknown;
      readonly jobs: Readonly<Record<string, JobState>>;
      readonly records: Readonly<Record<string, JobRecord>>;
    }
  /** The user decided (revoked, reconnected) before a job's side effect: nothing more was done. */
  | { readonly kind: 'superseded'; readonly token: UserToken | undefined };

export interface UserGrant {
  readonly held: Held;
  readonly keys: PurposeKeys;
  readonly settings: JobSettingsValues;
}

/** The job's own period for this run: its schedule, aligned like the run's. */
export function jobPeriod(run: RunPeriod, job: Pick<JobDefinition, 'schedule'>): RunPeriod {
  return runPeriodFor(run.start, SCHEDULES[job.schedule]);
}

export async function runJobs(work: UserWork, grant: UserGrant): Promise<JobsStep> {
  const { connection } = grant.held;
  const jobs: Record<string, JobState> = {};
  const records: Record<string, JobRecord> = {};
  const earlier = new Map<string, JobResult>();
  const decide = (name: string, state: JobState, failure: FailureClass | null = null) => {
    jobs[name] = state;
    records[name] = {
      outcome: state.status,
      effect: state.status === 'ok' ? state.effect : null,
      details: state.status === 'ok' ? state.details : null,
      reason: state.reason,
      failure,
    };
  };
  let token: UserToken | undefined;
  try {
    for (const job of work.deps.jobs) {
      const period = jobPeriod(work.run.period, job);
      const previous = connection.jobs[job.name];
      const state = stateFor(work, previous);
      if (
        previous?.period === period.runId &&
        (previous.status === 'ok' ||
          (previous.status === 'failed' && !failedBeforeRerun(work, previous)))
      ) {
        records[job.name] = {
          outcome: 'not-due',
          effect: null,
          details: null,
          reason: null,
          failure: null,
        };
        continue;
      }
      // The stored scopes first: no token is obtained for a job that cannot run anyway.
      const lacking = missing(job, token?.scopes ?? connection.scopes);
      if (lacking.length > 0) {
        decide(job.name, state('needs-consent', { missingScopes: lacking, reason: 'scope' }));
        continue;
      }
      const parsed = job.settings?.safeParse(grant.settings[job.name] ?? {});
      if (parsed && !parsed.success) {
        decide(job.name, state('needs-settings', { reason: settingsProblem(parsed.error) }));
        continue;
      }
      token ??= await obtainToken(work.deps, {
        connection,
        keys: grant.keys,
        deadline: work.deadline,
        force: false,
        onRetry: work.backoff().onRetry,
      });
      // A refresh reports the scopes Google grants now: they may be fewer than stored.
      const stillLacking = missing(job, token.scopes);
      if (stillLacking.length > 0) {
        decide(job.name, state('needs-consent', { missingScopes: stillLacking, reason: 'scope' }));
        continue;
      }
      if (!(await work.run.connections.stillHeld(grant.held))) return { kind: 'superseded', token };
      const done = await runJob(work, {
        grant,
        job,
        token,
        period,
        settings: parsed?.data ?? {},
        earlier,
        memory: previous?.memory ?? {},
        retried: mayHaveRunBefore(work, previous, period),
      });
      token = done.token;
      if (done.kind === 'ok') {
        earlier.set(job.name, done.result);
        decide(
          job.name,
          state('ok', {
            period: period.runId,
            effect: done.result.effect,
            details: done.result.details ?? null,
            memory: done.result.remember ?? previous?.memory ?? null,
          }),
        );
        continue;
      }
      const { failure, reason } = done.classified;
      if (failure === 'scope_missing') {
        const named = missingScopeOf(done.error);
        const scopes = named ? [named] : job.scopes.map((scope) => scope.url);
        decide(job.name, state('needs-consent', { missingScopes: scopes, reason }), failure);
      } else if (failure === 'transient') {
        work.log.warn('job failed transiently; left for redelivery', { job: job.name, reason });
        decide(job.name, state('retry', { reason }), failure);
      } else if (
        failure === 'invalid_grant' ||
        failure === 'client_config' ||
        failure === 'signing_key' ||
        failure === 'decrypt'
      ) {
        throw done.error;
      } else {
        work.log.warn('job failed', { job: job.name, failure, reason, error: done.error });
        decide(job.name, state('failed', { period: period.runId, reason }), failure);
      }
    }
    return { kind: 'ran', token, jobs, records };
  } catch (error) {
    return { kind: 'failed', token, error, jobs, records };
  }
}

/** Builds the job's next state, keeping its last successful effect. */
function stateFor(work: UserWork, previous: JobState | undefined) {
  return (status: JobState['status'], changes: Partial<JobState> = {}): JobState => ({
    status,
    period: previous?.period ?? null,
    effect: previous?.effect ?? null,
    details: previous?.details ?? null,
    reason: null,
    missingScopes: [],
    memory: previous?.memory ?? null,
    at: new Date(work.now()),
    ...changes,
  });
}

/** A re-run redoes a job that failed for good in its period before the re-run began. */
function failedBeforeRerun(work: UserWork, previous: JobState): boolean {
  const since = work.run.rerunSince;
  return since !== undefined && previous.at.getTime() < since;
}

/**
 * Whether an earlier attempt of this job for this user and period may have had an effect:
 * a redelivered batch, a re-run of the period, a lease taken over from a holder that stopped (it
 * may have died after the job's side effect, before its final write), or a retry recorded in
 * this period. Only a plain first attempt is `false` (docs/jobs.md#memory-and-retries).
 */
function mayHaveRunBefore(
  work: UserWork,
  previous: JobState | undefined,
  period: RunPeriod,
): boolean {
  return (
    // A redelivery: an earlier delivery may have had effects, on a user it wrote (took).
    (work.run.attempt > 1 && work.writtenDuringRun) ||
    work.run.rerunSince !== undefined ||
    work.leaseTakenOver ||
    (previous?.status === 'retry' && previous.at.getTime() >= period.start)
  );
}

/** `field: problem` pairs, short and without values (settings may be the user's data). */
function settingsProblem(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join('.') || 'settings'}: ${issue.message}`)
    .join('; ')
    .slice(0, 300);
}

type JobRun =
  | { readonly kind: 'ok'; readonly token: UserToken; readonly result: JobResult }
  | {
      readonly kind: 'error';
      readonly token: UserToken;
      readonly error: unknown;
      readonly classified: ReturnType<typeof classifyError>;
    };

/**
 * One job, with backoff on transient answers inside the user's budget, and one forced refresh
 * on a 401 (the grant may have been revoked since the token was issued: the refresh tells, by
 * invalid_grant, or yields a token that works). A refresh failure is the grant's: it is thrown.
 */
async function runJob(
  work: UserWork,
  input: {
    grant: UserGrant;
    job: JobDefinition;
    token: UserToken;
    period: RunPeriod;
    settings: Record<string, unknown>;
    earlier: ReadonlyMap<string, JobResult>;
    memory: JobDetails;
    retried: boolean;
  },
): Promise<JobRun> {
  const { grant, job } = input;
  let current = input.token;
  for (let attempt = 0; ; attempt += 1) {
    const auth = await authorizedClient(work, current);
    try {
      const result = await withBackoff(() => runOnce(work, { ...input, auth }), work.backoff());
      return { kind: 'ok', token: current, result };
    } catch (error) {
      const classified = classifyError(error);
      if (attempt > 0 || classified.failure !== 'unauthenticated')
        return { kind: 'error', token: current, error, classified };
      current = await obtainToken(work.deps, {
        connection: grant.held.connection,
        keys: grant.keys,
        deadline: work.deadline,
        force: true,
        onRetry: work.backoff().onRetry,
      });
      const [lacking] = missing(job, current.scopes);
      if (lacking !== undefined) {
        const scopeError = new OperationError(SCOPE_MISSING, `granted scopes lack ${lacking}`, {
          detail: lacking,
        });
        return {
          kind: 'error',
          token: current,
          error: scopeError,
          classified: classifyError(scopeError),
        };
      }
    }
  }
}

/** One call of the job's run(), bounded by the user's deadline, its result checked. */
async function runOnce(
  work: UserWork,
  input: {
    job: JobDefinition;
    period: RunPeriod;
    settings: Record<string, unknown>;
    earlier: ReadonlyMap<string, JobResult>;
    memory: JobDetails;
    retried: boolean;
    grant: UserGrant;
    auth: OAuth2Client;
  },
): Promise<JobResult> {
  const { job, period, grant, auth } = input;
  const { connection } = grant.held;
  const { config } = work.deps.runtime;
  const controller = new AbortController();
  const remaining = Math.max(0, work.deadline - work.now());
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(
        new OperationError(JOB_DEADLINE, `job ${job.name} ran past its deadline`, {
          detail: job.name,
        }),
      );
    }, remaining);
  });
  try {
    const running = job.run(
      jobContext({
        job: job.name,
        auth,
        roots: config.google.apiRoots,
        connection: {
          sub: connection.sub,
          email: connection.email,
          appUserId: connection.appUserId,
          scopes: connection.scopes,
          connectedAt: connection.connectedAt ?? connection.updatedAt,
        },
        settings: input.settings,
        log: work.log,
        period,
        deadline: work.deadline,
        signal: controller.signal,
        earlier: input.earlier,
        memory: input.memory,
        retried: input.retried,
        operator: { appName: config.appName, exportFolderName: config.runs.exportFolderName },
        now: () => work.now(),
      }),
    );
    return checkedResult(job.name, await Promise.race([running, timedOut]));
  } finally {
    clearTimeout(timer);
  }
}

async function authorizedClient(work: UserWork, token: UserToken): Promise<OAuth2Client> {
  const client = await createOAuthClient(work.deps.runtime.config);
  // Access token only: a job can neither refresh nor read the refresh token. No expiry either:
  // google-auth-library would treat a token with less than its own margin (5 minutes) left as
  // expired and fail for want of a refresh token; whether a token is good is the runner's call
  // (../tokens.ts), and a 401 makes it refresh.
  client.setCredentials({ access_token: token.accessToken, token_type: 'Bearer' });
  return client;
}
