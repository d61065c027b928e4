// npm run connections [-- --state active|needs-reconnect|revoke-pending|revoked] [--needs-consent] [--limit N]
// Lists connections: app user, state, each enabled job's status and the last run
// (./connection-listing.ts). --needs-consent lists the active ones that lack some enabled job's
// scopes: the users to send to `authorize?jobs=<job>` (docs/jobs.md#incremental-consent).
import { parseArgs } from 'node:util';
import { enabledJobs } from '../../shared/jobs/catalog.ts';
import { jobManifest } from '../../shared/jobs/manifest.ts';
import { table } from '../../shared/runs/report.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';
import { LISTED_STATES, LISTING_HEADER, listConnections } from './connection-listing.ts';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    'needs-consent': { type: 'boolean', default: false },
    limit: { type: 'string', default: '1000' },
  },
});
const limit = Number(values.limit);
if (
  (values.state !== undefined && !(LISTED_STATES as readonly string[]).includes(values.state)) ||
  !(limit > 0)
) {
  console.error(
    `usage: npm run connections [-- --state ${LISTED_STATES.join('|')}] [--needs-consent] [--limit N]`,
  );
  process.exit(2);
}
const env = cliEnv();
const jobs = enabledJobs(
  jobManifest().jobs,
  (env.JOBS ?? 'drive-export').split(',').map((name) => name.trim()),
);
const db = await cliFirestore(env);
try {
  const rows = await listConnections(db, {
    limit,
    jobs,
    needsConsent: values['needs-consent'],
    ...(values.state ? { state: values.state } : {}),
  });
  console.log(table(LISTING_HEADER, rows));
  console.log(`\n${rows.length} connection(s)`);
} finally {
  await db.terminate();
}
