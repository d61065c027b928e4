// Command-line flags of `npm run deploy`. Pure: argv in, options (or every problem at once) out,
// in the style of functions-framework-nodejs `parseOptions`: one validator per flag.
// Secret values are never flags: the client secret comes from a file or standard input.
import { MONITORING_DIR } from '../monitoring/definitions.ts';

/**
 * Where the DPoP key that binds new refresh tokens lives (RFC 9449, docs/deploy.md#dpop-keys):
 * 'secret' (the default) in Secret Manager; 'kms' in Cloud KMS (--dpop-kms, the strongest: its
 * private key never leaves Cloud KMS); 'off' nowhere (--no-dpop, the weaker choice).
 */
export type DpopMode = 'secret' | 'kms' | 'off';

export interface DeployOptions {
  readonly project: string;
  readonly region: string;
  readonly envFile: string;
  readonly dryRun: boolean;
  /** Dry run only: run no gcloud command at all, plan against an empty project. */
  readonly assumeEmpty: boolean;
  readonly skipBuild: boolean;
  /** Path of a file holding the OAuth client secret, or '-' for standard input. */
  readonly clientSecretFile: string | undefined;
  /** Add a new client-secret version from --client-secret-file even though the secret exists. */
  readonly rotateClientSecret: boolean;
  readonly schedule: string;
  readonly timeZone: string;
  readonly schedulerLocation: string;
  readonly firestoreLocation: string;
  /** Min instances of the browser-facing functions (authorize, callback). */
  readonly minInstances: number;
  /** The worker's --max-instances, over the one derived from the call budget (./fleet.ts). */
  readonly workerMaxInstances: number | undefined;
  readonly distDir: string;
  readonly rulesFile: string;
  readonly indexesFile: string;
  /** Root of the Firebase Rules REST API (overridable for tests and private endpoints). */
  readonly rulesApi: string;
  /** Wrap the token keyset with Cloud KMS (off only with --no-kms, the weaker choice). */
  readonly kms: boolean;
  /** Location of the key ring that holds the wrapping key. */
  readonly kmsLocation: string;
  /** Where new DPoP keys are made: a secret by default, Cloud KMS with --dpop-kms, none with --no-dpop. */
  readonly dpop: DpopMode;
  /** --dpop-kms-hsm: the DPoP key in Cloud KMS is created with protection level HSM. */
  readonly dpopKmsHsm: boolean;
  /** The log-based metrics, dashboard and alerting policies (infra/monitoring/definitions.ts). */
  readonly monitoringDir: string;
  /** Where the alerting policies notify: an email notification channel (none by default). */
  readonly alertEmail: string | undefined;
}

export type ParseResult =
  | { readonly ok: true; readonly options: DeployOptions }
  | { readonly ok: false; readonly help: boolean; readonly problems: readonly string[] };

export const USAGE = `Usage: npm run deploy -- --project PROJECT --region REGION [options]

  --project ID               Google Cloud project id (required)
  --region REGION            Cloud Run functions region, e.g. europe-west1 (required)
  --env-file PATH            function settings (default infra/deploy.env; see infra/deploy/deploy.example.env)
  --dry-run                  print every gcloud command; run only read-only describes
  --assume-empty             with --dry-run: run nothing at all, plan against an empty project
  --skip-build               deploy the existing dist/ without running \`npm run build\`
  --client-secret-file PATH  OAuth client secret when the secret is created ('-' = standard input)
  --rotate-client-secret     add a new client-secret version from --client-secret-file
  --schedule CRON            Cloud Scheduler schedule (default "0 3 * * *")
  --time-zone TZ             Cloud Scheduler time zone (default Etc/UTC)
  --scheduler-location LOC   Cloud Scheduler location (default: --region)
  --firestore-location LOC   location of a new Firestore database (default: --region)
  --min-instances N          min instances of authorize and callback (default 0)
  --worker-max-instances N   the worker's max instances (default: from GOOGLE_CALL_BUDGET, see docs/deploy.md)
  --dist DIR                 build output, one folder per function (default dist)
  --rules PATH               Firestore rules (default firestore.rules)
  --indexes PATH             Firestore indexes (default firestore.indexes.json)
  --rules-api URL            Firebase Rules API root (default https://firebaserules.googleapis.com)
  --kms-location LOC         location of the Cloud KMS key ring that wraps the token keyset (default: --region)
  --no-kms                   store the token keyset unwrapped (weaker: no Cloud KMS key guards it)
  --dpop-kms                 hold the DPoP key in Cloud KMS (strongest: its private key never leaves Cloud KMS)
  --dpop-kms-hsm             with --dpop-kms: create that key in an HSM (protection level hsm; costs more)
  --no-dpop                  create no DPoP keys (weaker: a stolen refresh token plus the token keyset refreshes)
  --monitoring DIR           log-based metrics, dashboard and alerting policies (default infra/monitoring)
  --alert-email ADDRESS      let the alerting policies notify this address (an email notification channel)
  --help                     this text
`;

const VALUE_FLAGS = [
  'project',
  'region',
  'env-file',
  'client-secret-file',
  'schedule',
  'time-zone',
  'scheduler-location',
  'firestore-location',
  'min-instances',
  'worker-max-instances',
  'dist',
  'rules',
  'indexes',
  'rules-api',
  'kms-location',
  'monitoring',
  'alert-email',
] as const;
const BOOLEAN_FLAGS = [
  'dry-run',
  'assume-empty',
  'skip-build',
  'rotate-client-secret',
  'no-kms',
  'no-dpop',
  'dpop-kms',
  'dpop-kms-hsm',
  'help',
] as const;

type ValueFlag = (typeof VALUE_FLAGS)[number];
type BooleanFlag = (typeof BOOLEAN_FLAGS)[number];

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const LOCATION = /^[a-z]+(-[a-z]+)*\d*$/;
const TIME_ZONE = /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+){0,2}$/;
/** Five cron fields (Cloud Scheduler uses unix-cron). */
const CRON = /^\S+( \S+){4}$/;
/** One address, nothing gcloud's KEY=VALUE lists would split (commas) or a shell would expand. */
const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

export function parseArgs(argv: readonly string[]): ParseResult {
  const problems: string[] = [];
  const values = new Map<ValueFlag, string>();
  const booleans = new Set<BooleanFlag>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      // Not echoed: a stray argument may be a secret typed in the wrong place.
      problems.push(`unexpected argument at position ${i + 1}`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if ((BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      if (eq !== -1) problems.push(`--${name} takes no value`);
      booleans.add(name as BooleanFlag);
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) {
      problems.push(
        name === 'client-secret'
          ? '--client-secret is not accepted: pass --client-secret-file PATH (or - for stdin)'
          : `unknown flag --${name}`,
      );
      // Its value, if any, goes with it (and is never echoed).
      if (eq === -1 && argv[i + 1] !== undefined && !argv[i + 1]?.startsWith('--')) i++;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (eq === -1 && value.startsWith('--'))) {
      problems.push(`--${name} needs a value`);
      if (value !== undefined) i--;
      continue;
    }
    if (values.has(name as ValueFlag)) problems.push(`--${name} is given twice`);
    values.set(name as ValueFlag, value);
  }

  if (booleans.has('help')) return { ok: false, help: true, problems: [] };

  const project = values.get('project');
  if (project === undefined) problems.push('--project is required');
  else if (!PROJECT_ID.test(project)) problems.push('--project is not a valid project id');
  const region = values.get('region');
  if (region === undefined) problems.push('--region is required');
  else if (!LOCATION.test(region)) problems.push('--region is not a valid region');

  const location = (flag: ValueFlag): string => {
    const value = values.get(flag) ?? region ?? '';
    if (values.has(flag) && !LOCATION.test(value))
      problems.push(`--${flag} is not a valid location`);
    return value;
  };

  const schedule = values.get('schedule') ?? '0 3 * * *';
  if (!CRON.test(schedule)) problems.push('--schedule must have five cron fields');
  const timeZone = values.get('time-zone') ?? 'Etc/UTC';
  if (!TIME_ZONE.test(timeZone)) problems.push('--time-zone must be a tz database name');

  const minText = values.get('min-instances') ?? '0';
  const minInstances = Number(minText);
  if (!/^\d+$/.test(minText) || minInstances > 10)
    problems.push('--min-instances must be a whole number from 0 to 10');

  const workerMaxText = values.get('worker-max-instances');
  const workerMaxInstances = workerMaxText === undefined ? undefined : Number(workerMaxText);
  // A bound against typos; what Cloud Run grants depends on the project's quotas
  // (https://cloud.google.com/run/docs/configuring/max-instances).
  if (
    workerMaxInstances !== undefined &&
    (!/^\d+$/.test(workerMaxText ?? '') || workerMaxInstances < 1 || workerMaxInstances > 1000)
  )
    problems.push('--worker-max-instances must be a whole number from 1 to 1000');

  const rulesApi = values.get('rules-api') ?? 'https://firebaserules.googleapis.com';
  if (!/^https?:\/\/[^\s/]+/.test(rulesApi)) problems.push('--rules-api must be an http(s) URL');

  const dryRun = booleans.has('dry-run');
  const assumeEmpty = booleans.has('assume-empty');
  if (assumeEmpty && !dryRun) problems.push('--assume-empty needs --dry-run');
  const clientSecretFile = values.get('client-secret-file');
  const rotateClientSecret = booleans.has('rotate-client-secret');
  if (rotateClientSecret && clientSecretFile === undefined)
    problems.push('--rotate-client-secret needs --client-secret-file');

  // --dpop-kms says where the DPoP key goes, --no-dpop that there is none. --no-kms may go with
  // --dpop-kms: it concerns the token keyset's wrap only, an independent protection.
  const dpopKms = booleans.has('dpop-kms');
  const noDpop = booleans.has('no-dpop');
  if (dpopKms && noDpop)
    problems.push('--dpop-kms and --no-dpop contradict each other: pass one of them');
  const dpopKmsHsm = booleans.has('dpop-kms-hsm');
  if (dpopKmsHsm && !dpopKms) problems.push('--dpop-kms-hsm needs --dpop-kms');
  const dpop: DpopMode = dpopKms ? 'kms' : noDpop ? 'off' : 'secret';

  const alertEmail = values.get('alert-email');
  if (alertEmail !== undefined && (!EMAIL.test(alertEmail) || alertEmail.length > 254))
    problems.push('--alert-email must be one email address');

  // Before the verdict: location() reports a malformed value as a problem.
  const schedulerLocation = location('scheduler-location');
  const firestoreLocation = location('firestore-location');
  const kmsLocation = location('kms-location');

  if (problems.length > 0) return { ok: false, help: false, problems };
  return {
    ok: true,
    options: {
      project: project ?? '',
      region: region ?? '',
      envFile: values.get('env-file') ?? 'infra/deploy.env',
      dryRun,
      assumeEmpty,
      skipBuild: booleans.has('skip-build'),
      clientSecretFile,
      rotateClientSecret,
      schedule,
      timeZone,
      schedulerLocation,
      firestoreLocation,
      minInstances,
      workerMaxInstances,
      distDir: values.get('dist') ?? 'dist',
      rulesFile: values.get('rules') ?? 'firestore.rules',
      indexesFile: values.get('indexes') ?? 'firestore.indexes.json',
      rulesApi: rulesApi.replace(/\/+$/, ''),
      kms: !booleans.has('no-kms'),
      kmsLocation,
      dpop,
      dpopKmsHsm,
      monitoringDir: values.get('monitoring') ?? MONITORING_DIR,
      alertEmail,
    },
  };
}
