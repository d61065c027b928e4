// How a user's run ends: one guarded transition of the connection (./../../store/connection/),
// committed together with the ledger record, after the jobs' effects, so a ledger record never
// claims undone work. A user who decided meanwhile (revoked, reconnected) supersedes the run:
// nothing is written to their connection and no event goes out. Failures are decided by
// shared/retry/classify.ts; only a broken OAuth client (ours) stops the run.
import { Timestamp } from '@google-cloud/firestore';
import type { PurposeKeys } from '../../crypto/keyset.ts';
import type { Classified } from '../../retry/classify.ts';
import { sealToken, type JobState } from '../../store/connection/document.ts';
import type { Applied, Held, SideRecord } from '../../store/connection/repository.ts';
import type { RunDeps } from '../deps.ts';
import { haltRun } from '../halt.ts';
import {
  expireAtFor,
  ledgerPath,
  ledgerRef,
  isAlreadyExists,
  type LedgerEntry,
} from '../ledger.ts';
import type { UserToken } from '../tokens.ts';
import type { OutcomeDetail, UserResult, UserRunContext, UserWork } from './context.ts';

/** Messages of the lines the deploy's log-based metrics count (infra/monitoring/). */
export const NEEDS_RECONNECT_LOG = 'connection needs reconnect';
export const CONSENT_NEEDED_LOG = 'job needs consent';

/** What the user's lane ended with: the lease held, the keys to seal with, the token, the jobs. */
export interface UserState {
  readonly held: Held;
  readonly keys: PurposeKeys;
  readonly token: UserToken | undefined;
  /** The job states this run decided (stored with the outcome, whatever it is). */
  readonly jobs: Readonly<Record<string, JobState>>;
}

/** The run is done with the user (or leaves them for redelivery): outcome, token, lease released. */
export async function recordFinished(
  work: UserWork,
  state: UserState,
  result: UserResult,
): Promise<UserResult> {
  const { token, keys } = state;
  const applied = await work.run.connections.recordRunOutcome(
    state.held,
    {
      runId: work.run.period.runId,
      outcome: result.outcome,
      now: new Date(work.now()),
      jobs: state.jobs,
      ...(token?.refreshed
        ? {
            refreshed: {
              accessToken: sealToken(keys, work.sub, 'accessToken', token.accessToken),
              accessTokenExpiresAt: new Date(token.expiresAt),
              scopes: token.scopes,
              ...(token.newRefreshToken
                ? { refreshToken: sealToken(keys, work.sub, 'refreshToken', token.newRefreshToken) }
                : {}),
            },
          }
        : {}),
    },
    ledgerFor(work, result),
  );
  if (applied.kind === 'refused') return superseded(work, applied);
  await announceJobChanges(work, applied.previous?.jobs ?? {}, state.jobs);
  return result;
}

/** One event per job whose status became one the app must act on (not on every run). */
async function announceJobChanges(
  work: UserWork,
  before: Readonly<Record<string, JobState>>,
  after: Readonly<Record<string, JobState>>,
): Promise<void> {
  const { sub, run, deps } = work;
  const appUserId = work.appUserId();
  for (const [job, state] of Object.entries(after)) {
    const previous = before[job];
    const base = { sub, ...appUserId, runId: run.period.runId, job };
    if (state.status === 'needs-consent') {
      if (previous?.status === 'needs-consent' && same(previous.missingScopes, state.missingScopes))
        continue;
      work.log.info(CONSENT_NEEDED_LOG, { job, scopes: state.missingScopes });
      await deps.events.emit({ ...base, type: 'consent-needed', scopes: state.missingScopes });
    } else if (state.status === 'needs-settings') {
      if (previous?.status === 'needs-settings' && previous.reason === state.reason) continue;
      work.log.info('job needs settings', { job, reason: state.reason });
      await deps.events.emit({
        ...base,
        type: 'settings-needed',
        reason: state.reason ?? 'settings',
      });
    } else if (state.status === 'failed') {
      await deps.events.emit({ ...base, type: 'job-failed', reason: state.reason ?? 'failed' });
    }
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

export async function recordFailure(
  work: UserWork,
  state: UserState,
  failed: {
    readonly classified: Classified;
    readonly error: unknown;
    /** What the jobs did before the failure (kept in the ledger). */
    readonly detail?: OutcomeDetail;
  },
): Promise<UserResult> {
  const { deps, run, sub, log } = work;
  const { failure, reason } = failed.classified;
  const jobs = failed.detail ?? {};
  switch (failure) {
    case 'client_config':
    case 'signing_key': {
      const released = await run.connections.releaseLease(state.held);
      await haltRun(deps, {
        runId: run.period.runId,
        cause: failure,
        reason,
        signal: run.halt,
        log,
      });
      if (released.kind === 'refused') return superseded(work, released);
      return work.result('halted', { ...jobs, failure, reason });
    }
    case 'invalid_grant': {
      const why = 'invalid_grant';
      const result = work.result('needs-reconnect', { ...jobs, failure, reason: why });
      const applied = await run.connections.markNeedsReconnect(
        state.held,
        {
          runId: run.period.runId,
          outcome: result.outcome,
          now: new Date(work.now()),
          reason: why,
          jobs: state.jobs,
          // A dead refresh token is destroyed at once.
          destroyTokens: true,
        },
        ledgerFor(work, result),
      );
      if (applied.kind === 'refused') return superseded(work, applied);
      log.info(NEEDS_RECONNECT_LOG, { failure, reason: why });
      await deps.events.emit({
        type: 'needs-reconnect',
        sub,
        ...work.appUserId(),
        runId: run.period.runId,
        reason: why,
      });
      return result;
    }
    case 'transient': {
      log.warn('transient failure; left for redelivery', { reason, error: failed.error });
      const result = work.result('retry', { ...jobs, failure, reason });
      return recordFinished(work, state, result).catch((writeError: unknown) => {
        log.warn('cannot record transient failure', { error: writeError });
        return result;
      });
    }
    default: {
      const level = failure === 'decrypt' ? 'error' : 'warn';
      log[level]('user run failed', { failure, reason, error: failed.error });
      return recordFinished(work, state, work.result('failed', { ...jobs, failure, reason }));
    }
  }
}

/**
 * The user decided while the run worked on them (revoked, reconnected), or another delivery took
 * over: the run drops them. Only the run's own ledger says so.
 */
export async function superseded(
  work: UserWork,
  refused: Extract<Applied<string>, { kind: 'refused' }>,
): Promise<UserResult> {
  const state = refused.snapshot.connection?.state ?? 'missing';
  work.log.info('user superseded during the run; dropped', { state });
  return recordUserResult(
    work.deps,
    work.run,
    work.result('skipped', { reason: `superseded:${state}` }),
  );
}

/** The ledger record goes with the final write; open outcomes (retry, halted) have none. */
function ledgerFor(work: UserWork, result: UserResult): SideRecord[] {
  if (result.outcome === 'retry' || result.outcome === 'halted') return [];
  return [
    {
      path: ledgerPath(work.run.period.runId, work.sub),
      data: ledgerEntry(work.deps, work.run, result),
    },
  ];
}

function ledgerEntry(deps: RunDeps, run: UserRunContext, result: UserResult): LedgerEntry {
  const now = deps.runtime.clock.now();
  return {
    sub: result.sub,
    appUserId: result.appUserId,
    batchId: run.batchId,
    outcome: result.outcome as LedgerEntry['outcome'],
    failure: result.failure,
    reason: result.reason,
    effect: result.effect,
    jobs: result.jobs,
    durationMs: result.durationMs,
    at: Timestamp.fromMillis(now),
    expireAt: expireAtFor(now),
  };
}

/**
 * Ledger-only record for outcomes that do not touch the connection (skipped, dead-lettered). When
 * another delivery recorded the user first, its outcome stands and is this delivery's result.
 */
export async function recordUserResult(
  deps: RunDeps,
  run: UserRunContext,
  result: UserResult,
): Promise<UserResult> {
  const ref = ledgerRef(deps.db, run.period.runId, result.sub);
  try {
    await ref.create(ledgerEntry(deps, run, result));
    return result;
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  const first = (await ref.get()).data() as LedgerEntry | undefined;
  if (first === undefined) return result;
  return {
    ...result,
    outcome: first.outcome,
    failure: first.failure,
    reason: first.reason,
    effect: first.effect,
    jobs: first.jobs,
  };
}
