// The deploy env file: the functions' non-secret settings (names from shared/settings/config.ts), one
// `KEY=VALUE` a line. Pure parsing; secrets are refused here so they can never reach
// `--set-env-vars` (an argument, visible in process lists and Cloud Audit Logs).

export interface EnvFile {
  readonly values: Readonly<Record<string, string>>;
  /** Keys not known to shared/settings/config.ts: passed through, but reported (likely typos). */
  readonly unknownKeys: readonly string[];
  readonly problems: readonly string[];
}

/** Settings of shared/settings/config.ts that an operator may set for the deployed functions. */
export const KNOWN_SETTINGS: readonly string[] = [
  'APP_NAME',
  'FIRESTORE_DATABASE',
  'OAUTH_CLIENT_ID',
  'REDIRECT_URI',
  'AUTHORIZE_URL',
  'REVOKE_URL',
  'SUCCESS_URL',
  'RETURN_TO_ALLOWLIST',
  'REVOKE_CALLERS',
  'JOBS',
  'GOOGLE_AUTH_URL',
  'GOOGLE_TOKEN_URL',
  'GOOGLE_REVOKE_URL',
  'GOOGLE_TOKENINFO_URL',
  'GOOGLE_CERTS_PEM_URL',
  'GOOGLE_CERTS_JWKS_URL',
  'GOOGLE_API_ROOT',
  'GOOGLE_ISSUERS',
  'TRANSACTION_TTL_SECONDS',
  'LOG_LEVEL',
  'TICK_TOPIC',
  'WORK_TOPIC',
  'EVENTS_TOPIC',
  'DEAD_LETTER_TOPIC',
  'RUN_INLINE',
  'RUN_BATCH_SIZE',
  'WORKER_CONCURRENCY',
  'RUN_PERIOD_SECONDS',
  'USER_BUDGET_SECONDS',
  'DRIVE_EXPORT_FOLDER',
];

/** Never in an env file: secrets go through Secret Manager, the rest is set by the deploy. */
const FORBIDDEN: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  {
    pattern: /^(OAUTH_CLIENT_SECRET|TOKEN_KEYSET)(_FILE|_VERSION)?$/,
    why: 'is a secret: the deploy stores it in Secret Manager and passes it with --set-secrets',
  },
  { pattern: /SECRET|PASSWORD|PRIVATE_KEY/, why: 'looks like a secret; env files hold no secrets' },
  { pattern: /_EMULATOR_HOST$/, why: 'points at an emulator; never set it on deployed functions' },
  { pattern: /^SECRET_MANAGER_ENDPOINT$/, why: 'is for local runs only' },
  { pattern: /^GOOGLE_CLOUD_PROJECT$/, why: 'is set by the deploy from --project' },
];

const KEY = /^[A-Z][A-Z0-9_]*$/;

export function parseEnvFile(text: string): EnvFile {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  const unknownKeys: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${index + 1}`;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      problems.push(`${where}: expected KEY=VALUE`);
      return;
    }
    const key = line
      .slice(0, eq)
      .replace(/^export\s+/, '')
      .trim();
    if (!KEY.test(key)) {
      problems.push(`${where}: "${key}" is not an environment variable name`);
      return;
    }
    const forbidden = FORBIDDEN.find((rule) => rule.pattern.test(key));
    if (forbidden) {
      // The value is deliberately not echoed: it may be the very secret we refuse.
      problems.push(`${where}: ${key} ${forbidden.why}`);
      return;
    }
    if (key in values) problems.push(`${where}: ${key} is set twice`);
    values[key] = unquote(line.slice(eq + 1).trim());
    if (!KNOWN_SETTINGS.includes(key)) unknownKeys.push(key);
  });
  return { values, unknownKeys, problems };
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote))
    return value.slice(1, -1);
  const comment = value.search(/\s#/);
  return comment === -1 ? value : value.slice(0, comment).trimEnd();
}
