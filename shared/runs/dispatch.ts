// The dispatcher: one tick → one run. It claims `runs/{runId}` (the id comes from the scheduled
// time, so duplicate ticks find the run taken), checks that our OAuth client still works, then
// pages through runnable connections with a cursor (never every user in memory) and publishes one
// work message per page — or, with RUN_INLINE, processes each page itself through the very same
// batch code. The cursor is saved after each page, so a retried tick resumes where it stopped.
// A tick for a run that has settled re-runs it instead: only its users not done (./rerun.ts).
import { FieldPath, Timestamp, type Transaction } from '@google-cloud/firestore';
import { OAuthResponseError } from '../errors.ts';
import { consentGaps } from '../jobs/catalog.ts';
import { refreshAccessToken } from '../oauth/refresh.ts';
import { CONNECTIONS } from '../store/connection/document.ts';
import { processBatch } from './batch.ts';
import { classifyError } from '../retry/classify.ts';
import type { Logger } from '../log.ts';
import type { RunDeps } from './deps.ts';
import { recordDispatched } from './dispatched.ts';
import { CLIENT_CONFIG_ALERT, haltRef, haltRun, type HaltSignal } from './halt.ts';
import { expireAtFor, runRef } from './ledger.ts';
import { batchId, type Tick, type WorkBatch } from './messages.ts';
import { publishTick } from './trigger.ts';
import { repairBatches, rerunVerdict } from './rerun.ts';
import { runPeriodFor, type RunPeriod } from './run-id.ts';

/** `repairing`: a re-run re-dispatches the batches with users to redo. */
export type RunStatus = 'dispatching' | 'dispatched' | 'repairing' | 'halted';

/** One re-run of the period, on the run document (docs/operations.md#re-running-a-run). */
export interface RepairRecord {
  /** 1 for the first re-run of the period. */
  attempt: number;
  startedAt: Timestamp;
  /** When its batches were all re-dispatched; null while it dispatches. */
  finishedAt: Timestamp | null;
  /** Last batch id looked at; a resumed re-run starts after it. */
  cursor: string | null;
  batches: number;
  users: number;
  /** The ledger outcomes it replaced, per outcome (`unrecorded`: users who had none). */
  replaced: Record<string, number>;
}

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
  /** The enabled jobs' names, for the report's per-job counts (absent on older runs). */
  jobs?: string[];
  /** Re-runs of the period, oldest first (absent on older runs). */
  repairs?: RepairRecord[];
  expireAt: Timestamp;
}

export type DispatchResult =
  | {
      readonly kind: 'dispatched';
      readonly runId: string;
      readonly batches: number;
      readonly users: number;
    }
  | {
      readonly kind: 'repaired';
      readonly runId: string;
      readonly attempt: number;
      readonly batches: number;
      readonly users: number;
    }
  /** Dispatched so far; a tick it published resumes the rest in a fresh invocation. */
  | {
      readonly kind: 'handed-over';
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
  let claim = await claimRun(deps, period, tick);
  let clientChecked = false;
  if (claim.kind === 'taken') {
    const rerun = await claimRerunIfSettled(deps, claim.run, log);
    if (rerun.kind !== 'claim') return rerun.result;
    claim = rerun.claim;
    clientChecked = true;
  }
  const send = sender(deps);
  if (claim.kind === 'repair') {
    const repaired = await repairBatches(deps, {
      run: claim.run,
      send,
      leaseMs: DISPATCH_LEASE_MS,
      log,
    });
    return {
      kind: 'repaired',
      runId: period.runId,
      attempt: repaired.attempt,
      batches: repaired.batches,
      users: repaired.users,
    };
  }
  let run = claim.run;

  const problem = clientChecked ? undefined : await checkClientConfig(deps);
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
  // Past this, the dispatcher hands the run over to a fresh invocation (well within its timeout).
  const sliceEnd = clock.now() + deps.dispatchSliceMs;
  const pageAfter = (cursor: string | null) => {
    let query = db
      .collection(CONNECTIONS)
      .where('state', 'in', RUNNABLE_STATES)
      .orderBy(FieldPath.documentId())
      // State and scopes only, to count the users who have not granted some enabled job's scopes.
      .select('state', 'scopes')
      .limit(config.runs.batchSize);
    if (cursor !== null) query = query.startAfter(cursor);
    const reading = query.get();
    reading.catch(() => undefined); // awaited below, or abandoned at a hand-over
    return reading;
  };
  let nextPage = pageAfter(run.cursor);
  for (;;) {
    const page = await nextPage;
    if (page.empty) break;
    const subs = page.docs.map((doc) => doc.id);
    const more = subs.length === config.runs.batchSize;
    // The next page is read while this one is recorded and published: a page waits on three
    // round trips, not four (docs/scale.md).
    if (more) nextPage = pageAfter(subs[subs.length - 1]!);
    const pageGaps = consentGaps(
      deps.jobs,
      page.docs
        .filter((doc) => doc.get('state') === 'active')
        .map((doc) => (doc.get('scopes') as string[] | undefined) ?? []),
    );
    for (const [job, count] of Object.entries(pageGaps)) gaps[job] = (gaps[job] ?? 0) + count;
    const batch: WorkBatch = { v: 1, runId: period.runId, batchId: batchId(run.batches), subs };
    // Recorded in both modes: a re-run finds the run's batches here.
    await recordDispatched(db, batch, clock.now());
    await send(batch);
    run = {
      ...run,
      cursor: subs[subs.length - 1] ?? run.cursor,
      batches: run.batches + 1,
      users: run.users + subs.length,
    };
    const handOver = more && !config.runs.inline && clock.now() >= sliceEnd;
    await runRef(db, period.runId).update({
      cursor: run.cursor,
      batches: run.batches,
      users: run.users,
      // Handing over lets the lease go at once, so the next invocation resumes without waiting.
      dispatcherLeaseUntil: Timestamp.fromMillis(handOver ? 0 : clock.now() + DISPATCH_LEASE_MS),
    });
    if (!more) break;
    if (handOver) {
      // A tick for the same period resumes the run from its cursor (claimRun: an abandoned
      // lease). Without it, a run of many pages would outlast the function's timeout and its
      // redelivered tick would find the lease still held.
      await publishTick(
        deps.publisher,
        config.pubsub.tickTopic,
        tick.scheduledAt,
        config.runs.periodSeconds,
      );
      log.info('run handed over to a fresh dispatcher invocation', {
        batches: run.batches,
        users: run.users,
      });
      return { kind: 'handed-over', runId: period.runId, batches: run.batches, users: run.users };
    }
  }
  const now = Timestamp.fromMillis(clock.now());
  await runRef(db, period.runId).update({
    status: 'dispatched',
    dispatchedAt: now,
    // A re-run of a run halted before its fan-out dispatched all of it.
    ...(run.repairs?.at(-1)?.finishedAt === null
      ? { repairs: closeRepair(run.repairs, { now, batches: run.batches, users: run.users }) }
      : {}),
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

/**
 * A tick for a run that exists: a re-run when the run has settled and the client works
 * (./rerun.ts), else a duplicate that does nothing.
 */
async function claimRerunIfSettled(
  deps: RunDeps,
  run: RunDoc,
  log: Logger,
): Promise<{ kind: 'claim'; claim: Claim } | { kind: 'done'; result: DispatchResult }> {
  const { db, runtime } = deps;
  const duplicate = { kind: 'duplicate', runId: run.runId, status: run.status } as const;
  const verdict = await rerunVerdict(db, run, runtime.clock.now());
  if (verdict.kind !== 'rerun') {
    log.info('tick for a run already started; ignored', {
      status: run.status,
      verdict: verdict.kind,
    });
    return { kind: 'done', result: duplicate };
  }
  // The client first: a re-run with a broken client would only halt again.
  const problem = await checkClientConfig(deps);
  if (problem !== undefined) {
    log.error('re-run not started: the OAuth client configuration is broken', {
      alert: CLIENT_CONFIG_ALERT,
      reason: problem,
    });
    return { kind: 'done', result: { kind: 'halted', runId: run.runId, reason: problem } };
  }
  const claimed = await claimRerun(deps, run);
  if (claimed === undefined) {
    log.info('tick for a run another tick re-runs; ignored');
    return { kind: 'done', result: duplicate };
  }
  log.info('re-run claimed', { usersToRedo: verdict.users, status: run.status });
  // A halt of the earlier attempt would stop the re-run's batches at once.
  await haltRef(db, run.runId).delete();
  return { kind: 'claim', claim: claimed };
}

type Claim =
  | { kind: 'claimed'; run: RunDoc }
  /** A re-run to (re-)dispatch, new or resumed: its last repair record is under way. */
  | { kind: 'repair'; run: RunDoc }
  | { kind: 'taken'; run: RunDoc };

async function claimRun(deps: RunDeps, period: RunPeriod, tick: Tick): Promise<Claim> {
  const { db, runtime } = deps;
  const now = runtime.clock.now();
  const ref = runRef(db, period.runId);
  return db.runTransaction(async (tx: Transaction): Promise<Claim> => {
    const snapshot = await tx.get(ref);
    if (snapshot.exists) {
      const existing = snapshot.data() as RunDoc;
      const abandoned =
        (existing.status === 'dispatching' || existing.status === 'repairing') &&
        existing.dispatcherLeaseUntil.toMillis() < now;
      if (!abandoned) return { kind: 'taken', run: existing };
      const resumed = {
        ...existing,
        dispatcherLeaseUntil: Timestamp.fromMillis(now + DISPATCH_LEASE_MS),
      };
      tx.update(ref, { dispatcherLeaseUntil: resumed.dispatcherLeaseUntil });
      return { kind: existing.status === 'repairing' ? 'repair' : 'claimed', run: resumed };
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
      jobs: deps.jobs.map((job) => job.name),
      repairs: [],
      expireAt: expireAtFor(now),
    };
    tx.create(ref, run);
    return { kind: 'claimed', run };
  });
}

/**
 * Claims a re-run of a settled run, unless another tick did since it was read. A run halted
 * before its fan-out is dispatched from its cursor; any other goes through its recorded batches.
 */
async function claimRerun(deps: RunDeps, seen: RunDoc): Promise<Claim | undefined> {
  const { db, runtime } = deps;
  const now = runtime.clock.now();
  const ref = runRef(db, seen.runId);
  return db.runTransaction(async (tx: Transaction): Promise<Claim | undefined> => {
    const snapshot = await tx.get(ref);
    const current = snapshot.data() as RunDoc | undefined;
    const repairs = current?.repairs ?? [];
    if (
      current === undefined ||
      current.status !== seen.status ||
      repairs.length !== (seen.repairs ?? []).length
    )
      return undefined;
    const repair: RepairRecord = {
      attempt: repairs.length + 1,
      startedAt: Timestamp.fromMillis(now),
      finishedAt: null,
      cursor: null,
      batches: 0,
      users: 0,
      replaced: {},
    };
    const neverDispatched = current.status === 'halted' && current.dispatchedAt === null;
    const run: RunDoc = {
      ...current,
      status: neverDispatched ? 'dispatching' : 'repairing',
      haltReason: null,
      dispatcherLeaseUntil: Timestamp.fromMillis(now + DISPATCH_LEASE_MS),
      // The jobs enabled now may differ from the first attempt's: the report counts both.
      jobs: [...new Set([...(current.jobs ?? []), ...deps.jobs.map((job) => job.name)])],
      repairs: [...repairs, repair],
    };
    tx.update(ref, {
      status: run.status,
      haltReason: null,
      dispatcherLeaseUntil: run.dispatcherLeaseUntil,
      jobs: run.jobs,
      repairs: run.repairs,
    });
    return { kind: neverDispatched ? 'claimed' : 'repair', run };
  });
}

function closeRepair(
  repairs: readonly RepairRecord[],
  done: { now: Timestamp; batches: number; users: number },
): RepairRecord[] {
  const last = repairs.at(-1)!;
  return [
    ...repairs.slice(0, -1),
    {
      ...last,
      finishedAt: done.now,
      batches: done.batches,
      users: done.users,
      replaced: done.users > 0 ? { unrecorded: done.users } : {},
    },
  ];
}

/** Where a batch goes: the work topic, or this function itself with RUN_INLINE. */
function sender(deps: RunDeps): (batch: WorkBatch) => Promise<void> {
  const { config } = deps.runtime;
  return async (batch) => {
    if (config.runs.inline) await processBatch(deps, batch, { attempt: 1, final: true });
    else
      await deps.publisher.publish(config.pubsub.workTopic, batch, {
        runId: batch.runId,
        batchId: batch.batchId,
      });
  };
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
