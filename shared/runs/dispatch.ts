// The dispatcher: one tick → one run. It claims `runs/{runId}` (the id comes from the scheduled
// time, so duplicate ticks find the run taken), checks that our OAuth client still works, then
// pages through runnable connections with a cursor (never every user in memory) and publishes one
// work message per page — or, with RUN_INLINE, processes each page itself through the very same
// batch code. The cursor is saved after each page, so a retried tick resumes where it stopped.
import { FieldPath, Timestamp, type Transaction } from '@google-cloud/firestore';
import { OAuthResponseError } from '../errors.ts';
import { consentGaps } from '../jobs/catalog.ts';
import { refreshAccessToken } from '../oauth/refresh.ts';
import { CONNECTIONS } from '../store/connection/document.ts';
import { processBatch } from './batch.ts';
import { classifyError } from '../retry/classify.ts';
import type { RunDeps } from './deps.ts';
import { recordDispatched } from './dispatched.ts';
import { haltRun, type HaltSignal } from './halt.ts';
import { expireAtFor, runRef } from './ledger.ts';
import { batchId, type Tick, type WorkBatch } from './messages.ts';
import { runPeriodFor, type RunPeriod } from './run-id.ts';

export type RunStatus = 'dispatching' | 'dispatched' | 'halted';

export interface RunDoc {
  runId: string;
  status: RunStatus;
  periodStart: Timestamp;
  periodEnd: Timestamp;
  scheduledAt: Timestamp;
  startedAt: Timestamp;
  dispatchedAt: Timestamp | null;
  /** Last connection id published; the next page starts after it. */
  cursor: string | null;
  batches: number;
  users: number;
  inline: boolean;
  haltReason: string | null;
  dispatcherLeaseUntil: Timestamp;
  expireAt: Timestamp;
}

export type DispatchResult =
  | {
      readonly kind: 'dispatched';
      readonly runId: string;
      readonly batches: number;
      readonly users: number;
    }
  | { readonly kind: 'duplicate'; readonly runId: string; readonly status: RunStatus }
  | { readonly kind: 'halted'; readonly runId: string; readonly reason: string };

const DISPATCH_LEASE_MS = 120_000;
const RUNNABLE_STATES = ['active', 'revoke-pending'];

export async function dispatchRun(deps: RunDeps, tick: Tick): Promise<DispatchResult> {
  const { runtime, db } = deps;
  const { config, clock } = runtime;
  const period = runPeriodFor(tick.scheduledAt, config.runs.periodSeconds);
  const log = runtime.log.child({ runId: period.runId });
  const claim = await claimRun(deps, period, tick);
  if (claim.kind === 'taken') {
    log.info('tick for a run already started; ignored', { status: claim.status });
    return { kind: 'duplicate', runId: period.runId, status: claim.status };
  }
  let run = claim.run;

  const problem = await checkClientConfig(deps);
  if (problem !== undefined) {
    const signal: HaltSignal = { halted: false, reason: undefined };
    await haltRun(deps, {
      runId: period.runId,
      cause: 'client_config',
      reason: problem,
      signal,
      log,
    });
    await runRef(db, period.runId).update({ status: 'halted', haltReason: problem });
    return { kind: 'halted', runId: period.runId, reason: problem };
  }

  log.info(run.cursor === null ? 'run started' : 'run resumed', { inline: config.runs.inline });
  const gaps: Record<string, number> = {};
  for (;;) {
    let query = db
      .collection(CONNECTIONS)
      .where('state', 'in', RUNNABLE_STATES)
      .orderBy(FieldPath.documentId())
      // State and scopes only, to count the users who have not granted some enabled job's scopes.
      .select('state', 'scopes')
      .limit(config.runs.batchSize);
    if (run.cursor !== null) query = query.startAfter(run.cursor);
    const page = await query.get();
    if (page.empty) break;
    const subs = page.docs.map((doc) => doc.id);
    const pageGaps = consentGaps(
      deps.jobs,
      page.docs
        .filter((doc) => doc.get('state') === 'active')
        .map((doc) => (doc.get('scopes') as string[] | undefined) ?? []),
    );
    for (const [job, count] of Object.entries(pageGaps)) gaps[job] = (gaps[job] ?? 0) + count;
    const batch: WorkBatch = { v: 1, runId: period.runId, batchId: batchId(run.batches), subs };
    if (config.runs.inline) await processBatch(deps, batch, { attempt: 1, final: true });
    else {
      await recordDispatched(db, batch, clock.now());
      await deps.publisher.publish(config.pubsub.workTopic, batch, {
        runId: batch.runId,
        batchId: batch.batchId,
      });
    }
    run = {
      ...run,
      cursor: subs[subs.length - 1] ?? run.cursor,
      batches: run.batches + 1,
      users: run.users + subs.length,
    };
    await runRef(db, period.runId).update({
      cursor: run.cursor,
      batches: run.batches,
      users: run.users,
      dispatcherLeaseUntil: Timestamp.fromMillis(clock.now() + DISPATCH_LEASE_MS),
    });
    if (subs.length < config.runs.batchSize) break;
  }
  await runRef(db, period.runId).update({
    status: 'dispatched',
    dispatchedAt: Timestamp.fromMillis(clock.now()),
  });
  log.info('run dispatched', { batches: run.batches, users: run.users });
  // An enabled job whose scopes existing users never granted runs for none of them until they
  // consent (docs/jobs.md#incremental-consent): said once per run, with counts.
  if (Object.keys(gaps).length > 0)
    log.warn('enabled jobs lack consent from existing connections', {
      usersLackingConsent: gaps,
      hint: 'npm run connections -- --needs-consent',
    });
  return { kind: 'dispatched', runId: period.runId, batches: run.batches, users: run.users };
}

type Claim = { kind: 'claimed'; run: RunDoc } | { kind: 'taken'; status: RunStatus };

async function claimRun(deps: RunDeps, period: RunPeriod, tick: Tick): Promise<Claim> {
  const { db, runtime } = deps;
  const now = runtime.clock.now();
  const ref = runRef(db, period.runId);
  return db.runTransaction(async (tx: Transaction): Promise<Claim> => {
    const snapshot = await tx.get(ref);
    if (snapshot.exists) {
      const existing = snapshot.data() as RunDoc;
      const abandoned =
        existing.status === 'dispatching' && existing.dispatcherLeaseUntil.toMillis() < now;
      if (!abandoned) return { kind: 'taken', status: existing.status };
      const resumed = {
        ...existing,
        dispatcherLeaseUntil: Timestamp.fromMillis(now + DISPATCH_LEASE_MS),
      };
      tx.update(ref, { dispatcherLeaseUntil: resumed.dispatcherLeaseUntil });
      return { kind: 'claimed', run: resumed };
    }
    const run: RunDoc = {
      runId: period.runId,
      status: 'dispatching',
      periodStart: Timestamp.fromMillis(period.start),
      periodEnd: Timestamp.fromMillis(period.end),
      scheduledAt: Timestamp.fromMillis(tick.scheduledAt),
      startedAt: Timestamp.fromMillis(now),
      dispatchedAt: null,
      cursor: null,
      batches: 0,
      users: 0,
      inline: runtime.config.runs.inline,
      haltReason: null,
      dispatcherLeaseUntil: Timestamp.fromMillis(now + DISPATCH_LEASE_MS),
      expireAt: expireAtFor(now),
    };
    tx.create(ref, run);
    return { kind: 'claimed', run };
  });
}

/**
 * Pre-flight: refresh a token that cannot exist. A working client gets `invalid_grant`; a broken
 * one gets `invalid_client` / `unauthorized_client` / `deleted_client` (Google authenticates the
 * client before it looks at the grant). One call per run; no user is involved. Transient answers
 * do not stop the run: the workers classify every refresh anyway.
 */
export async function checkClientConfig(deps: RunDeps): Promise<string | undefined> {
  const { runtime } = deps;
  try {
    await refreshAccessToken(
      deps.fetch,
      {
        tokenUrl: runtime.config.google.tokenUrl,
        clientId: runtime.config.clientId,
        clientSecret: await runtime.clientSecret(),
        refreshToken: 'consent-vault-preflight-not-a-token',
      },
      runtime.clock.now(),
    );
    return undefined;
  } catch (error) {
    const classified = classifyError(error);
    if (classified.failure === 'client_config') return classified.reason;
    if (!(error instanceof OAuthResponseError) || classified.failure === 'transient')
      runtime.log.warn('client pre-flight inconclusive', { reason: classified.reason });
    return undefined;
  }
}
