// npm run report [-- <run-id>]
// Prints one run (the latest without an id) as a table: status, start and end, counts per outcome
// and per job, per-user p50/p95, errors by class and the run's re-runs. Reads the run document and
// counts over its ledger (shared/runs/report.ts); never a token.
import { parseRunId } from '../../shared/runs/run-id.ts';
import { formatRunReport, readRunReport } from '../../shared/runs/report.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';

const runId = process.argv[2];
if (runId !== undefined && parseRunId(runId) === undefined) {
  console.error('usage: npm run report [-- <run-id>]   (e.g. 2026-11-22_86400s)');
  process.exit(2);
}
const db = await cliFirestore(cliEnv());
try {
  const report = await readRunReport(db, runId);
  if (!report) {
    console.error(runId === undefined ? 'no runs yet' : `run ${runId} not found`);
    process.exitCode = 1;
  } else console.log(formatRunReport(report));
} finally {
  await db.terminate();
}
