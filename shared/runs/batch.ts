// One work batch: skip users the ledger says are done, process the rest through this instance's
// bounded pool, then write the delivery's summary `runs/{runId}/batches/{batchId}` (one document
// per batch, no hot spot): what the latest delivery found and did, its attempt and the users it
// left pending, for diagnosis. The run's report does not read it: it counts the ledger, where the
// first delivery that finished a user decides (./report.ts).
import { Timestamp } from '@google-cloud/firestore';
import { LEASE_BUSY } from '../errors.ts';
import { classifyError } from '../retry/classify.ts';
import type { RunDeps } from './deps.ts';
import { grpcConnectionBackend } from '../store/connection/grpc-backend.ts';
import { createConnectionRepository, type Snapshot } from '../store/connection/repository.ts';
import type { Connection } from '../store/connection/document.ts';
import { readJobSettings } from '../store/job-settings.ts';
import { createGroupCommitter } from './group-commit.ts';
import { readHalt } from './halt.ts';
import { expireAtFor, readLedger, runRef, type LedgerEntry } from './ledger.ts';
import type { RunDoc } from './dispatch.ts';
import type { WorkBatch } from './messages.ts';
import { processUser } from './process-user.ts';
import type { UserResult } from './user/context.ts';
import { recordUserResult } from './user/outcome.ts';
import { parseRunId, type RunPeriod } from './run-id.ts';

export interface BatchSummary {
  runId: string;
  batchId: string;
  users: number;
  outcomes: Record<string, number>;
  failures: Record<string, number>;
  /** Per job: how many users it came to each outcome for (`ok`, `needs-consent`, `not-due`…). */
  jobs: Record<string, Record<string, number>>;
  durationsMs: number[];
  /** Users left for redelivery (transient failures). */
  pending: number;
  /** Users not started because the run was halted. */
  halted: number;
  attempt: number;
  deadLettered: boolean;
  startedAt: Timestamp;
  finishedAt: Timestamp;
  expireAt: Timestamp;
}

export interface BatchOptions {
  readonly attempt: number;
  /** Last delivery: users still failing transiently are recorded as dead-lettered. */
  readonly final: boolean;
}

export function batchRef(deps: RunDeps, runId: string, batchId: string) {
  return runRef(deps.db, runId).collection('batches').doc(batchId);
}

/** What a batch reads before its users start. */
export interface BatchState {
  readonly startedAt: number;
  readonly halt: Awaited<ReturnType<typeof readHalt>>;
  readonly done: Awaited<ReturnType<typeof readLedger>>;
  readonly connections: ReadonlyMap<string, Snapshot>;
  /** When the run's latest re-run began, if it was re-run (./rerun.ts). */
  readonly rerunSince: number | undefined;
  /** When the run began (its document's `startedAt`), if it has one. */
  readonly runStartedAt: number | undefined;
  /** When Firestore created the run's document (its commit time), if it exists. */
  readonly runCreatedAt: number | undefined;
}

/**
 * Four reads for the whole batch, in parallel: the halt flag, the ledger (users already done),
 * the connections (each user's first lease attempt uses this read instead of its own) and the
 * run (when it started, and whether it is being re-run). Reads only, so the worker starts them while it still counts
 * the delivery.
 */
export async function readBatchState(deps: RunDeps, batch: WorkBatch): Promise<BatchState> {
  const { db } = deps;
  const startedAt = deps.runtime.clock.now();
  const [halt, done, connections, run] = await Promise.all([
    readHalt(db, batch.runId),
    readLedger(db, batch.runId, batch.subs),
    grpcConnectionBackend(db).readAll(batch.subs),
    runRef(db, batch.runId).get(),
  ]);
  const repairs = (run.get('repairs') as RunDoc['repairs']) ?? [];
  const rerunSince = repairs.at(-1)?.startedAt.toMillis();
  const runStartedAt = (run.get('startedAt') as RunDoc['startedAt'] | undefined)?.toMillis();
  const runCreatedAt = run.createTime?.toMillis();
  return { startedAt, halt, done, connections, rerunSince, runStartedAt, runCreatedAt };
}

export async function processBatch(
  deps: RunDeps,
  batch: WorkBatch,
  options: BatchOptions,
  state?: BatchState,
): Promise<BatchSummary> {
  const { runtime, db } = deps;
  const period = parseRunId(batch.runId) as RunPeriod;
  const log = runtime.log.child({ runId: batch.runId, batchId: batch.batchId });
  // The batch's own reads and its summary write run outside the users' lanes: while this batch
  // reads or writes, other batches on the instance keep the lanes busy.
  const { startedAt, halt, done, connections, rerunSince, runCreatedAt } =
    state ?? (await readBatchState(deps, batch));
  const todo = batch.subs.filter((sub) => !done.has(sub));
  const settings = await readJobSettings(
    db,
    todo.filter((sub) => connections.get(sub)?.connection?.settingsUpdatedAt),
  );
  const commits = createGroupCommitter(db);
  const decorate = deps.decorateConnections ?? ((connections) => connections);
  const context = {
    period,
    batchId: batch.batchId,
    attempt: options.attempt,
    ...(rerunSince === undefined ? {} : { rerunSince }),
    ...(runCreatedAt === undefined ? {} : { runCreatedAt }),
    halt,
    log,
    commits,
    // Every connection write of this batch's users is a guarded transition, in shared commits.
    connections: decorate(createConnectionRepository(grpcConnectionBackend(db, commits.commit))),
    // No document to read while the connection says the app never set any; the batch's read
    // serves while the connection's settings time is the one it saw.
    async jobSettings(connection: Connection) {
      const changed = connection.settingsUpdatedAt?.getTime();
      if (changed === undefined) return {};
      const seen = connections.get(connection.sub)?.connection?.settingsUpdatedAt?.getTime();
      if (seen === changed && settings.has(connection.sub)) return settings.get(connection.sub)!;
      return (await readJobSettings(db, [connection.sub])).get(connection.sub) ?? {};
    },
  };
  const results = await Promise.all(
    todo.map((sub) =>
      (async (): Promise<UserResult> => {
        try {
          return await processUser(deps, context, sub, connections.get(sub));
        } catch (error) {
          // A failure outside the classified paths (e.g. Firestore during the final write).
          const classified = classifyError(error);
          log.warn('user processing failed', { sub, failure: classified.failure, error });
          return {
            sub,
            appUserId: connections.get(sub)?.connection?.appUserId ?? null,
            outcome: classified.failure === 'transient' ? 'retry' : 'failed',
            failure: classified.failure,
            reason: classified.reason,
            effect: null,
            jobs: null,
            durationMs: 0,
          };
        }
      })(),
    ),
  );
  const finals: UserResult[] = [];
  for (const result of results) {
    // A user another live delivery held all along is that delivery's to record: waiting for it
    // is not this user's own failure, so it never counts towards dead-lettering the user.
    if (options.final && result.outcome === 'retry' && result.reason === LEASE_BUSY) {
      log.info('user left to the delivery that holds it', { sub: result.sub });
      finals.push(result);
    } else if (options.final && result.outcome === 'retry') {
      finals.push(
        await recordUserResult(deps, context, {
          ...result,
          outcome: 'dead-lettered',
          failure: result.failure ?? 'transient',
        }),
      );
    } else finals.push(result);
  }
  const summary = summarize(batch, options, {
    previous: [...done.values()],
    results: finals,
    startedAt,
    finishedAt: runtime.clock.now(),
  });
  await batchRef(deps, batch.runId, batch.batchId).set(summary);
  log.info('batch processed', {
    users: summary.users,
    outcomes: summary.outcomes,
    pending: summary.pending,
    attempt: options.attempt,
  });
  return summary;
}

function summarize(
  batch: WorkBatch,
  options: BatchOptions,
  delivery: {
    /** Ledger entries of users an earlier delivery finished. */
    readonly previous: readonly LedgerEntry[];
    readonly results: readonly UserResult[];
    readonly startedAt: number;
    readonly finishedAt: number;
  },
): BatchSummary {
  const { previous, results, startedAt, finishedAt } = delivery;
  const outcomes: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const jobs: Record<string, Record<string, number>> = {};
  const durationsMs: number[] = [];
  let pending = 0;
  let halted = 0;
  const add = (final: Pick<LedgerEntry, 'outcome' | 'failure' | 'durationMs' | 'jobs'>): void => {
    outcomes[final.outcome] = (outcomes[final.outcome] ?? 0) + 1;
    if (final.failure) failures[final.failure] = (failures[final.failure] ?? 0) + 1;
    durationsMs.push(final.durationMs);
    for (const [job, record] of Object.entries(final.jobs ?? {})) {
      const counts = (jobs[job] ??= {});
      counts[record.outcome] = (counts[record.outcome] ?? 0) + 1;
    }
  };
  for (const entry of previous) add(entry);
  for (const result of results) {
    if (result.outcome === 'retry') pending += 1;
    else if (result.outcome === 'halted') halted += 1;
    else add(result as UserResult & { outcome: LedgerEntry['outcome'] });
  }
  return {
    runId: batch.runId,
    batchId: batch.batchId,
    users: batch.subs.length,
    outcomes,
    failures,
    jobs,
    durationsMs,
    pending,
    halted,
    attempt: options.attempt,
    deadLettered: options.final && results.some((result) => result.outcome === 'dead-lettered'),
    startedAt: Timestamp.fromMillis(startedAt),
    finishedAt: Timestamp.fromMillis(finishedAt),
    expireAt: expireAtFor(finishedAt),
  };
}
