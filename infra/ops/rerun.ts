// npm run rerun -- <run-id> [--wait]
// Re-runs one period the way the operations docs describe (docs/operations.md#re-running-a-run):
// publishes a tick carrying the run's scheduled time to the tick topic, exactly as
// `gcloud pubsub topics publish consent-vault-tick --message='{"scheduledTime":"…"}'` does; the
// dispatcher then redoes the users that are not done. Before publishing it says what the tick
// would do: nothing while the run is still at work or when every user is done. The local
// emulator's topic when `npm start` runs (.local/stack.json), else GOOGLE_CLOUD_PROJECT's with
// application-default credentials. With --wait, prints the report once the re-run finished.
import { parseArgs } from 'node:util';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { formatRunReport, readRunProgress } from '../../shared/runs/report.ts';
import { RERUN_QUIET_MS, rerunVerdict } from '../../shared/runs/rerun.ts';
import { parseRunId } from '../../shared/runs/run-id.ts';
import { publishTick, waitForRunReport } from '../../shared/runs/trigger.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';

const USAGE = 'usage: npm run rerun -- <run-id> [--wait]   (e.g. 2026-11-22_86400s)';

function parseCli() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: { wait: { type: 'boolean', default: false } },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const parsed = parseCli();
const [runId, ...extra] = parsed.positionals;
const period = runId === undefined ? undefined : parseRunId(runId);
if (runId === undefined || period === undefined || extra.length > 0) {
  console.error(USAGE);
  process.exit(2);
}
const env = cliEnv();
const configured = Number(env.RUN_PERIOD_SECONDS ?? period.periodSeconds);
if (configured !== period.periodSeconds) {
  console.error(
    `run ${runId} has ${period.periodSeconds} s periods, but RUN_PERIOD_SECONDS is ${configured}: ` +
      'its tick would name another run',
  );
  process.exit(2);
}

const db = await cliFirestore(env);
try {
  process.exitCode = await rerun(runId, period.periodSeconds);
} catch (error) {
  console.error(`rerun failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.terminate();
}

async function rerun(runId: string, periodSeconds: number): Promise<number> {
  const progress = await readRunProgress(db, runId);
  if (progress === undefined) {
    console.error(`run ${runId} not found (a period that never ran: npm run trigger -- --at TIME)`);
    return 1;
  }
  const { run } = progress;
  const verdict = await rerunVerdict(db, run, Date.now());
  if (verdict.kind === 'in-progress') {
    console.error(
      `run ${runId} is still at work (${progress.status}, ${progress.recorded}/${run.users} users ` +
        `recorded): a tick now is ignored. It can be re-run once every user is recorded, it ` +
        `halted, or nothing happened for ${RERUN_QUIET_MS / 3600e3} h.`,
    );
    return 1;
  }
  if (verdict.kind === 'nothing-to-redo') {
    console.log(`run ${runId}: every user is done; nothing to redo`);
    return 0;
  }
  const before = (run.repairs ?? []).length;
  const publisher = pubsubPublisher({
    projectId: env.GOOGLE_CLOUD_PROJECT ?? 'demo-consent-vault',
    pubsubEmulatorHost: env.PUBSUB_EMULATOR_HOST,
  });
  let messageId: string;
  try {
    ({ messageId } = await publishTick(
      publisher,
      env.TICK_TOPIC ?? 'consent-vault-tick',
      run.scheduledAt.toMillis(),
      periodSeconds,
    ));
  } finally {
    await publisher.close();
  }
  const what = verdict.users > 0 ? `${verdict.users} users to redo` : 'dispatched in full';
  console.log(
    `tick published (message ${messageId}) for run ${runId}: re-run attempt ${before + 1}, ${what}`,
  );
  if (parsed.values.wait) {
    const report = await waitForRunReport(db, runId, { timeoutMs: 600_000, repairs: before + 1 });
    console.log(formatRunReport(report));
  }
  return 0;
}
