// Starting a run by hand, as Cloud Scheduler would (publish a tick to the tick topic), and waiting
// for its report. Used by `npm run trigger` and the demo.
import type { Firestore } from '@google-cloud/firestore';
import type { TopicPublisher } from '../pubsub/publisher.ts';
import { isRunFinished, readRunReport, type RunReport } from './report.ts';
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

/** Polls until the run is complete or halted; rejects after `timeoutMs`. */
export async function waitForRunReport(
  db: Firestore,
  runId: string,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<RunReport> {
  const until = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const report = await readRunReport(db, runId);
    if (report && isRunFinished(report)) return report;
    if (Date.now() > until)
      throw new Error(
        `run ${runId} not finished in time (status ${report?.status ?? 'not started'})`,
      );
    await sleep(options.pollMs ?? 250);
  }
}
