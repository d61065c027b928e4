// npm run job-settings -- <sub> <job> '<settings JSON>'
// Sets one user's settings for one job, as the app's backend does through POST …/settings
// (docs/jobs.md#per-user-settings): validated by the job's own schema, written with the
// connection's guarded transition (refused for a revoked user). For operators fixing a user by hand.
import { enabledJobs, jobCatalog } from '../../shared/jobs/catalog.ts';
import { loadJobFiles } from '../../shared/jobs/job-files.ts';
import { changeJobSettings } from '../../shared/flows/job-settings-api.ts';
import { grpcConnectionBackend } from '../../shared/store/connection/grpc-backend.ts';
import { isValidSub } from '../../shared/store/connection/document.ts';
import { createConnectionRepository } from '../../shared/store/connection/repository.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';

const [sub, jobName, raw] = process.argv.slice(2);
let settings: unknown;
try {
  settings = JSON.parse(raw ?? '');
} catch {
  settings = undefined;
}
if (sub === undefined || !isValidSub(sub) || jobName === undefined || settings === undefined) {
  console.error(`usage: npm run job-settings -- <sub> <job> '{"name": value, ...}'`);
  process.exit(2);
}
const env = cliEnv();
const enabled = (env.JOBS ?? 'drive-export').split(',').map((name) => name.trim());
const [job] = enabledJobs(jobCatalog(await loadJobFiles()).jobs, enabled).filter(
  (candidate) => candidate.name === jobName,
);
if (job === undefined) {
  console.error(`job-settings: "${jobName}" is not an enabled job (JOBS: ${enabled.join(', ')})`);
  process.exit(2);
}
const db = await cliFirestore(env);
try {
  const changed = await changeJobSettings(createConnectionRepository(grpcConnectionBackend(db)), {
    sub,
    job,
    settings,
    now: new Date(),
  });
  if (changed.kind === 'invalid') {
    for (const issue of changed.issues) console.error(`  ${issue.path}: ${issue.message}`);
    process.exitCode = 1;
  } else if (changed.kind === 'refused') {
    console.error(`job-settings: not stored (${changed.refusal})`);
    process.exitCode = 1;
  } else console.log(JSON.stringify({ sub, job: job.name, settings: changed.values }));
} finally {
  await db.terminate();
}
