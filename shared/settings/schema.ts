// The one declaration of every setting: its environment name, kind, default and bounds, who sets
// it, which deployed functions need it, and its doc line. Everything else is derived from this
// table: loadConfig's parsing (./read.ts), the secrets each function requires and is deployed
// with (./secrets.ts, infra/deploy/resources.ts), the deploy env file's checks
// (infra/deploy/env-file.ts), docs/configuration.md and infra/deploy/deploy.example.env
// (`npm run docs:settings`). Patterns: functions-framework-nodejs src/options.ts (a table of
// ConfigurableOptions, parsing derived from it) and firebase/extensions' extension.yaml params.
import type { FunctionName } from './functions.ts';

/** Who gives a setting its value on a deployed function. */
export type SetBy =
  /** The operator, in the deploy env file; the deploy sets it on every function. */
  | 'operator'
  /** The deploy itself (from its flags, or through --set-secrets); refused in the env file. */
  | 'deploy'
  /** Local runs and tests only (emulators, a local Secret Manager); refused in the env file. */
  | 'local';

/** Sections of docs/configuration.md and of deploy.example.env, in this order. */
export const SETTING_GROUPS = [
  'project',
  'urls',
  'app',
  'runs',
  'topics',
  'google',
  'local',
] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

export type SettingKind =
  | { readonly kind: 'text'; readonly pattern?: RegExp; readonly maxLength?: number }
  /** An absolute URL without a #fragment; https unless it points at this machine. */
  | { readonly kind: 'url' }
  /** Comma-separated URLs, each checked like a url. */
  | { readonly kind: 'url-list' }
  /** Comma-separated items matching `item`; `known` limits them to a closed set. */
  | {
      readonly kind: 'list';
      readonly item: RegExp;
      readonly known?: { readonly noun: string; readonly values: readonly string[] };
    }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'one-of'; readonly values: readonly string[] }
  | { readonly kind: 'host-port' }
  /**
   * Read from exactly one of NAME (filled by --set-secrets), NAME_VERSION (a pinned Secret Manager
   * version, read once per instance) or NAME_FILE (local only). `key` names it in Config and in
   * the functions' needs; `secretId` is the Secret Manager secret the deploy creates.
   */
  | { readonly kind: 'secret'; readonly key: string; readonly secretId: string };

interface SettingFacts {
  /** The environment variable. */
  readonly name: string;
  readonly group: SettingGroup;
  /** One line: docs/configuration.md and deploy.example.env print it. */
  readonly doc: string;
  readonly setBy: SetBy;
  /**
   * The deployed functions that use it. For a secret: the functions that require it at start-up
   * and are deployed with it, nothing else (least privilege). Every other setting is validated by
   * every function, since the deploy sets one environment on all of them.
   */
  readonly functions: readonly FunctionName[];
  /** Unset is a problem (for a secret: in the functions listed). */
  readonly required?: true;
  /** The value when unset, written as in the environment. */
  readonly default?: string;
  /** How loadConfig computes the value when unset (documentation; the code is in ./config.ts). */
  readonly derivedDefault?: string;
  /** What the deploy sets when the env file leaves it unset. */
  readonly deployDefault?: string;
  /** A sample value for deploy.example.env, when the default is not the thing to show. */
  readonly example?: string;
}

export type SettingSpec = SettingFacts & SettingKind;

export const KNOWN_JOBS = ['drive-export'] as const;

const ALL: readonly FunctionName[] = ['authorize', 'callback', 'revoke', 'dispatcher', 'worker'];
/** Functions that talk to Firestore and Pub/Sub. */
const STORING: readonly FunctionName[] = ['callback', 'revoke', 'dispatcher', 'worker'];
const RUNNERS: readonly FunctionName[] = ['dispatcher', 'worker'];
const TOPIC = /^[A-Za-z][\w.~+%-]{2,254}$/;

const SETTINGS = [
  // project: where it runs, the OAuth client, the two secrets
  {
    name: 'GOOGLE_CLOUD_PROJECT',
    group: 'project',
    doc: 'Project id (Firestore, Pub/Sub).',
    kind: 'text',
    pattern: /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/,
    required: true,
    setBy: 'deploy',
    deployDefault: 'the value of --project',
    functions: STORING,
  },
  {
    name: 'FIRESTORE_DATABASE',
    group: 'project',
    doc: 'Firestore database id; the deploy creates it in native mode when missing.',
    kind: 'text',
    pattern: /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/,
    default: '(default)',
    setBy: 'operator',
    functions: STORING,
  },
  {
    name: 'OAUTH_CLIENT_ID',
    group: 'project',
    doc: 'The OAuth 2.0 client, type Web application (APIs & Services > Credentials).',
    kind: 'text',
    pattern: /^[\w.-]+$/,
    required: true,
    example: '123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'dispatcher', 'worker'],
  },
  {
    name: 'OAUTH_CLIENT_SECRET',
    group: 'project',
    doc: 'The OAuth client secret: only the functions that exchange or refresh tokens hold it.',
    kind: 'secret',
    key: 'clientSecret',
    secretId: 'consent-vault-oauth-client-secret',
    required: true,
    setBy: 'deploy',
    functions: ['callback', 'dispatcher', 'worker'],
  },
  {
    name: 'TOKEN_KEYSET',
    group: 'project',
    doc: 'The token keyset (AES-256-GCM keys by id, one primary); authorize accepts only the value.',
    kind: 'secret',
    key: 'tokenKeyset',
    secretId: 'consent-vault-token-keyset',
    required: true,
    setBy: 'deploy',
    functions: ALL,
  },

  // urls: the public URLs of the functions and who may call revoke
  {
    name: 'REDIRECT_URI',
    group: 'urls',
    doc: 'The callback URL, exactly as registered on the OAuth client (Google compares strings).',
    kind: 'url',
    required: true,
    deployDefault: "the callback function's own URL",
    example: 'https://auth.example.com/callback',
    setBy: 'operator',
    functions: ['authorize', 'callback'],
  },
  {
    name: 'AUTHORIZE_URL',
    group: 'urls',
    doc: 'Public URL of authorize ("Try again" links).',
    kind: 'url',
    required: true,
    deployDefault: "the authorize function's own URL",
    example: 'https://auth.example.com/authorize',
    setBy: 'operator',
    functions: ['callback'],
  },
  {
    name: 'REVOKE_URL',
    group: 'urls',
    doc: 'Public URL of revoke (unsubscribe links; the audience of server-to-server ID tokens).',
    kind: 'url',
    required: true,
    deployDefault: "the revoke function's own URL",
    example: 'https://auth.example.com/revoke',
    setBy: 'operator',
    functions: ['revoke'],
  },
  {
    name: 'SUCCESS_URL',
    group: 'urls',
    doc: 'Where a finished consent lands when no allow-listed return target was asked for.',
    kind: 'url',
    derivedDefault: '`REDIRECT_URI` + `/connected` (a page served by callback)',
    example: 'https://app.example.com/connected',
    setBy: 'operator',
    functions: ['callback'],
  },
  {
    name: 'RETURN_TO_ALLOWLIST',
    group: 'urls',
    doc: 'Comma-separated exact URLs that `authorize?return_to=` may name; anything else is refused.',
    kind: 'url-list',
    example: 'https://app.example.com/settings,https://app.example.com/welcome',
    setBy: 'operator',
    functions: ['authorize'],
  },
  {
    name: 'REVOKE_CALLERS',
    group: 'urls',
    doc: "Comma-separated service-account emails allowed to call revoke's API (Google-signed ID tokens).",
    kind: 'list',
    item: /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
    example: 'backend@my-project.iam.gserviceaccount.com',
    setBy: 'operator',
    functions: ['revoke'],
  },

  // app: what users see and what runs for them
  {
    name: 'APP_NAME',
    group: 'app',
    doc: 'Shown on every page.',
    kind: 'text',
    maxLength: 80,
    default: 'consent-vault',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'revoke'],
  },
  {
    name: 'JOBS',
    group: 'app',
    doc: 'Comma-separated jobs run for every connected user; their scopes are requested at consent.',
    kind: 'list',
    item: /^[a-z][a-z0-9-]*$/,
    known: { noun: 'job', values: KNOWN_JOBS },
    default: 'drive-export',
    setBy: 'operator',
    functions: ['authorize', 'callback', 'dispatcher', 'worker'],
  },
  {
    name: 'TRANSACTION_TTL_SECONDS',
    group: 'app',
    doc: 'Lifetime of a consent transaction (the sealed cookie from authorize to callback), in seconds.',
    kind: 'integer',
    min: 60,
    max: 3600,
    default: '600',
    setBy: 'operator',
    functions: ['authorize', 'callback'],
  },
  {
    name: 'LOG_LEVEL',
    group: 'app',
    doc: 'Lowest severity written to the log.',
    kind: 'one-of',
    values: ['DEBUG', 'INFO', 'WARNING', 'ERROR'],
    default: 'INFO',
    setBy: 'operator',
    functions: ALL,
  },

  // runs: the scheduled offline runs
  {
    name: 'RUN_INLINE',
    group: 'runs',
    doc: 'Process batches inside the dispatcher instead of publishing them (one function, small deployments).',
    kind: 'boolean',
    default: 'false',
    setBy: 'operator',
    functions: ['dispatcher'],
  },
  {
    name: 'RUN_BATCH_SIZE',
    group: 'runs',
    doc: 'Users per work message (the dispatcher pages through connections this many at a time).',
    kind: 'integer',
    min: 1,
    max: 500,
    default: '100',
    setBy: 'operator',
    functions: ['dispatcher'],
  },
  {
    name: 'WORKER_CONCURRENCY',
    group: 'runs',
    doc: 'Users calling Google at once per worker instance, across all its batches.',
    kind: 'integer',
    min: 1,
    max: 256,
    default: '16',
    setBy: 'operator',
    functions: RUNNERS,
  },
  {
    name: 'RUN_PERIOD_SECONDS',
    group: 'runs',
    doc: 'The schedule period; the run id derives from it and the tick time (86400: daily).',
    kind: 'integer',
    min: 60,
    max: 31 * 86400,
    default: '86400',
    setBy: 'operator',
    functions: ['dispatcher'],
  },
  {
    name: 'USER_BUDGET_SECONDS',
    group: 'runs',
    doc: 'Time budget per user per delivery, retries included; then Pub/Sub redelivers.',
    kind: 'integer',
    min: 1,
    max: 3600,
    default: '120',
    setBy: 'operator',
    functions: RUNNERS,
  },
  {
    name: 'DRIVE_EXPORT_FOLDER',
    group: 'runs',
    doc: 'Drive folder the `drive-export` job writes into (created on the first run).',
    kind: 'text',
    maxLength: 200,
    default: 'consent-vault exports',
    setBy: 'operator',
    functions: RUNNERS,
  },

  // topics: Pub/Sub topic names; the deploy creates these topics
  {
    name: 'TICK_TOPIC',
    group: 'topics',
    doc: "Topic Cloud Scheduler publishes to; the dispatcher's trigger.",
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-tick',
    setBy: 'operator',
    functions: [],
  },
  {
    name: 'WORK_TOPIC',
    group: 'topics',
    doc: "Batches of users, published by the dispatcher; the worker's trigger.",
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-work',
    setBy: 'operator',
    functions: ['dispatcher'],
  },
  {
    name: 'EVENTS_TOPIC',
    group: 'topics',
    doc: 'Connection events for your app (connected, needs-reconnect, revoked, export-failed, run-halted).',
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-events',
    setBy: 'operator',
    functions: STORING,
  },
  {
    name: 'DEAD_LETTER_TOPIC',
    group: 'topics',
    doc: 'Poison work and tick messages, after 5 delivery attempts.',
    kind: 'text',
    pattern: TOPIC,
    default: 'consent-vault-dead-letter',
    setBy: 'operator',
    functions: [],
  },

  // google: Google's endpoints (locally, the Google stand-in's)
  {
    name: 'GOOGLE_AUTH_URL',
    group: 'google',
    doc: 'Consent page.',
    kind: 'url',
    default: 'https://accounts.google.com/o/oauth2/v2/auth',
    setBy: 'operator',
    functions: ['authorize', 'callback'],
  },
  {
    name: 'GOOGLE_TOKEN_URL',
    group: 'google',
    doc: 'Token endpoint (code exchange, refresh).',
    kind: 'url',
    default: 'https://oauth2.googleapis.com/token',
    setBy: 'operator',
    functions: ['callback', 'dispatcher', 'worker'],
  },
  {
    name: 'GOOGLE_REVOKE_URL',
    group: 'google',
    doc: 'Revocation endpoint.',
    kind: 'url',
    default: 'https://oauth2.googleapis.com/revoke',
    setBy: 'operator',
    functions: ['revoke', 'dispatcher', 'worker'],
  },
  {
    name: 'GOOGLE_TOKENINFO_URL',
    group: 'google',
    doc: 'Tokeninfo endpoint.',
    kind: 'url',
    default: 'https://oauth2.googleapis.com/tokeninfo',
    setBy: 'operator',
    functions: STORING,
  },
  {
    name: 'GOOGLE_CERTS_PEM_URL',
    group: 'google',
    doc: 'ID-token certificates (PEM).',
    kind: 'url',
    default: 'https://www.googleapis.com/oauth2/v1/certs',
    setBy: 'operator',
    functions: ['callback', 'revoke'],
  },
  {
    name: 'GOOGLE_CERTS_JWKS_URL',
    group: 'google',
    doc: 'ID-token certificates (JWKS).',
    kind: 'url',
    default: 'https://www.googleapis.com/oauth2/v3/certs',
    setBy: 'operator',
    functions: ['callback', 'revoke'],
  },
  {
    name: 'GOOGLE_API_ROOT',
    group: 'google',
    doc: 'Root URL of the Google API clients (Drive); a trailing / is added when missing.',
    kind: 'url',
    default: 'https://www.googleapis.com/',
    setBy: 'operator',
    functions: RUNNERS,
  },
  {
    name: 'GOOGLE_ISSUERS',
    group: 'google',
    doc: 'Comma-separated accepted ID-token issuers (`iss`).',
    kind: 'list',
    item: /^\S+$/,
    default: 'https://accounts.google.com,accounts.google.com',
    setBy: 'operator',
    functions: ['callback', 'revoke'],
  },

  // local: never on a deployed function
  {
    name: 'FIRESTORE_EMULATOR_HOST',
    group: 'local',
    doc: 'host:port of the Firestore emulator.',
    kind: 'host-port',
    setBy: 'local',
    functions: STORING,
  },
  {
    name: 'PUBSUB_EMULATOR_HOST',
    group: 'local',
    doc: 'host:port of the Pub/Sub emulator.',
    kind: 'host-port',
    setBy: 'local',
    functions: STORING,
  },
  {
    name: 'SECRET_MANAGER_ENDPOINT',
    group: 'local',
    doc: 'Secret Manager API endpoint (tests point it at a local server); Google when unset.',
    kind: 'url',
    setBy: 'local',
    functions: STORING,
  },
] as const satisfies readonly SettingSpec[];

/** The table as its declared type, for code that walks every setting. */
export const SETTING_SPECS: readonly SettingSpec[] = SETTINGS;

/** One entry with its literal types, from which ./read.ts derives each setting's value type. */
export type SettingEntry = (typeof SETTINGS)[number];

/** The environment variables a setting is read from: a secret has three sources, see above. */
export function variablesOf(spec: SettingSpec): readonly string[] {
  return spec.kind === 'secret'
    ? [spec.name, `${spec.name}_VERSION`, `${spec.name}_FILE`]
    : [spec.name];
}
