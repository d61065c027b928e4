// How a user's run ends: one guarded transition of the connection (./../../store/connection/),
// committed together with the ledger record, after the jobs' effects, so a ledger record never
// claims undone work. A user who decided meanwhile (revoked, reconnected) supersedes the run:
// nothing is written to their connection and no event goes out. Failures are decided by
// shared/retry/classify.ts; only a broken OAuth client (ours) stops the run.
import { Timestamp } from '@google-cloud/firestore';
import type { PurposeKeys } from '../../crypto/keyset.ts';
import { scopesOf } from '../../jobs/catalog.ts';
import { missingScopeOf, type Classified } from '../../retry/classify.ts';
import { sealToken } from '../../store/connection/document.ts';
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
import type { UserResult, UserRunContext, UserWork } from './context.ts';

/** What the user's lane ended with: the lease held, the keys to seal with, the token. */
export interface UserState {
  readonly held: Held;
  readonly keys: PurposeKeys;
  readonly token: UserToken | undefined;
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
  return applied.kind === 'written' ? result : superseded(work, applied);
}

export async function recordFailure(
  work: UserWork,
  state: UserState,
  failed: { readonly classified: Classified; readonly error: unknown },
): Promise<UserResult> {
  const { deps, run, sub, log } = work;
  const { failure, reason } = failed.classified;
  switch (failure) {
    case 'client_config': {
      const released = await run.connections.releaseLease(state.held);
      await haltRun(deps, { runId: run.period.runId, reason, signal: run.halt, log });
      if (released.kind === 'refused') return superseded(work, released);
      return work.result('halted', { failure, reason });
    }
    case 'invalid_grant':
    case 'scope_missing': {
      const why =
        failure === 'invalid_grant' ? 'invalid_grant' : `scope:${missingScope(work, failed.error)}`;
      const result = work.result('needs-reconnect', { failure, reason: why });
      const applied = await run.connections.markNeedsReconnect(
        state.held,
        {
          runId: run.period.runId,
          outcome: result.outcome,
          now: new Date(work.now()),
          reason: why,
          // A dead refresh token is destroyed at once; a missing scope keeps the grant for the
          // incremental re-consent.
          destroyTokens: failure === 'invalid_grant',
        },
        ledgerFor(work, result),
      );
      if (applied.kind === 'refused') return superseded(work, applied);
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
      return recordFinished(work, state, result).catch((writeError: unknown) => {
        log.warn('cannot record transient failure', { error: writeError });
        return result;
      });
    }
    default: {
      const level = failure === 'decrypt' ? 'error' : 'warn';
      log[level]('user run failed', { failure, reason, error: failed.error });
      const recorded = await recordFinished(
        work,
        state,
        work.result('failed', { failure, reason }),
      );
      if (recorded.outcome === 'failed')
        await deps.events.emit({ type: 'export-failed', sub, runId: run.period.runId, reason });
      return recorded;
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

/** The scope the failure names, else every scope the configured jobs need. */
function missingScope(work: UserWork, error: unknown): string {
  return missingScopeOf(error) ?? scopesOf(work.deps.jobs).join(' ');
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
