// npm run simulate -- [--users 1000000] [--batch-size 100] [--max-instances N] [--quota-per-second Q] ...
// One daily run simulated, event by event: run duration, peak instances, Google calls per second,
// which limit binds and a cost estimate with its price table (docs/scale.md). A plan, not a
// measurement: it touches no project and no emulator. Bad flags: every problem, then exit 2.
import { parsePlanArgs, usage } from './inputs.ts';
import { formatPlan } from './format.ts';
import { simulateRun } from './model.ts';

const parsed = parsePlanArgs(process.argv.slice(2));
if (!parsed.ok) {
  for (const problem of parsed.problems) console.error(problem);
  if (parsed.help) console.log(usage());
  else console.error('\n' + usage());
  process.exit(parsed.help && parsed.problems.length === 0 ? 0 : 2);
}
console.log(formatPlan(simulateRun(parsed.inputs)));
