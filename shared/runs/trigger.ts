// Starting a run by hand, as Cloud Scheduler would (publish a tick to the tick topic), and waiting
// for its report. A tick for a period whose run exists re-runs it once it has settled
// (./rerun.ts). Used by `npm run trigger`, `npm run rerun` and the demo.
import type { Firestore } from '@google-cloud/firestore';
import type { TopicPublisher } from '../pubsub/publisher.ts';
import { isRunFinished, readRunProgress, readRunReport, type RunReport } from './report.ts';
import { runPeriodFor } from './run-id.ts';
import { sleep } from '../retry/time.ts';

export interface TriggeredRun {
  readonly runId: string;
  readonly messageId: string;
}

export async function publishTick(
  publisher: TopicPublisher,
  tickTopic: string,
  scheduledAt: number,
  periodSeconds: number,
): Promise<TriggeredRun> {
  const scheduledTime = new Date(scheduledAt).toISOString();
  const messageId = await publisher.publish(tickTopic, { scheduledTime }, { scheduledTime });
  return { runId: runPeriodFor(scheduledAt, periodSeconds).runId, messageId };
}

/**
 * Polls the run's progress (one count per poll) until it is complete or halted, and then reads
 * its report; with `repairs`, until it has at least that many re-runs too, the last of them
 * dispatched. Rejects after `timeoutMs`.
 */
export async function waitForRunReport(
  db: Firestore,
  runId: string,
  options: { timeoutMs?: number; pollMs?: number; repairs?: number } = {},
): Promise<RunReport> {
  const until = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const progress = await readRunProgress(db, runId);
    const repairs = progress?.run.repairs ?? [];
    const last = repairs.at(-1);
    const repaired =
      repairs.length >= (options.repairs ?? 0) && (last === undefined || last.finishedAt !== null);
    if (progress && repaired && isRunFinished(progress)) {
      const report = await readRunReport(db, runId);
      if (report && isRunFinished(report)) return report;
    }
    if (Date.now() > until)
      throw new Error(
        `run ${runId} not finished in time (status ${progress?.status ?? 'not started'})`,
      );
    await sleep(options.pollMs ?? 250);
  }
}
