// How a user's run ends: one connection write together with the ledger record (atomic, perhaps in
// a commit shared with other users), after the jobs' effects, so a ledger record never claims
// undone work. Failures are decided by shared/retry/classify.ts; only a broken OAuth client (ours)
// stops the run.
import { Timestamp } from '@google-cloud/firestore';
import type { PurposeKeys } from '../../crypto/keyset.ts';
import { scopesOf } from '../../jobs/catalog.ts';
import { missingScopeOf, type Classified } from '../../retry/classify.ts';
import { connectionRef, sealToken, type ConnectionDoc } from '../../store/connections.ts';
import { haltRun } from '../halt.ts';
import { releaseLease } from '../lease.ts';
import { expireAtFor, isAlreadyExists, ledgerRef, type LedgerEntry } from '../ledger.ts';
import type { UserToken } from '../tokens.ts';
import type { RunDeps } from '../deps.ts';
import type { UserResult, UserRunContext, UserWork } from './context.ts';

/** The leased connection, the keys to seal with, and the token the lane ended with. */
export interface UserState {
  readonly connection: ConnectionDoc;
  readonly keys: PurposeKeys;
  readonly token: UserToken | undefined;
}

/** The one connection write at the end of a user (lease released, token, lastRun) + ledger. */
export async function recordFinished(
  work: UserWork,
  state: UserState,
  result: UserResult,
): Promise<void> {
  const now = Timestamp.fromMillis(work.now());
  const update: Record<string, unknown> = {
    refreshLease: null,
    lastRun: { runId: work.run.period.runId, outcome: result.outcome, at: now },
    updatedAt: now,
  };
  const { token, keys } = state;
  if (token?.refreshed) {
    update.accessToken = sealToken(keys, work.sub, 'accessToken', token.accessToken);
    update.accessTokenExpiresAt = Timestamp.fromMillis(token.expiresAt);
    update.scopes = [...token.scopes];
    // Google never rotates refresh tokens; store one only if a server sent a non-empty one.
    if (token.newRefreshToken)
      update.refreshToken = sealToken(keys, work.sub, 'refreshToken', token.newRefreshToken);
  }
  await commitWithLedger(work, update, result);
}

export async function recordFailure(
  work: UserWork,
  state: UserState,
  failed: { readonly classified: Classified; readonly error: unknown },
): Promise<UserResult> {
  const { deps, run, sub, log } = work;
  const { failure, reason } = failed.classified;
  switch (failure) {
    case 'client_config':
      await releaseLease(deps.db, sub);
      await haltRun(deps, { runId: run.period.runId, reason, signal: run.halt, log });
      return work.result('halted', { failure, reason });
    case 'invalid_grant':
    case 'scope_missing': {
      const why =
        failure === 'invalid_grant' ? 'invalid_grant' : `scope:${missingScope(work, failed.error)}`;
      const result = work.result('needs-reconnect', { failure, reason: why });
      await recordNeedsReconnect(
        work,
        { reason: why, destroyTokens: failure === 'invalid_grant' },
        result,
      );
      log.info('connection needs reconnect', { failure, reason: why });
      await deps.events.emit({
        type: 'needs-reconnect',
        sub,
        runId: run.period.runId,
        reason: why,
      });
      return result;
    }
    case 'transient': {
      log.warn('transient failure; left for redelivery', { reason, error: failed.error });
      const result = work.result('retry', { failure, reason });
      await recordFinished(work, state, result).catch((writeError: unknown) =>
        log.warn('cannot record transient failure', { error: writeError }),
      );
      return result;
    }
    default: {
      const level = failure === 'decrypt' ? 'error' : 'warn';
      log[level]('user run failed', { failure, reason, error: failed.error });
      const result = work.result('failed', { failure, reason });
      await recordFinished(work, state, result);
      await deps.events.emit({ type: 'export-failed', sub, runId: run.period.runId, reason });
      return result;
    }
  }
}

/** The scope the failure names, else every scope the configured jobs need. */
function missingScope(work: UserWork, error: unknown): string {
  return missingScopeOf(error) ?? scopesOf(work.deps.jobs).join(' ');
}

async function recordNeedsReconnect(
  work: UserWork,
  why: { readonly reason: string; readonly destroyTokens: boolean },
  result: UserResult,
): Promise<void> {
  const now = Timestamp.fromMillis(work.now());
  const update: Record<string, unknown> = {
    state: 'needs-reconnect',
    reconnectReason: why.reason,
    refreshLease: null,
    accessToken: null,
    accessTokenExpiresAt: null,
    lastRun: { runId: work.run.period.runId, outcome: result.outcome, at: now },
    updatedAt: now,
  };
  // A dead refresh token is destroyed at once; a missing scope keeps the grant for the
  // incremental re-consent.
  if (why.destroyTokens) {
    update.refreshToken = null;
    update.refreshTokenExpiresAt = null;
  }
  await commitWithLedger(work, update, result);
}

async function commitWithLedger(
  work: UserWork,
  update: Record<string, unknown>,
  result: UserResult,
): Promise<void> {
  const { db } = work.deps;
  const ref = connectionRef(db, work.sub);
  if (result.outcome === 'retry' || result.outcome === 'halted') {
    await ref.update(update);
    return;
  }
  const entry = ledgerEntry(work.deps, work.run, result);
  const ledger = ledgerRef(db, work.run.period.runId, work.sub);
  try {
    await work.commit((batch) => {
      batch.update(ref, update);
      batch.create(ledger, entry);
    });
  } catch (error) {
    // Another delivery finished this user first: keep its record, still release our lease.
    if (!isAlreadyExists(error)) throw error;
    await ref.update(update);
  }
}

function ledgerEntry(deps: RunDeps, run: UserRunContext, result: UserResult): LedgerEntry {
  const now = deps.runtime.clock.now();
  return {
    sub: result.sub,
    batchId: run.batchId,
    outcome: result.outcome as LedgerEntry['outcome'],
    failure: result.failure,
    reason: result.reason,
    effect: result.effect,
    durationMs: result.durationMs,
    at: Timestamp.fromMillis(now),
    expireAt: expireAtFor(now),
  };
}

/** Ledger-only record for outcomes that do not touch the connection (skipped, dead-lettered). */
export async function recordUserResult(
  deps: RunDeps,
  run: UserRunContext,
  result: UserResult,
): Promise<UserResult> {
  try {
    await ledgerRef(deps.db, run.period.runId, result.sub).create(ledgerEntry(deps, run, result));
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  return result;
}
