// The deploy's gcloud commands checked by the real Google Cloud CLI, not only by the fake one
// (which accepts whatever it is sent). The commands come from real runs of the deploy against the
// fake project: a first run on an empty project, a run on a deployed project that drifted, and
// cloudbuild.yaml's deploy step, plus the gcloud commands cloudbuild.yaml itself holds.
//   1. Every one, with an isolated, empty configuration and no account, must get past argument
//      parsing and stop only for want of an account.
//   2. One of each shape, with a configuration whose default project is another one and a
//      loopback stand-in for the APIs: every request gcloud sends must name project P, never the
//      default project. This observes gcloud's own resolution of each short name (issue 16: the
//      Scheduler job's --topic went to the default project's topic).
// Nothing reaches the network: HTTPS goes to a closed local port, the stand-in is on loopback.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../infra/deploy/args.ts';
import { shellQuote } from '../../infra/deploy/report.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { addMember } from './fake-gcloud/state.ts';
import type { FakeState } from './fake-gcloud/state.ts';
import { PROJECT, ROOT, Sandbox } from './harness.ts';
import { readBuildConfig, shellCommands, stepCommands } from './real-gcloud/cloudbuild.ts';
import { findGcloud, IsolatedGcloud, mapLimited } from './real-gcloud/isolated.ts';
import type { Outcome } from './real-gcloud/isolated.ts';
import { ApiStandIn, STAND_IN_APIS } from './real-gcloud/stand-in.ts';
import type { Captured } from './real-gcloud/stand-in.ts';

const SETUP_TIMEOUT = 300_000;
const PASS_TIMEOUT = 600_000;
/** Each gcloud start costs a second or two of CPU; the machine has two cores. */
const PARALLEL = 2;
const OTHER_PROJECT = 'someone-elses-project';
const NO_ACCOUNT = 'You do not currently have an active account selected.';
/** What the real gcloud reads on stdin instead of the secret the fake was given. */
const PLACEHOLDER_SECRET = 'placeholder-secret-data';
const TICK_TOPIC = `projects/${PROJECT}/topics/consent-vault-tick`;
/** The number the stand-in gives project P. */
const PROJECT_NUMBER = '123456789012';
/** Command forms that only a deployed, drifted project brings (beside the empty project's). */
const UPDATE_FORMS = [
  'scheduler jobs update pubsub',
  'secrets versions add',
  'iam service-accounts update',
  'functions add-invoker-policy-binding authorize',
  'functions remove-invoker-policy-binding worker',
  'pubsub subscriptions update',
  'secrets remove-iam-policy-binding consent-vault-token-keyset',
  'secrets versions disable',
  'kms keys update',
  'kms keys remove-iam-policy-binding',
  // The deployed project's run adds --dpop-kms: the asymmetric DPoP key and its grants.
  'kms keys create consent-vault-dpop',
  'kms keys add-iam-policy-binding consent-vault-dpop',
  // The dashboard and alerts changed by hand, and --alert-email.
  'logging metrics update',
  'monitoring dashboards update',
  'alpha monitoring policies update',
  'beta monitoring channels create',
];
const TOKEN_KEYSET = 'consent-vault-token-keyset';
/** The key file the summary's Cross-Account Protection step names. */
const RISC_KEY_FILE = 'risc-admin-key.json';

interface Command {
  /** Where the command comes from, for the failure message. */
  readonly source: string;
  readonly args: readonly string[];
  readonly stdin: boolean;
  /** Run only in the argument check (it would upload the repository to the stand-in). */
  readonly parseOnly?: boolean;
}

const show = (command: Command): string =>
  `[${command.source}] gcloud ${command.args.map(shellQuote).join(' ')}`;
/** gcloud puts its error first; what follows is advice. */
const errorOf = (text: string): string => text.trim().split('\n').slice(0, 3).join('\n    ');

/**
 * One command of each shape (command words, resource, flag names): how gcloud resolves a name
 * depends on the command and the flag, not on the value, and each start costs a second or two.
 */
function oneOfEachShape(commands: readonly Command[]): Command[] {
  const seen = new Set<string>();
  return commands.filter((command) => {
    const words = command.args.filter((arg) => !arg.startsWith('--')).slice(0, 4);
    const flags = command.args
      .filter((arg) => arg.startsWith('--'))
      .map((arg) => arg.split('=')[0]);
    const key = JSON.stringify([words, flags.sort()]);
    return !seen.has(key) && seen.add(key);
  });
}

/** A deployed project changed by hand, so that the deploy plans each kind of update. */
function drifted(deployed: FakeState): FakeState {
  const state = structuredClone(deployed);
  const scheduler =
    state.serviceAccounts[`consent-vault-scheduler@${PROJECT}.iam.gserviceaccount.com`];
  if (scheduler) scheduler.displayName = 'renamed in the console';
  state.runPolicies['authorize'] = { bindings: [] };
  addMember((state.runPolicies['worker'] ??= { bindings: [] }), 'roles/run.invoker', 'allUsers');
  const trigger = state.functions['dispatcher']?.eventTrigger?.trigger.split('/').pop() ?? '';
  const subscription = state.subscriptions[state.eventarcTriggers[trigger]?.subscription ?? ''];
  if (!subscription) throw new Error('the first deploy left no trigger subscription');
  delete subscription.deadLetterPolicy;
  delete subscription.retryPolicy;
  subscription.policy = { bindings: [] };
  for (const job of Object.values(state.schedulerJobs)) job.schedule = '0 5 * * *';
  // Key custody undone by hand: authorize given the token keyset and its key, the key's rotation
  // dropped, and an unwrapped token keyset as the newest version (its payload: see the caller).
  const authorize = `serviceAccount:consent-vault-authorize@${PROJECT}.iam.gserviceaccount.com`;
  const token = state.secrets[TOKEN_KEYSET];
  const key =
    state.kms.keyRings['locations/europe-west1/keyRings/consent-vault']?.keys['token-keyset'];
  if (!token || !key) throw new Error('the first deploy left no token keyset or KMS key');
  addMember(token.policy, 'roles/secretmanager.secretAccessor', authorize);
  token.versions.push({ number: 2, state: 'ENABLED' });
  addMember(key.policy, 'roles/cloudkms.cryptoKeyDecrypter', authorize);
  delete key.rotationPeriod;
  // The dashboard and alerts edited in the console: a metric, the dashboard and a policy.
  const [metric] = Object.values(state.logMetrics);
  const [dashboard] = Object.values(state.dashboards);
  const [policy] = Object.values(state.alertPolicies);
  if (!metric || !dashboard || !policy) throw new Error('the first deploy left no monitoring');
  metric.filter = 'severity>=ERROR';
  dashboard.displayName = 'consent-vault runs';
  dashboard.mosaicLayout = { columns: 12, tiles: [] };
  policy.body = { ...policy.body, enabled: false };
  return state;
}

/**
 * `kms encrypt` names the deploy's temporary files, gone once its run ended: the additional
 * authenticated data is put back in the sandbox, so that gcloud gets as far as it would have.
 */
function withFiles(args: readonly string[], dir: string): string[] {
  if (args[0] !== 'kms' || args[1] !== 'encrypt') return [...args];
  const aad = path.join(dir, 'kms-aad');
  writeFileSync(aad, 'consent-vault/keyset/token');
  return args.map((arg) =>
    arg.startsWith('--additional-authenticated-data-file=')
      ? `--additional-authenticated-data-file=${aad}`
      : arg.startsWith('--ciphertext-file=')
        ? `--ciphertext-file=${path.join(dir, 'kms-ciphertext')}`
        : arg,
  );
}

function buildConfig() {
  return readBuildConfig(readFileSync(path.join(ROOT, 'cloudbuild.yaml'), 'utf8'));
}

/** `npm run deploy -- ARGS` of every cloudbuild.yaml step, substituted as Cloud Build would. */
function cloudBuildDeploys(): { step: string; args: string[] }[] {
  const config = buildConfig();
  const values = { ...config.substitutions, PROJECT_ID: PROJECT };
  return config.steps.flatMap((step) =>
    stepCommands(step, values)
      .filter(({ words }) => words.slice(0, 3).join(' ') === 'npm run deploy')
      .map(({ words, unmodelled }) => {
        if (unmodelled) throw new Error(`step ${step.id}: a deploy command this test cannot read`);
        return { step: step.id, args: words.slice(words.indexOf('--') + 1) };
      }),
  );
}

/** gcloud commands of the steps and of the file's usage notes (PROJECT_ID stands for P there). */
function cloudBuildGcloud(): Command[] {
  const config = buildConfig();
  const values = { ...config.substitutions, PROJECT_ID: PROJECT };
  const fromSteps = config.steps.flatMap((step) =>
    stepCommands(step, values).map((command) => ({
      source: `cloudbuild.yaml step ${step.id}`,
      command,
    })),
  );
  const fromHeader = config.header
    .filter((line) => /^\s*gcloud /.test(line))
    .flatMap((line) => shellCommands(line.replaceAll('PROJECT_ID', PROJECT)))
    .map((command) => ({ source: 'cloudbuild.yaml usage', command }));
  return [...fromSteps, ...fromHeader]
    .filter(({ command }) => command.words[0] === 'gcloud')
    .map(({ source, command }) => {
      if (command.unmodelled) throw new Error(`${source}: a gcloud command this test cannot read`);
      const args = command.words.slice(1);
      // `builds submit` would upload the repository: its arguments are checked, nothing more.
      return { source, args, stdin: false, parseOnly: args.join(' ').startsWith('builds submit') };
    });
}

/** Every string sent under `key`, anywhere in the JSON request bodies. */
function sentUnder(requests: readonly Captured[], key: string): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null)
      for (const [k, v] of Object.entries(value)) {
        if (k === key && typeof v === 'string') found.add(v);
        walk(v);
      }
  };
  for (const request of requests) if (request.body.startsWith('{')) walk(JSON.parse(request.body));
  return [...found].sort();
}

describe('the deploy against the real gcloud', () => {
  let gcloud: string;
  let version: string;
  let commands: Command[];
  // Open until the end: the deploy commands name its built folders (--source).
  let sandbox: Sandbox | undefined;

  beforeAll(async () => {
    gcloud = findGcloud();
    const box = await Sandbox.create();
    sandbox = box;
    let printed: Command[] = [];
    const collect = async (source: string, args: string[]): Promise<Command[]> => {
      box.clearLog();
      const result = await box.run(args);
      if (result.code !== 0) throw new Error(`deploy (${source}) failed: ${result.stderr}`);
      // The gcloud commands the summary prints for the operator (the Cross-Account Protection
      // admin account), checked as if they were pasted.
      if (printed.length === 0)
        printed = result.stdout
          .slice(result.stdout.indexOf('Manual steps left:'))
          .split('\n')
          .filter((line) => /^\s+gcloud /.test(line))
          .flatMap((line) => shellCommands(line))
          .map(({ words, unmodelled }) => {
            if (unmodelled) throw new Error(`${source}: a printed command this test cannot read`);
            // gcloud creates the key file even when it fails: in the sandbox, not the repository.
            const args = words
              .slice(1)
              .map((arg) => (arg === RISC_KEY_FILE ? path.join(box.dir, RISC_KEY_FILE) : arg));
            return { source: `${source}, summary`, args, stdin: false };
          });
      return box
        .log()
        .filter((entry) => entry.mutating && entry.tool === 'gcloud')
        .map((entry) => ({
          source,
          args: withFiles(entry.args, box.dir),
          stdin: entry.stdin !== '',
        }));
    };
    const secret = ['--client-secret-file', box.clientSecretFile];
    const empty = await collect('empty project', box.args(secret));
    const changed = drifted(box.state());
    box.setPayload(TOKEN_KEYSET, 2, generateKeysetJson('k1', 'token'));
    // The client secret's only version disabled by hand: the deploy adds one from the file.
    // (Not --rotate-client-secret: that adds a version on every pass and never converges.)
    const disabled = structuredClone(changed);
    for (const version of disabled.secrets['consent-vault-oauth-client-secret']?.versions ?? [])
      version.state = 'DISABLED';
    box.setState(disabled);
    const deployed = await collect(
      'deployed project',
      box.args([...secret, '--dpop-kms', '--alert-email', 'ops@example.com']),
    );
    // cloudbuild.yaml's deploy step on the same drifted project; the files it names exist only
    // in a build, so the sandbox's stand in for them.
    const local = box
      .args()
      .filter((arg) => /^--(env-file|dist|rules|indexes|rules-api)=/.test(arg));
    const fromBuild: Command[] = [];
    for (const { step, args } of cloudBuildDeploys()) {
      box.setState(changed);
      fromBuild.push(
        ...(await collect(`cloudbuild.yaml step ${step}`, [
          ...args.filter((arg) => !arg.startsWith('--env-file')),
          ...local,
        ])),
      );
    }
    const seen = new Set<string>();
    commands = [...empty, ...printed, ...deployed, ...fromBuild, ...cloudBuildGcloud()].filter(
      (command) => {
        const key = JSON.stringify(command.args);
        return !seen.has(key) && seen.add(key);
      },
    );
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    await sandbox?.close();
  });

  it("reads cloudbuild.yaml's deploy step as the deploy's own flags, substituted", () => {
    const { substitutions } = buildConfig();
    const deploys = cloudBuildDeploys();
    expect(deploys.map((d) => d.step)).toEqual(['deploy']);
    for (const { args } of deploys) {
      const parsed = parseArgs(args);
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      expect(parsed.options).toMatchObject({
        project: PROJECT,
        region: substitutions['_REGION'],
        envFile: substitutions['_ENV_FILE'],
        schedule: substitutions['_SCHEDULE'],
        timeZone: substitutions['_TIME_ZONE'],
      });
    }
  });

  it('has the commands a deployed, drifted project brings, beside those of an empty one', () => {
    for (const form of UPDATE_FORMS)
      expect(
        commands.some((c) => c.args.join(' ').startsWith(form)),
        form,
      ).toBe(true);
  });

  it('checks risc too: deployed public over HTTP, its API enabled, the printed admin commands', () => {
    const deploy = commands.find((c) => c.args.slice(0, 3).join(' ') === 'functions deploy risc');
    expect(deploy?.args).toEqual(
      expect.arrayContaining(['--trigger-http', '--allow-unauthenticated', '--entry-point=risc']),
    );
    expect(
      commands.some(
        (c) =>
          c.args.slice(0, 2).join(' ') === 'services enable' &&
          c.args.includes('risc.googleapis.com'),
      ),
    ).toBe(true);
    expect(
      commands
        .filter((c) => c.source.endsWith('summary'))
        .map((c) => c.args.filter((arg) => !arg.startsWith('--')).join(' ')),
    ).toEqual([
      'iam service-accounts create consent-vault-risc-admin',
      `projects add-iam-policy-binding ${PROJECT}`,
      `iam service-accounts keys create ${sandbox?.dir ?? ''}/${RISC_KEY_FILE}`,
    ]);
  });

  it(
    'gets every command past argument parsing: the only error is the missing account',
    async () => {
      const empty = await IsolatedGcloud.create(gcloud);
      try {
        version = (await empty.run(['--version'])).stdout.split('\n')[0] ?? '';
        console.log(`${version} (${gcloud}): checking ${commands.length} commands`);
        const outcomes = await mapLimited(commands, PARALLEL, (command) =>
          empty.run(command.args, {
            cwd: ROOT,
            ...(command.stdin ? { stdin: PLACEHOLDER_SECRET } : {}),
          }),
        );
        const failures = commands.flatMap((command, i) => {
          const outcome = outcomes[i] as Outcome;
          const only = outcome.stderr.trim().split('\n')[0] ?? '';
          return outcome.timedOut
            ? [`${show(command)}\n    timed out (waiting on the network?)`]
            : outcome.code === 0 ||
                !/^ERROR: \(gcloud\.[\w.-]+\) /.test(only) ||
                !only.endsWith(NO_ACCOUNT)
              ? [`${show(command)}\n    exit ${outcome.code}: ${errorOf(outcome.stderr)}`]
              : [];
        });
        expect(failures, `${version}:\n${failures.join('\n')}`).toEqual([]);
      } finally {
        empty.close();
      }
    },
    PASS_TIMEOUT,
  );

  describe(`with ${OTHER_PROJECT} as the configured default project`, () => {
    const captured = new Map<Command, Captured[]>();
    const outcomes = new Map<Command, Outcome>();

    beforeAll(async () => {
      const other = await IsolatedGcloud.create(gcloud, {
        defaultProject: OTHER_PROJECT,
        placeholderToken: true,
      });
      try {
        const shapes = oneOfEachShape(commands.filter((command) => !command.parseOnly));
        console.log(
          `default project ${OTHER_PROJECT}: ${shapes.length} commands, one of each shape`,
        );
        await mapLimited(shapes, PARALLEL, async (command) => {
          const standIn = await ApiStandIn.start(PROJECT_NUMBER);
          try {
            outcomes.set(
              command,
              await other.run(command.args, {
                cwd: ROOT,
                standIn: { url: standIn.url, apis: STAND_IN_APIS },
                ...(command.stdin ? { stdin: PLACEHOLDER_SECRET } : {}),
              }),
            );
            captured.set(command, standIn.requests);
          } finally {
            await standIn.close();
          }
        });
      } finally {
        other.close();
      }
    }, PASS_TIMEOUT);

    it('names project P in what every command sends, and never the default project', () => {
      const failures: string[] = [];
      for (const [command, requests] of captured) {
        const sent = requests.map((r) => `${r.method} ${r.url} ${r.body}`);
        const outcome = outcomes.get(command);
        if (outcome?.timedOut) failures.push(`${show(command)}\n    timed out`);
        else if (sent.length === 0)
          failures.push(`${show(command)}\n    sent nothing: ${errorOf(outcome?.stderr ?? '')}`);
        else if (sent.some((s) => s.includes(OTHER_PROJECT)))
          failures.push(
            `${show(command)}\n    names ${OTHER_PROJECT}: ${sent.filter((s) => s.includes(OTHER_PROJECT)).join('\n    ')}`,
          );
        else if (!sent.some((s) => s.includes(PROJECT)))
          failures.push(`${show(command)}\n    does not name ${PROJECT}: ${sent.join('\n    ')}`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
    });

    it("targets the Scheduler job at project P's tick topic", () => {
      const jobs = [...captured]
        .filter(([command]) => command.args[0] === 'scheduler')
        .flatMap(([command, requests]) =>
          requests
            .filter((r) => r.url.includes('/jobs'))
            .map((r) => [
              command.args[2],
              (JSON.parse(r.body) as { pubsubTarget?: { topicName?: string } }).pubsubTarget
                ?.topicName,
            ]),
        );
      expect(jobs).toEqual([
        ['create', TICK_TOPIC],
        ['update', TICK_TOPIC],
      ]);
    });

    it('resolves the topics and secrets of triggers, subscriptions and functions to P', () => {
      const all = [...captured.values()].flat();
      const topic = (id: string): string => `projects/${PROJECT}/topics/consent-vault-${id}`;
      expect(sentUnder(all, 'pubsubTopic')).toEqual([topic('tick'), topic('work')]);
      expect(sentUnder(all, 'topic')).toEqual([topic('dead-letter')]);
      expect(sentUnder(all, 'deadLetterTopic')).toEqual([topic('dead-letter')]);
      // Secret references go out with the number of the project gcloud resolved them in.
      expect(sentUnder(all, 'projectId')).toEqual([PROJECT_NUMBER]);
    });
  });
});
