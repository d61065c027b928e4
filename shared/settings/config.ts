// The one place that turns settings into a Config. `loadConfig(env, fn)` is pure: it parses every
// setting of the schema (./schema.ts) once, collects every problem, and throws one ConfigError
// naming each bad or missing setting, so a misconfigured instance fails at start-up instead of on
// the first user. Every setting is documented in docs/configuration.md, generated from the schema.
import { ConfigError } from '../errors.ts';
import { SCHEDULES } from '../jobs/define.ts';
import type { ApiRoots } from '../jobs/google-clients.ts';
import { jobManifest } from '../jobs/manifest.ts';
import type { FunctionName } from './functions.ts';
import { readSettings, type Env, type SecretSource } from './read.ts';
import { needsOf, type ConfigNeeds } from './secrets.ts';

export type { SecretSource } from './read.ts';
export type { ConfigNeeds } from './secrets.ts';

export interface GoogleEndpoints {
  readonly authUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl: string;
  readonly tokenInfoUrl: string;
  readonly certsPemUrl: string;
  readonly certsJwksUrl: string;
  /** Roots for Google API clients (`@googleapis/*` `rootUrl`), each ending in '/'. */
  readonly apiRoots: ApiRoots;
  /** Accepted `iss` values of Google ID tokens. */
  readonly issuers: readonly string[];
  /** Cross-Account Protection discovery document. */
  readonly riscConfigurationUrl: string;
}

export interface Config {
  readonly appName: string;
  readonly projectId: string;
  readonly firestoreDatabase: string;
  /** host:port of the Firestore emulator, when used. */
  readonly firestoreEmulatorHost: string | undefined;
  readonly pubsubEmulatorHost: string | undefined;
  readonly clientId: string;
  readonly clientSecret: SecretSource | undefined;
  /** One keyset per key purpose; a master TOKEN_KEYSET stands in for the others (local). */
  readonly tokenKeyset: SecretSource | undefined;
  readonly cookieKeyset: SecretSource | undefined;
  readonly linkKeyset: SecretSource | undefined;
  readonly connectKeyset: SecretSource | undefined;
  /** DPoP signing keys (opt-in): refresh tokens bound to them (shared/oauth/dpop.ts). */
  readonly dpopKeys: SecretSource | undefined;
  /** DPoP signing keys held in Cloud KMS (opt-in, the stronger choice), primary first. */
  readonly dpopKmsKeys: readonly string[];
  /** Cloud KMS endpoint (tests); Google's when undefined. */
  readonly kmsEndpoint: string | undefined;
  readonly secretManagerEndpoint: string | undefined;
  /** Exactly the redirect URI registered on the OAuth client (Google compares strings). */
  readonly redirectUri: string;
  /** Public URL of the authorize function (try-again links). */
  readonly authorizeUrl: string;
  /** Public URL of the revoke function (unsubscribe links; audience of server-to-server ID tokens). */
  readonly revokeUrl: string;
  /** Where a finished consent lands when no allow-listed return target was asked for. */
  readonly successUrl: string;
  /** Exact URLs a consent may return to (`return_to`); anything else is refused. */
  readonly returnToAllowList: readonly string[];
  /** Service-account emails allowed to call revoke server-to-server. */
  readonly revokeCallers: readonly string[];
  readonly jobs: readonly string[];
  /** Connect links (docs/jobs.md#connect-links). */
  readonly connect: {
    readonly required: boolean;
    readonly secondAccount: 'refuse' | 'replace';
  };
  readonly google: GoogleEndpoints;
  readonly transactionTtlSeconds: number;
  readonly logLevel: LogLevel;
  readonly pubsub: PubSubSettings;
  readonly runs: RunSettings;
}

export interface PubSubSettings {
  readonly tickTopic: string;
  readonly workTopic: string;
  readonly eventsTopic: string;
  readonly deadLetterTopic: string;
}

export interface RunSettings {
  /** Process batches inside the dispatcher (one function) instead of publishing them. */
  readonly inline: boolean;
  readonly batchSize: number;
  readonly workerConcurrency: number;
  /** Length of one run period in seconds (86400: daily); the run id derives from it. */
  readonly periodSeconds: number;
  /** Time budget per user inside one delivery, in seconds. */
  readonly userBudgetSeconds: number;
  readonly exportFolderName: string;
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

/**
 * `scope` is the deployed function this runs in (its secrets come from the schema), or, for
 * tools and tests that serve several roles, the needs themselves. Without it no secret is
 * required.
 */
export function loadConfig(env: Env, scope: FunctionName | ConfigNeeds = {}): Config {
  const needs = typeof scope === 'string' ? needsOf(scope) : scope;
  const required = new Set(
    Object.entries(needs)
      .filter(([, needed]) => needed === true)
      .map(([key]) => key),
  );
  const problems: string[] = [];
  const v = readSettings(env, required, problems);

  const config: Config = {
    appName: v.APP_NAME,
    projectId: v.GOOGLE_CLOUD_PROJECT,
    firestoreDatabase: v.FIRESTORE_DATABASE,
    firestoreEmulatorHost: v.FIRESTORE_EMULATOR_HOST,
    pubsubEmulatorHost: v.PUBSUB_EMULATOR_HOST,
    clientId: v.OAUTH_CLIENT_ID,
    clientSecret: v.OAUTH_CLIENT_SECRET,
    tokenKeyset: v.TOKEN_KEYSET,
    cookieKeyset: v.COOKIE_KEYSET,
    linkKeyset: v.LINK_KEYSET,
    connectKeyset: v.CONNECT_KEYSET,
    dpopKeys: v.DPOP_KEYS,
    dpopKmsKeys: v.DPOP_KMS_KEYS,
    kmsEndpoint: v.KMS_ENDPOINT,
    secretManagerEndpoint: v.SECRET_MANAGER_ENDPOINT,
    redirectUri: v.REDIRECT_URI,
    authorizeUrl: v.AUTHORIZE_URL,
    revokeUrl: v.REVOKE_URL,
    successUrl: v.SUCCESS_URL ?? `${v.REDIRECT_URI.replace(/\/$/, '')}/connected`,
    returnToAllowList: v.RETURN_TO_ALLOWLIST,
    revokeCallers: v.REVOKE_CALLERS,
    jobs: v.JOBS,
    connect: { required: v.CONNECT_LINK_REQUIRED, secondAccount: v.APP_USER_SECOND_ACCOUNT },
    google: {
      authUrl: v.GOOGLE_AUTH_URL,
      tokenUrl: v.GOOGLE_TOKEN_URL,
      revokeUrl: v.GOOGLE_REVOKE_URL,
      tokenInfoUrl: v.GOOGLE_TOKENINFO_URL,
      certsPemUrl: v.GOOGLE_CERTS_PEM_URL,
      certsJwksUrl: v.GOOGLE_CERTS_JWKS_URL,
      apiRoots: {
        all: v.GOOGLE_API_ROOT === undefined ? undefined : withTrailingSlash(v.GOOGLE_API_ROOT),
        byApi: apiRootsByName(v.GOOGLE_API_ROOTS, problems),
      },
      issuers: v.GOOGLE_ISSUERS,
      riscConfigurationUrl: v.RISC_CONFIGURATION_URL,
    },
    transactionTtlSeconds: v.TRANSACTION_TTL_SECONDS,
    logLevel: v.LOG_LEVEL,
    pubsub: {
      tickTopic: v.TICK_TOPIC,
      workTopic: v.WORK_TOPIC,
      eventsTopic: v.EVENTS_TOPIC,
      deadLetterTopic: v.DEAD_LETTER_TOPIC,
    },
    runs: {
      inline: v.RUN_INLINE,
      batchSize: v.RUN_BATCH_SIZE,
      workerConcurrency: v.WORKER_CONCURRENCY,
      periodSeconds: v.RUN_PERIOD_SECONDS,
      userBudgetSeconds: v.USER_BUDGET_SECONDS,
      exportFolderName: v.DRIVE_EXPORT_FOLDER,
    },
  };

  checkJobs(config, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Every job JOBS names exists in this build, and runs on a whole number of run periods. */
function checkJobs(config: Config, problems: string[]): void {
  if (problems.some((problem) => problem.startsWith('JOBS:'))) return;
  const known = jobManifest().jobs;
  for (const name of config.jobs) {
    const job = known.find((candidate) => candidate.name === name);
    if (job === undefined) {
      problems.push(
        `JOBS: names an unknown job "${name}" (known: ${known.map((each) => each.name).join(', ')})`,
      );
      continue;
    }
    const seconds = SCHEDULES[job.schedule];
    if (seconds % config.runs.periodSeconds !== 0)
      problems.push(
        `RUN_PERIOD_SECONDS: ${config.runs.periodSeconds} must divide job "${name}"'s ${job.schedule} schedule (${seconds} s)`,
      );
  }
}

function apiRootsByName(entries: readonly string[], problems: string[]): Record<string, string> {
  const roots: Record<string, string> = {};
  for (const entry of entries) {
    const [api = '', url = ''] = entry.split(/=(.*)/s);
    const parsed = URL.parse(url);
    const local = parsed !== null && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
    if (parsed === null || (parsed.protocol !== 'https:' && !local))
      problems.push(`GOOGLE_API_ROOTS: the root of "${api}" must be an https URL`);
    else roots[api] = withTrailingSlash(url);
  }
  return roots;
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
