// npm run trigger [-- --at 2026-11-22T06:00:00Z] [--wait]
// Starts a run by hand the way Cloud Scheduler does: publishes a tick to the tick topic of the
// local Pub/Sub emulator (`npm start` must be running). With --wait, prints the run report.
import { parseArgs } from 'node:util';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { formatRunReport } from '../../shared/runs/report.ts';
import { publishTick, waitForRunReport } from '../../shared/runs/trigger.ts';
import { cliEnv, cliFirestore } from '../../infra/ops/cli-env.ts';

const { values } = parseArgs({
  options: { at: { type: 'string' }, wait: { type: 'boolean', default: false } },
});
const env = cliEnv();
const scheduledAt = values.at === undefined ? Date.now() : Date.parse(values.at);
if (Number.isNaN(scheduledAt) || env.PUBSUB_EMULATOR_HOST === undefined) {
  console.error(
    'usage: npm run trigger [-- --at ISO-TIME] [--wait]\n' +
      '(needs the local stack: PUBSUB_EMULATOR_HOST from `npm start` or .local/stack.json)',
  );
  process.exit(2);
}
const projectId = env.GOOGLE_CLOUD_PROJECT ?? 'demo-consent-vault';
const publisher = pubsubPublisher({ projectId, pubsubEmulatorHost: env.PUBSUB_EMULATOR_HOST });
const periodSeconds = Number(env.RUN_PERIOD_SECONDS ?? 86400);
const { runId, messageId } = await publishTick(
  publisher,
  env.TICK_TOPIC ?? 'consent-vault-tick',
  scheduledAt,
  periodSeconds,
);
await publisher.close();
console.log(`tick published (message ${messageId}) for run ${runId}`);
if (values.wait) {
  const db = await cliFirestore(env);
  try {
    console.log(formatRunReport(await waitForRunReport(db, runId, { timeoutMs: 600_000 })));
  } finally {
    await db.terminate();
  }
}
