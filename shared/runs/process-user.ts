// One user in one run: lease → (Google lane) token → jobs → one connection write and one ledger
// record.
// Every failure is classified (shared/runs/classify.ts) and stays with this user; only a broken
// OAuth client (ours) stops the run. Firestore writes on the success path: the lease, the final
// connection update (token, lease release, lastRun) and the ledger record.
import { Timestamp, type DocumentSnapshot } from '@google-cloud/firestore';
import type { OAuth2Client } from 'google-auth-library';
import type { PurposeKeys } from '../crypto/keyset.ts';
import { revokeConnection } from '../flows/revoke.ts';
import { scopesOf } from '../jobs/catalog.ts';
import type { Job } from '../jobs/types.ts';
import type { Logger } from '../log.ts';
import { createOAuthClient } from '../oauth/google-client.ts';
import { connectionRef, sealToken, type ConnectionDoc } from '../store/connections.ts';
import { withBackoff } from './backoff.ts';
import {
  classifyError,
  ScopeMissingError,
  type Classified,
  type FailureClass,
} from './classify.ts';
import type { RunDeps } from './deps.ts';
import type { GroupCommitter, Writes } from './group-commit.ts';
import { haltRun, type HaltSignal } from './halt.ts';
import { acquireLease, LeaseBusyError, releaseLease } from './lease.ts';
import {
  expireAtFor,
  isAlreadyExists,
  ledgerRef,
  type LedgerEntry,
  type UserOutcome,
} from './ledger.ts';
import type { RunPeriod } from './run-id.ts';
import { obtainToken, type UserToken } from './tokens.ts';

export interface UserRunContext {
  readonly period: RunPeriod;
  readonly batchId: string;
  readonly halt: HaltSignal;
  readonly log: Logger;
  /** Shares commits between this batch's users; without it every user commits alone. */
  readonly commits?: GroupCommitter;
}

export interface UserResult {
  readonly sub: string;
  readonly outcome: UserOutcome;
  readonly failure: FailureClass | null;
  readonly reason: string | null;
  readonly effect: string | null;
  readonly durationMs: number;
}

/** The lease outlives the user's budget a little, so it covers the final write. */
const LEASE_MARGIN_MS = 5_000;

export async function processUser(
  deps: RunDeps,
  run: UserRunContext,
  sub: string,
  /** The connection as read in bulk by the batch; used for the first lease attempt only. */
  prefetched?: DocumentSnapshot,
): Promise<UserResult> {
  // Pipelined lanes (README "Scheduling and fan-out"): WORKER_CONCURRENCY bounds the users calling Google at
  // once (deps.limiter). A user's Firestore bookkeeping runs outside that lane: the lease before
  // it, while at most as many users again wait their turn (deps.lookahead), and the final write
  // after it. So a lane never idles on a Firestore round trip.
  const ahead = await deps.lookahead.acquire();
  try {
    return await processLeasedUser(deps, run, sub, prefetched, ahead);
  } finally {
    ahead();
  }
}

async function processLeasedUser(
  deps: RunDeps,
  run: UserRunContext,
  sub: string,
  prefetched: DocumentSnapshot | undefined,
  leaveLookahead: () => void,
): Promise<UserResult> {
  const { runtime, db } = deps;
  const { clock, config } = runtime;
  const started = clock.now();
  const deadline = started + config.runs.userBudgetSeconds * 1000;
  const log = run.log.child({ sub });
  /** Time spent waiting for a Google lane: queueing, not work on this user. */
  let queuedMs = 0;
  const finish = (
    outcome: UserOutcome,
    extra: { failure?: FailureClass; reason?: string; effect?: string } = {},
  ): UserResult => ({
    sub,
    outcome,
    failure: extra.failure ?? null,
    reason: extra.reason ?? null,
    effect: extra.effect ?? null,
    durationMs: clock.now() - started - queuedMs,
  });
  if (run.halt.halted) return finish('halted');

  const backoff = {
    clock,
    deadline,
    random: deps.random,
    sleep: deps.sleep,
    baseMs: deps.backoffBaseMs,
  };
  let connection: ConnectionDoc;
  let snapshot = prefetched;
  try {
    const lease = await withBackoff(async () => {
      const first = snapshot;
      snapshot = undefined;
      const result = await acquireLease(
        db,
        sub,
        deps.instanceId,
        clock.now(),
        deadline - clock.now() + LEASE_MARGIN_MS,
        first,
        (writes) => commitWrites(deps, run, writes),
      );
      if (result.kind === 'busy') throw new LeaseBusyError(result.until, clock.now());
      return result;
    }, backoff);
    if (lease.kind === 'not-runnable')
      return await record(
        deps,
        run,
        finish('skipped', { reason: lease.connection?.state ?? 'missing' }),
      );
    connection = lease.connection;
  } catch (error) {
    const classified = classifyError(error);
    log.warn('cannot start user', {
      failure: classified.failure,
      reason: classified.reason,
      error,
    });
    if (classified.failure === 'transient')
      return finish('retry', { failure: 'transient', reason: classified.reason });
    return await record(
      deps,
      run,
      finish('failed', { failure: classified.failure, reason: classified.reason }),
    );
  }

  // The Google lane: from here on this user calls Google (token, jobs, or a pending revoke).
  const lane = async <T>(work: () => Promise<T>): Promise<T> => {
    const waitFrom = clock.now();
    return deps.limiter.run(() => {
      queuedMs += clock.now() - waitFrom;
      leaveLookahead();
      return work();
    });
  };

  if (connection.state === 'revoke-pending')
    return lane(() => completeRevocation(deps, run, sub, finish));

  const keys = (await runtime.keyset()).forPurpose('token');
  let token: UserToken | undefined;
  const google = await lane(async () => {
    // The run may have stopped while this user waited for its lane.
    if (run.halt.halted) return { halted: true } as const;
    try {
      token = await obtainToken(deps, connection, keys, deadline, { force: false });
      const effects: string[] = [];
      for (const job of deps.jobs) {
        const done = await runJob(deps, run, job, connection, keys, token, deadline, log);
        token = done.token;
        effects.push(`${job.name}:${done.effect}`);
      }
      return { effects };
    } catch (error) {
      return { error };
    }
  });
  if ('halted' in google) {
    await releaseLease(db, sub);
    return finish('halted');
  }
  try {
    if ('error' in google) throw google.error;
    const result = finish('ok', { effect: google.effects.join(',') });
    await finalWrite(deps, run, connection, keys, token, result);
    return result;
  } catch (error) {
    return handleFailure(
      deps,
      run,
      connection,
      keys,
      token,
      classifyError(error),
      error,
      finish,
      log,
    );
  }
}

/** Runs one job; a 401 from the API forces one refresh and one more try. */
async function runJob(
  deps: RunDeps,
  run: UserRunContext,
  job: Job,
  connection: ConnectionDoc,
  keys: PurposeKeys,
  token: UserToken,
  deadline: number,
  log: Logger,
): Promise<{ token: UserToken; effect: string }> {
  const { clock } = deps.runtime;
  let current = token;
  for (const scope of job.scopes)
    if (!current.scopes.includes(scope)) throw new ScopeMissingError(scope);
  for (let attempt = 0; ; attempt += 1) {
    const auth = await authorizedClient(deps, current);
    try {
      const result = await withBackoff(
        () =>
          job.run({
            auth,
            connection: {
              sub: connection.sub,
              email: connection.email,
              scopes: current.scopes,
              connectedAt: connection.connectedAt.toDate(),
            },
            log: log.child({ job: job.name }),
            idempotencyKey: `${run.period.runId}:${connection.sub}`,
            period: run.period,
            deadline,
          }),
        { clock, deadline, random: deps.random, sleep: deps.sleep, baseMs: deps.backoffBaseMs },
      );
      return { token: current, effect: result.effect };
    } catch (error) {
      if (attempt > 0 || classifyError(error).failure !== 'unauthenticated') throw error;
      // The access token was refused: the grant may have been revoked since it was issued.
      // A refresh tells (invalid_grant → reconnect) or yields a token that works.
      current = await obtainToken(deps, connection, keys, deadline, { force: true });
      for (const scope of job.scopes)
        if (!current.scopes.includes(scope)) throw new ScopeMissingError(scope);
    }
  }
}

async function authorizedClient(deps: RunDeps, token: UserToken): Promise<OAuth2Client> {
  const client = await createOAuthClient(deps.runtime.config);
  // Access token only: a job can neither refresh nor read the refresh token.
  client.setCredentials({
    access_token: token.accessToken,
    expiry_date: token.expiresAt,
    token_type: 'Bearer',
  });
  return client;
}

/** Allowed scopes needed by the configured jobs, for reports and reconnect reasons. */
export function requiredScopes(deps: RunDeps): string[] {
  return scopesOf(deps.jobs);
}

async function handleFailure(
  deps: RunDeps,
  run: UserRunContext,
  connection: ConnectionDoc,
  keys: PurposeKeys,
  token: UserToken | undefined,
  classified: Classified,
  error: unknown,
  finish: (outcome: UserOutcome, extra?: { failure?: FailureClass; reason?: string }) => UserResult,
  log: Logger,
): Promise<UserResult> {
  const { db, runtime } = deps;
  const { sub } = connection;
  const { failure, reason } = classified;
  switch (failure) {
    case 'client_config':
      await releaseLease(db, sub);
      await haltRun(db, run.period.runId, reason, run.halt, log, deps.events, runtime.clock.now());
      return finish('halted', { failure, reason });
    case 'invalid_grant':
    case 'scope_missing': {
      const why =
        failure === 'invalid_grant' ? 'invalid_grant' : `scope:${scopeReason(error, deps)}`;
      const result = finish('needs-reconnect', { failure, reason: why });
      await markNeedsReconnect(deps, run, connection, why, failure === 'invalid_grant', result);
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
      log.warn('transient failure; left for redelivery', { reason, error });
      const result = finish('retry', { failure, reason });
      await finalWrite(deps, run, connection, keys, token, result).catch((writeError: unknown) =>
        log.warn('cannot record transient failure', { error: writeError }),
      );
      return result;
    }
    default: {
      const level = failure === 'decrypt' ? 'error' : 'warn';
      log[level]('user run failed', { failure, reason, error });
      const result = finish('failed', { failure, reason });
      await finalWrite(deps, run, connection, keys, token, result);
      await deps.events.emit({ type: 'export-failed', sub, runId: run.period.runId, reason });
      return result;
    }
  }
}

function scopeReason(error: unknown, deps: RunDeps): string {
  if (error instanceof ScopeMissingError) return error.scope;
  return requiredScopes(deps).join(' ');
}

/** The one connection write at the end of a user, plus the ledger record when final. */
async function finalWrite(
  deps: RunDeps,
  run: UserRunContext,
  connection: ConnectionDoc,
  keys: PurposeKeys,
  token: UserToken | undefined,
  result: UserResult,
): Promise<void> {
  const { runtime } = deps;
  const now = Timestamp.fromMillis(runtime.clock.now());
  const update: Record<string, unknown> = {
    refreshLease: null,
    lastRun: { runId: run.period.runId, outcome: result.outcome, at: now },
    updatedAt: now,
  };
  if (token?.refreshed) {
    update.accessToken = sealToken(keys, connection.sub, 'accessToken', token.accessToken);
    update.accessTokenExpiresAt = Timestamp.fromMillis(token.expiresAt);
    update.scopes = [...token.scopes];
    // Google never rotates refresh tokens; store one only if a server sent a non-empty one.
    if (token.newRefreshToken)
      update.refreshToken = sealToken(keys, connection.sub, 'refreshToken', token.newRefreshToken);
  }
  await commitWithLedger(deps, run, connection.sub, update, result);
}

async function markNeedsReconnect(
  deps: RunDeps,
  run: UserRunContext,
  connection: ConnectionDoc,
  reason: string,
  destroyTokens: boolean,
  result: UserResult,
): Promise<void> {
  const now = Timestamp.fromMillis(deps.runtime.clock.now());
  const update: Record<string, unknown> = {
    state: 'needs-reconnect',
    reconnectReason: reason,
    refreshLease: null,
    accessToken: null,
    accessTokenExpiresAt: null,
    lastRun: { runId: run.period.runId, outcome: result.outcome, at: now },
    updatedAt: now,
  };
  // A dead refresh token is destroyed at once; a missing scope keeps the grant for the
  // incremental re-consent.
  if (destroyTokens) {
    update.refreshToken = null;
    update.refreshTokenExpiresAt = null;
  }
  await commitWithLedger(deps, run, connection.sub, update, result);
}

async function commitWithLedger(
  deps: RunDeps,
  run: UserRunContext,
  sub: string,
  update: Record<string, unknown>,
  result: UserResult,
): Promise<void> {
  const { db } = deps;
  const ref = connectionRef(db, sub);
  if (result.outcome === 'retry' || result.outcome === 'halted') {
    await ref.update(update);
    return;
  }
  const entry = ledgerEntry(deps, run, result);
  const ledger = ledgerRef(db, run.period.runId, sub);
  try {
    // Atomic for this user (connection and ledger together), perhaps in a commit shared with
    // other users; after the job's effect, so a ledger record never claims undone work.
    await commitWrites(deps, run, (batch) => {
      batch.update(ref, update);
      batch.create(ledger, entry);
    });
  } catch (error) {
    // Another delivery finished this user first: keep its record, still release our lease.
    if (!isAlreadyExists(error)) throw error;
    await ref.update(update);
  }
}

function commitWrites(deps: RunDeps, run: UserRunContext, writes: Writes): Promise<unknown> {
  if (run.commits) return run.commits.commit(writes);
  const batch = deps.db.batch();
  writes(batch);
  return batch.commit();
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
async function record(deps: RunDeps, run: UserRunContext, result: UserResult): Promise<UserResult> {
  try {
    await ledgerRef(deps.db, run.period.runId, result.sub).create(ledgerEntry(deps, run, result));
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  return result;
}

export { record as recordUserResult };

async function completeRevocation(
  deps: RunDeps,
  run: UserRunContext,
  sub: string,
  finish: (outcome: UserOutcome, extra?: { failure?: FailureClass; reason?: string }) => UserResult,
): Promise<UserResult> {
  const outcome = await revokeConnection(
    deps.runtime,
    sub,
    { via: 'scheduled-retry', actor: `run:${run.period.runId}` },
    { fetch: deps.fetch, attempts: 3 },
  );
  if (outcome === 'pending')
    return record(deps, run, finish('revoke-pending', { failure: 'transient' }));
  if (outcome === 'not-found') return record(deps, run, finish('skipped', { reason: 'missing' }));
  // revokeConnection published the `revoked` event.
  return record(deps, run, finish('revoked', { reason: outcome }));
}
