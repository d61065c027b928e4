// The deploy command: read inputs, observe the project, plan, print, apply, repeat until the
// project matches (some names, like a trigger's subscription, exist only after a deploy).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FunctionName } from '../../shared/settings/functions.ts';
import { loadMonitoring } from '../monitoring/definitions.ts';
import { parseArgs, USAGE } from './args.ts';
import type { DeployOptions } from './args.ts';
import { buildDesired } from './desired.ts';
import { parseEnvFile } from './env-file.ts';
import { GcloudError, runChecked } from './gcloud.ts';
import type { Gcloud } from './gcloud.ts';
import { InputError } from './input-error.ts';
import { observe } from './observe.ts';
import { buildPlan, isReady } from './plan.ts';
import type { Step } from './plan.ts';
import { formatPlan, formatStep, formatSummary, shellQuote } from './report.ts';
import { FUNCTIONS } from './resources.ts';
import { rulesApi, RulesApiError } from './rules-api.ts';
import type { RulesApi } from './rules-api.ts';
import { SecretInputs } from './secret-inputs.ts';
import { hashDirectory, missingBuildFiles } from './source-hash.ts';
import { emptyState } from './state.ts';
import type { ProjectState } from './state.ts';

export interface CliDeps {
  readonly gcloud: Gcloud;
  /** Builds the Rules API client; the access token comes from gcloud. */
  readonly rules?: (options: DeployOptions, gcloud: Gcloud) => RulesApi;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly readStdin: () => Buffer;
  readonly build: () => Promise<number>;
  readonly retryDelayMs?: number;
}

const MAX_PASSES = 3;

export async function runDeploy(argv: readonly string[], deps: CliDeps): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    if (parsed.help) {
      deps.out(USAGE);
      return 0;
    }
    for (const problem of parsed.problems) deps.err(`deploy: ${problem}`);
    deps.err(USAGE);
    return 2;
  }
  const options = parsed.options;
  try {
    return await deploy(options, deps);
  } catch (error) {
    if (
      error instanceof GcloudError ||
      error instanceof RulesApiError ||
      error instanceof InputError
    ) {
      deps.err(`deploy: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function deploy(options: DeployOptions, deps: CliDeps): Promise<number> {
  const { out } = deps;
  out(
    `consent-vault deploy: project ${options.project}, region ${options.region}${options.dryRun ? ' (dry run: nothing will change)' : ''}`,
  );

  if (!existsSync(options.envFile))
    throw new InputError(
      `env file ${options.envFile} not found: copy infra/deploy/deploy.example.env and fill it in`,
    );
  const envFile = parseEnvFile(readFileSync(options.envFile, 'utf8'));
  if (envFile.problems.length > 0)
    throw new InputError(`${options.envFile}:\n  ${envFile.problems.join('\n  ')}`);
  for (const key of envFile.unknownKeys)
    deps.err(
      `warning: ${options.envFile}: ${key} is not a setting (docs/configuration.md lists them; typo?)`,
    );
  if (!existsSync(options.rulesFile))
    throw new InputError(`rules file ${options.rulesFile} not found`);
  const rulesSource = readFileSync(options.rulesFile, 'utf8');
  const indexesJson = existsSync(options.indexesFile)
    ? readFileSync(options.indexesFile, 'utf8')
    : undefined;
  const monitoring = loadMonitoring(options.monitoringDir);
  if (!monitoring.ok)
    throw new InputError(
      `--monitoring ${options.monitoringDir}:\n  ${monitoring.problems.join('\n  ')}`,
    );

  if (options.skipBuild) out('Build: skipped (--skip-build)');
  else if (options.dryRun) out('Build: would run `npm run build`');
  else {
    out('Build: npm run build');
    const code = await deps.build();
    if (code !== 0) throw new InputError(`npm run build failed (exit ${code})`);
  }

  const sourceHashes: Partial<Record<FunctionName, string>> = {};
  for (const { name } of FUNCTIONS) {
    const dir = `${options.distDir.replace(/\/+$/, '')}/${name}`;
    const missing = missingBuildFiles(dir);
    if (missing.length > 0) {
      const message = `${dir} lacks ${missing.join(' and ')} (run npm run build)`;
      if (!options.dryRun) throw new InputError(message);
      deps.err(`warning: ${message}`);
      continue;
    }
    const hash = hashDirectory(dir);
    if (hash !== undefined) sourceHashes[name] = hash;
  }

  const built = buildDesired({
    options,
    envValues: envFile.values,
    rulesSource,
    indexesJson,
    sourceHashes,
    monitoring: monitoring.definitions,
  });
  if (!built.ok) throw new InputError(built.problems.join('\n  '));
  const desired = built.desired;

  const rules = (deps.rules ?? defaultRules)(options, deps.gcloud);
  const look = async (): Promise<ProjectState> =>
    options.assumeEmpty ? emptyState() : observe(deps.gcloud, rules, desired);

  if (options.assumeEmpty)
    out('Project state: not read (--assume-empty); planning against an empty project.');
  let state = await look();
  let plan = buildPlan(desired, state);
  out('');
  out(formatPlan(plan, options.rulesApi, options.project));

  if (options.dryRun) {
    out('');
    out(formatSummary(desired, state));
    out('');
    out('Dry run: no command that changes anything was run.');
    return 0;
  }
  if (plan.problems.length > 0) {
    deps.err('deploy: stopping before any change; fix the problems above.');
    return 1;
  }

  const inputs = new SecretInputs({
    gcloud: deps.gcloud,
    project: options.project,
    clientSecretFile: options.clientSecretFile,
    readStdin: deps.readStdin,
    show: (args) => deps.out(['gcloud', ...args].map(shellQuote).join(' ')),
  });
  for (let pass = 1; plan.steps.length > 0; pass++) {
    if (pass >= MAX_PASSES || !plan.steps.some(isReady)) {
      deps.err(`deploy: the project still differs after ${pass - 1} pass(es):`);
      for (const step of plan.steps) deps.err(`  ${step.title}`);
      return 1;
    }
    out('');
    out(`Applying pass ${pass}:`);
    for (const step of plan.steps.filter(isReady)) await apply(step, options, deps, rules, inputs);
    state = await look();
    plan = buildPlan(desired, state);
    if (plan.problems.length > 0) {
      for (const problem of plan.problems) deps.err(`problem: ${problem}`);
      return 1;
    }
  }

  out('');
  out('The project matches the repository.');
  out('');
  out(formatSummary(desired, state));
  return 0;
}

async function apply(
  step: Step,
  options: DeployOptions,
  deps: CliDeps,
  rules: RulesApi,
  inputs: SecretInputs,
): Promise<void> {
  for (const line of formatStep(step, options.rulesApi, options.project)) deps.out(line);
  if (step.kind === 'rules') {
    await rules.release(step.database, step.source);
    return;
  }
  const stdin = step.stdin === undefined ? undefined : await inputs.get(step.stdin);
  // What a step needs may take a few seconds to be seen: a service account just created (IAM),
  // a log-based metric just created (Monitoring).
  const retriable = step.retriable === true || step.args.some((a) => a.endsWith('-policy-binding'));
  for (let attempt = 1; ; attempt++) {
    try {
      await runChecked(deps.gcloud, step.args, stdin);
      return;
    } catch (error) {
      if (!(error instanceof GcloudError) || !retriable || attempt >= 5) throw error;
      deps.err(`  retrying in a moment (${error.message})`);
      await sleep((deps.retryDelayMs ?? 5000) * attempt);
    }
  }
}

function defaultRules(options: DeployOptions, gcloud: Gcloud): RulesApi {
  let token: Promise<string> | undefined;
  return rulesApi({
    root: options.rulesApi,
    project: options.project,
    accessToken: () => {
      token ??= runChecked(gcloud, ['auth', 'print-access-token']).then((stdout) => stdout.trim());
      return token;
    },
  });
}

/** `npm run build`, output shown as it comes. */
export function npmBuild(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'build'], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
