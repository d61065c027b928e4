// Entry point of `npm run deploy` (see docs/deploy.md). Wires the real gcloud, stdin and
// `npm run build` into the CLI.
import { readFileSync } from 'node:fs';
import { npmBuild, runDeploy } from './cli.ts';
import { spawnGcloud } from './gcloud.ts';

process.exitCode = await runDeploy(process.argv.slice(2), {
  gcloud: spawnGcloud(),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin: () => readFileSync(0),
  build: npmBuild,
});
