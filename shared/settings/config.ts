// The one place that reads settings. `loadConfig(env)` is pure: it validates every setting once,
// collects every problem, and throws one ConfigError naming each bad or missing setting, so a
// misconfigured instance fails at start-up instead of on the first user.
// (Pattern: functions-framework-nodejs src/options.ts.) Every setting is documented in README.md.
import { ConfigError } from '../errors.ts';
import { Secret } from '../secrets/secret-value.ts';

/** Where a secret comes from. Never a literal in code, Firestore or logs. */
export type SecretSource =
  /** Filled by `gcloud functions deploy --set-secrets` before the instance starts (free at cold start). */
  | { readonly kind: 'value'; readonly setting: string; readonly value: Secret }
  /** A Secret Manager version resource, read once per instance with the Secret Manager client. */
  | { readonly kind: 'secret-manager'; readonly setting: string; readonly name: string }
  /** A local file (development only; generated and git-ignored). */
  | { readonly kind: 'file'; readonly setting: string; readonly path: string };

export interface GoogleEndpoints {
  readonly authUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl: string;
  readonly tokenInfoUrl: string;
  readonly certsPemUrl: string;
  readonly certsJwksUrl: string;
  /** Root for Google API clients (`@googleapis/*` `rootUrl`), ending in '/'. */
  readonly apiRoot: string;
  /** Accepted `iss` values of Google ID tokens. */
  readonly issuers: readonly string[];
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
  readonly tokenKeyset: SecretSource | undefined;
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

const GOOGLE_DEFAULTS = {
  GOOGLE_AUTH_URL: 'https://accounts.google.com/o/oauth2/v2/auth',
  GOOGLE_TOKEN_URL: 'https://oauth2.googleapis.com/token',
  GOOGLE_REVOKE_URL: 'https://oauth2.googleapis.com/revoke',
  GOOGLE_TOKENINFO_URL: 'https://oauth2.googleapis.com/tokeninfo',
  GOOGLE_CERTS_PEM_URL: 'https://www.googleapis.com/oauth2/v1/certs',
  GOOGLE_CERTS_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
  GOOGLE_API_ROOT: 'https://www.googleapis.com/',
  GOOGLE_ISSUERS: 'https://accounts.google.com,accounts.google.com',
} as const;

export const KNOWN_JOBS = ['drive-export'] as const;

type Env = Readonly<Record<string, string | undefined>>;

/** Which secrets this function needs; the others are not required (least privilege). */
export interface ConfigNeeds {
  readonly clientSecret?: boolean;
  readonly tokenKeyset?: boolean;
}

export function loadConfig(env: Env, needs: ConfigNeeds = {}): Config {
  const problems: string[] = [];
  const read = new SettingReader(env, problems);

  const redirectUri = read.url('REDIRECT_URI', { exact: true });
  const authorizeUrl = read.url('AUTHORIZE_URL');
  const revokeUrl = read.url('REVOKE_URL');
  const config: Config = {
    appName: read.text('APP_NAME', { fallback: 'consent-vault', max: 80 }),
    projectId: read.text('GOOGLE_CLOUD_PROJECT', { pattern: /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/ }),
    firestoreDatabase: read.text('FIRESTORE_DATABASE', {
      fallback: '(default)',
      pattern: /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/,
    }),
    firestoreEmulatorHost: read.optionalHostPort('FIRESTORE_EMULATOR_HOST'),
    pubsubEmulatorHost: read.optionalHostPort('PUBSUB_EMULATOR_HOST'),
    clientId: read.text('OAUTH_CLIENT_ID', { pattern: /^[\w.-]+$/ }),
    clientSecret: read.secret('OAUTH_CLIENT_SECRET', needs.clientSecret === true),
    tokenKeyset: read.secret('TOKEN_KEYSET', needs.tokenKeyset === true),
    secretManagerEndpoint: read.optionalUrl('SECRET_MANAGER_ENDPOINT'),
    redirectUri,
    authorizeUrl,
    revokeUrl,
    successUrl: read.url('SUCCESS_URL', {
      fallback: `${redirectUri.replace(/\/$/, '')}/connected`,
    }),
    returnToAllowList: read.urlList('RETURN_TO_ALLOWLIST'),
    revokeCallers: read.list('REVOKE_CALLERS', /^[^@\s]+@[^@\s]+\.[^@\s]+$/),
    jobs: read.jobs('JOBS'),
    google: {
      authUrl: read.url('GOOGLE_AUTH_URL', { fallback: GOOGLE_DEFAULTS.GOOGLE_AUTH_URL }),
      tokenUrl: read.url('GOOGLE_TOKEN_URL', { fallback: GOOGLE_DEFAULTS.GOOGLE_TOKEN_URL }),
      revokeUrl: read.url('GOOGLE_REVOKE_URL', { fallback: GOOGLE_DEFAULTS.GOOGLE_REVOKE_URL }),
      tokenInfoUrl: read.url('GOOGLE_TOKENINFO_URL', {
        fallback: GOOGLE_DEFAULTS.GOOGLE_TOKENINFO_URL,
      }),
      certsPemUrl: read.url('GOOGLE_CERTS_PEM_URL', {
        fallback: GOOGLE_DEFAULTS.GOOGLE_CERTS_PEM_URL,
      }),
      certsJwksUrl: read.url('GOOGLE_CERTS_JWKS_URL', {
        fallback: GOOGLE_DEFAULTS.GOOGLE_CERTS_JWKS_URL,
      }),
      apiRoot: withTrailingSlash(
        read.url('GOOGLE_API_ROOT', { fallback: GOOGLE_DEFAULTS.GOOGLE_API_ROOT }),
      ),
      issuers: read.list('GOOGLE_ISSUERS', /^\S+$/, GOOGLE_DEFAULTS.GOOGLE_ISSUERS),
    },
    transactionTtlSeconds: read.integer('TRANSACTION_TTL_SECONDS', 600, 60, 3600),
    logLevel: read.oneOf('LOG_LEVEL', ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const, 'INFO'),
    pubsub: {
      tickTopic: read.text('TICK_TOPIC', { fallback: 'consent-vault-tick', pattern: TOPIC }),
      workTopic: read.text('WORK_TOPIC', { fallback: 'consent-vault-work', pattern: TOPIC }),
      eventsTopic: read.text('EVENTS_TOPIC', { fallback: 'consent-vault-events', pattern: TOPIC }),
      deadLetterTopic: read.text('DEAD_LETTER_TOPIC', {
        fallback: 'consent-vault-dead-letter',
        pattern: TOPIC,
      }),
    },
    runs: {
      inline: read.boolean('RUN_INLINE', false),
      batchSize: read.integer('RUN_BATCH_SIZE', 100, 1, 500),
      workerConcurrency: read.integer('WORKER_CONCURRENCY', 16, 1, 256),
      periodSeconds: read.integer('RUN_PERIOD_SECONDS', 86400, 60, 31 * 86400),
      userBudgetSeconds: read.integer('USER_BUDGET_SECONDS', 120, 1, 3600),
      exportFolderName: read.text('DRIVE_EXPORT_FOLDER', {
        fallback: 'consent-vault exports',
        max: 200,
      }),
    },
  };

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

const TOPIC = /^[A-Za-z][\w.~+%-]{2,254}$/;

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

/** One validator per kind of setting; each records a problem instead of throwing. */
class SettingReader {
  private readonly env: Env;
  private readonly problems: string[];

  constructor(env: Env, problems: string[]) {
    this.env = env;
    this.problems = problems;
  }

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  private fail(name: string, why: string): void {
    this.problems.push(`${name}: ${why}`);
  }

  text(name: string, opts: { fallback?: string; pattern?: RegExp; max?: number } = {}): string {
    const value = this.raw(name) ?? opts.fallback;
    if (value === undefined) {
      this.fail(name, 'is required');
      return '';
    }
    if (opts.pattern && !opts.pattern.test(value)) this.fail(name, `is malformed`);
    if (opts.max !== undefined && value.length > opts.max)
      this.fail(name, `is longer than ${opts.max} characters`);
    return value;
  }

  /** An absolute URL; https unless it points at this machine (RFC 9700 §4.1.1 / Google's rule). */
  url(name: string, opts: { fallback?: string; exact?: boolean } = {}): string {
    const value = this.raw(name);
    // A fallback is not this setting's value: it is a constant, or derived from a setting that
    // reports its own problem (SUCCESS_URL from REDIRECT_URI), so it is not validated here.
    if (value === undefined && opts.fallback !== undefined) return opts.fallback;
    if (value === undefined) {
      this.fail(name, 'is required (an absolute URL)');
      return '';
    }
    return this.checkUrl(name, value);
  }

  optionalUrl(name: string): string | undefined {
    const value = this.raw(name);
    return value === undefined ? undefined : this.checkUrl(name, value);
  }

  private checkUrl(name: string, value: string): string {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      this.fail(name, `is not an absolute URL`);
      return value;
    }
    if (
      parsed.protocol !== 'https:' &&
      !(parsed.protocol === 'http:' && isLoopback(parsed.hostname))
    )
      this.fail(name, 'must use https (plain http is allowed only for localhost)');
    if (parsed.hash !== '') this.fail(name, 'must not contain a #fragment');
    return value;
  }

  urlList(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map((item) => this.checkUrl(name, item));
  }

  list(name: string, itemPattern: RegExp, fallback?: string): string[] {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) return [];
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    for (const item of items) if (!itemPattern.test(item)) this.fail(name, `has a malformed entry`);
    return items;
  }

  jobs(name: string): string[] {
    const items = this.list(name, /^[a-z][a-z0-9-]*$/, 'drive-export');
    for (const item of items)
      if (!(KNOWN_JOBS as readonly string[]).includes(item))
        this.fail(name, `names an unknown job "${item}" (known: ${KNOWN_JOBS.join(', ')})`);
    return items;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      this.fail(name, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    this.fail(name, 'must be true or false');
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.fail(name, `must be one of ${allowed.join(', ')}`);
    return fallback;
  }

  optionalHostPort(name: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && !/^[\w.-]+:\d{1,5}$/.test(value))
      this.fail(name, 'must be host:port');
    return value;
  }

  /**
   * A secret comes from exactly one of: NAME (value injected by --set-secrets), NAME_VERSION (a
   * Secret Manager resource `projects/P/secrets/S/versions/N`, pinned), NAME_FILE (local only).
   */
  secret(name: string, required: boolean): SecretSource | undefined {
    const value = this.raw(name);
    const version = this.raw(`${name}_VERSION`);
    const file = this.raw(`${name}_FILE`);
    const given = [value, version, file].filter((item) => item !== undefined).length;
    if (given > 1) {
      this.fail(name, `set only one of ${name}, ${name}_VERSION, ${name}_FILE`);
      return undefined;
    }
    if (value !== undefined) return { kind: 'value', setting: name, value: new Secret(value) };
    if (version !== undefined) {
      if (!/^projects\/[^/]+\/secrets\/[^/]+\/versions\/(\d+|latest)$/.test(version))
        this.fail(`${name}_VERSION`, 'must be projects/PROJECT/secrets/NAME/versions/NUMBER');
      return { kind: 'secret-manager', setting: `${name}_VERSION`, name: version };
    }
    if (file !== undefined) return { kind: 'file', setting: `${name}_FILE`, path: file };
    if (required) this.fail(name, `is required: set ${name}, ${name}_VERSION or ${name}_FILE`);
    return undefined;
  }
}
