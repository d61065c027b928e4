// npm run report [-- <run-id>]  |  npm run report -- --html FILE [--runs N]
// Prints one run (the latest without an id) as a table: status, start and end, counts per outcome
// and per job, per-user p50/p95, errors by class and the run's re-runs. Reads the run document and
// counts over its ledger (shared/runs/report.ts); never a token. With --html, writes the last N
// runs (10 by default) as a self-contained page of charts instead (./report-html.ts).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseRunId } from '../../shared/runs/run-id.ts';
import { formatRunReport, readRunReport } from '../../shared/runs/report.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';
import { renderReportPage } from './report-html.ts';
import { readRunHistory } from './run-history.ts';

const USAGE =
  'usage: npm run report [-- <run-id>]   (e.g. 2026-11-22_86400s)\n' +
  '       npm run report -- --html FILE [--runs N]   (N from 1 to 100, default 10)';

function usage(): never {
  console.error(USAGE);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { html: { type: 'string' }, runs: { type: 'string' } },
  });
} catch {
  usage();
}
const { values, positionals } = parsed;
const runId = positionals[0];
const runs = Number(values.runs ?? '10');
if (
  positionals.length > 1 ||
  (runId !== undefined && (parseRunId(runId) === undefined || values.html !== undefined)) ||
  (values.runs !== undefined && values.html === undefined) ||
  !(Number.isInteger(runs) && runs >= 1 && runs <= 100) ||
  values.html === ''
)
  usage();

const db = await cliFirestore(cliEnv());
try {
  if (values.html !== undefined) {
    const history = await readRunHistory(db, runs);
    if (history.reports.length === 0) {
      console.error('no runs yet');
      process.exitCode = 1;
    } else {
      const written = await writeFile(values.html, renderReportPage(history, new Date())).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => error.code ?? 'error',
      );
      // A file that cannot be written is the operator's to fix: say which and why, no stack.
      if (written === undefined)
        console.log(`wrote ${values.html} (${history.reports.length} run(s))`);
      else {
        console.error(`cannot write ${values.html}: ${written}`);
        process.exitCode = 1;
      }
    }
  } else {
    const report = await readRunReport(db, runId);
    if (!report) {
      console.error(runId === undefined ? 'no runs yet' : `run ${runId} not found`);
      process.exitCode = 1;
    } else console.log(formatRunReport(report));
  }
} finally {
  await db.terminate();
}
