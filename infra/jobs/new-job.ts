// npm run new-job -- <name> [--scope URL]... [--dir DIR]
// Scaffolds an app job: `jobs/<name>.ts` (one defineJob, its scopes declared once) and
// `jobs/<name>.test.ts` (a passing test of it against the Google stand-in). Changes no other
// file: the build, the runner and authorize discover the job by its file (docs/jobs.md).
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { JOB_NAME } from '../../shared/jobs/define.ts';
import { describeScope } from '../../shared/jobs/google-scopes.ts';
import { appJobsDir, jobFiles, loadJobFiles } from '../../shared/jobs/job-files.ts';

const DEFAULT_SCOPE = 'https://www.googleapis.com/auth/drive.file';

export interface ScaffoldRequest {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly dir: string;
}

/** Checks the request against the jobs that exist; the problems, or none. */
export async function scaffoldProblems(request: ScaffoldRequest): Promise<string[]> {
  const problems: string[] = [];
  if (!JOB_NAME.test(request.name))
    problems.push(
      `"${request.name}" is not a job name: lower-case letters, digits and dashes, starting with a letter`,
    );
  for (const scope of request.scopes)
    if (URL.parse(scope)?.protocol !== 'https:')
      problems.push(
        `--scope "${scope}" is not an https URL (Google scopes look like ${DEFAULT_SCOPE})`,
      );
  const known = await loadJobFiles(jobFiles(request.dir));
  const taken = known.find((job) => job.definition.name === request.name);
  if (taken) problems.push(`a job named "${request.name}" exists already: ${taken.source}`);
  if (existsSync(path.join(request.dir, `${request.name}.ts`)))
    problems.push(`${path.join(request.dir, `${request.name}.ts`)} exists already`);
  return problems;
}

export async function scaffoldJob(request: ScaffoldRequest): Promise<string[]> {
  await mkdir(request.dir, { recursive: true });
  const jobFile = path.join(request.dir, `${request.name}.ts`);
  const testFile = path.join(request.dir, `${request.name}.test.ts`);
  const shared = path.relative(request.dir, path.resolve(import.meta.dirname, '../../shared'));
  const test = path.relative(request.dir, path.resolve(import.meta.dirname, '../../test'));
  const format = async (source: string, file: string) =>
    prettier.format(source, { ...(await prettier.resolveConfig(file)), filepath: file });
  await writeFile(
    jobFile,
    await format(jobSource(request, shared.split(path.sep).join('/')), jobFile),
  );
  await writeFile(
    testFile,
    await format(testSource(request, test.split(path.sep).join('/')), testFile),
  );
  return [jobFile, testFile];
}

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function usesDrive(scopes: readonly string[]): boolean {
  return scopes.some((scope) => describeScope(scope)?.api === 'drive.googleapis.com');
}

function scopeEntry(scope: string): string {
  if (describeScope(scope)) return `    ${quote(scope)},`;
  // A scope consent-vault has no words for: say what it lets the job do (shown on the pages).
  const short = scope.replace(/^https:\/\/www\.googleapis\.com\/auth\//, '');
  return `    { url: ${quote(scope)}, description: ${quote(`use your ${short} data`)} },`;
}

function jobSource(request: ScaffoldRequest, shared: string): string {
  const run = usesDrive(request.scopes)
    ? `    // A Drive client authorized as this user, pointed at the right host, without retries
    // (the runner backs off and honours Retry-After) and timing out at the deadline.
    const drive = await context.google.drive();
    const answer = await drive.files.list({
      pageSize: context.settings.count,
      fields: 'files(id)',
      spaces: 'drive',
    });
    return { effect: 'listed', details: { files: answer.data.files?.length ?? 0 } };`
    : `    // Call your API with a client wired for this user, e.g.:
    //   const { calendar } = await import('@googleapis/calendar');
    //   const api = context.google.use('calendar', (options) => calendar({ ...options, version: 'v3' }));
    return { effect: 'checked', details: { scopes: context.connection.scopes.length } };`;
  return `// The ${request.name} job. What it does for each user, once per schedule period, written
// so that a retried run (same context.idempotencyKey) does not do anything twice.
import { z } from 'zod';
import { defineJob } from '${shared}/jobs/define.ts';

export default defineJob({
  name: ${quote(request.name)},
  // What users read on the connect page: "… will use your Google account for <title>".
  title: ${quote(`the ${request.name} job`)},
  scopes: [
${request.scopes.map(scopeEntry).join('\n')}
  ],
  // Per-user settings, set by your backend (POST …/settings); validated before every run.
  settings: z.object({
    count: z.number().int().min(1).max(100).default(10).describe('How many items to look at'),
  }),
  schedule: 'daily',
  // Google calls one run makes per user, by API, when not one each: the deploy sizes the worker
  // fleet from them (docs/jobs.md#calls). For example calls: { 'drive.googleapis.com': 2 }.
  async run(context) {
${run}
  },
});
`;
}

function testSource(request: ScaffoldRequest, test: string): string {
  const refused = usesDrive(request.scopes)
    ? `
it('is refused by Google without its scopes', async () => {
  const user = await consentedUser(google, { job, scopes: [] });
  await expect(runJob(google, job, { user })).rejects.toMatchObject({ status: 403 });
});
`
    : '';
  const effect = usesDrive(request.scopes) ? 'listed' : 'checked';
  return `import { afterAll, beforeAll, expect, it } from 'vitest';
import type { GoogleStandIn } from '${test}/standin/index.ts';
import { consentedUser, runJob, startJobStandIn } from '${test}/support/job-harness.ts';
import job from './${request.name}.ts';

let google: GoogleStandIn;
beforeAll(async () => {
  google = await startJobStandIn();
});
afterAll(() => google.close());

it('runs for a user who granted its scopes', async () => {
  const user = await consentedUser(google, { job });
  const result = await runJob(google, job, { user, settings: { count: 5 } });
  expect(result.effect).toBe(${quote(effect)});
});
${refused}`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { scope: { type: 'string', multiple: true }, dir: { type: 'string' } },
  });
  const [name] = positionals;
  if (name === undefined || positionals.length > 1) {
    console.error('usage: npm run new-job -- <name> [--scope URL]... [--dir DIR]');
    process.exit(2);
  }
  const request = {
    name,
    scopes: values.scope ?? [DEFAULT_SCOPE],
    dir: values.dir ? path.resolve(values.dir) : appJobsDir(),
  };
  const problems = await scaffoldProblems(request);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`new-job: ${problem}`);
    process.exit(2);
  }
  for (const file of await scaffoldJob(request))
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  console.log(`\nNext: fill in run(), then JOBS=…,${name} (docs/jobs.md#write-your-own-job).`);
}

if (import.meta.main) await main();
