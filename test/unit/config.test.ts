// loadConfig table tests: every setting's missing or malformed value is reported with the
// setting's name, all problems at once, and plain http only for this machine.
import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigNeeds } from '../../shared/settings/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';

const BASE: Readonly<Record<string, string>> = {
  GOOGLE_CLOUD_PROJECT: 'demo-consent-vault',
  OAUTH_CLIENT_ID: '1234-abc.apps.googleusercontent.com',
  REDIRECT_URI: 'https://cv.example.com/callback',
  AUTHORIZE_URL: 'https://cv.example.com/authorize',
  REVOKE_URL: 'https://cv.example.com/revoke',
};

function problemsOf(
  env: Record<string, string | undefined>,
  needs: ConfigNeeds | FunctionName = {},
): string[] {
  try {
    loadConfig(env, needs);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('config_invalid');
    for (const problem of configError.problems) expect(configError.message).toContain(problem);
    return [...configError.problems];
  }
  return [];
}

describe('loadConfig', () => {
  it('accepts the minimal valid environment and fills the defaults', () => {
    const config = loadConfig(BASE);
    expect(config.successUrl).toBe('https://cv.example.com/callback/connected');
    expect(config.jobs).toEqual(['drive-export']);
    expect(config.google.authUrl).toBe('https://accounts.google.com/o/oauth2/v2/auth');
    expect(config.google.apiRoots).toEqual({ all: undefined, byApi: {} });
    expect(config.google.issuers).toEqual(['https://accounts.google.com', 'accounts.google.com']);
    expect(config.transactionTtlSeconds).toBe(600);
    expect(config.logLevel).toBe('INFO');
    expect(config.clientSecret).toBeUndefined();
    expect(config.tokenKeyset).toBeUndefined();
    expect(config.returnToAllowList).toEqual([]);
  });

  const required = [
    'GOOGLE_CLOUD_PROJECT',
    'OAUTH_CLIENT_ID',
    'REDIRECT_URI',
    'AUTHORIZE_URL',
    'REVOKE_URL',
  ];
  it.each(required)('names %s when it is missing or blank', (name) => {
    for (const value of [undefined, '', '   ']) {
      const problems = problemsOf({ ...BASE, [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^${name}: is required`));
    }
  });

  it.each([
    ['OAUTH_CLIENT_SECRET', { clientSecret: true }],
    ['TOKEN_KEYSET', { tokenKeyset: true }],
  ] as const)('names %s when the function needs it and no source is set', (name, needs) => {
    expect(problemsOf(BASE, needs)).toEqual([
      `${name}: is required: set ${name}, ${name}_VERSION or ${name}_FILE`,
    ]);
    expect(problemsOf(BASE)).toEqual([]);
  });

  it.each([
    ['authorize', ['COOKIE_KEYSET', 'CONNECT_KEYSET']],
    ['callback', ['OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET', 'COOKIE_KEYSET']],
    ['revoke', ['TOKEN_KEYSET', 'LINK_KEYSET', 'CONNECT_KEYSET']],
    ['dispatcher', ['OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET']],
    ['worker', ['OAUTH_CLIENT_SECRET', 'TOKEN_KEYSET']],
  ] as const)('in %s, requires the secrets the schema gives that function', (fn, secrets) => {
    expect(problemsOf(BASE, fn).map((problem) => problem.split(':')[0])).toEqual(secrets);
    const given = Object.fromEntries(secrets.map((name) => [`${name}_FILE`, `.local/${name}`]));
    expect(problemsOf({ ...BASE, ...given }, fn)).toEqual([]);
  });

  it('takes a master TOKEN_KEYSET in place of every purpose keyset (one local file)', () => {
    expect(problemsOf({ ...BASE, TOKEN_KEYSET_FILE: '.local/k' }, 'authorize')).toEqual([]);
    expect(problemsOf({ ...BASE, TOKEN_KEYSET_FILE: '.local/k' }, 'revoke')).toEqual([]);
  });

  // [setting, bad value, what the message says]
  const malformed: Array<[string, string, string]> = [
    ['GOOGLE_CLOUD_PROJECT', 'Bad_Project', 'is malformed'],
    ['GOOGLE_CLOUD_PROJECT', 'abc', 'is malformed'],
    ['OAUTH_CLIENT_ID', 'has space', 'is malformed'],
    ['APP_NAME', 'x'.repeat(81), 'is longer than 80 characters'],
    ['REDIRECT_URI', 'not a url', 'is not an absolute URL'],
    ['REDIRECT_URI', 'http://cv.example.com/callback', 'must use https'],
    ['REDIRECT_URI', 'https://cv.example.com/callback#x', 'must not contain a #fragment'],
    ['AUTHORIZE_URL', '/authorize', 'is not an absolute URL'],
    ['REVOKE_URL', 'http://cv.example.com/revoke', 'must use https'],
    ['SUCCESS_URL', 'ftp://cv.example.com/done', 'must use https'],
    ['SECRET_MANAGER_ENDPOINT', 'http://secretmanager.example', 'must use https'],
    ['RETURN_TO_ALLOWLIST', 'https://ok.example/a, http://evil.example/b', 'must use https'],
    ['RETURN_TO_ALLOWLIST', 'https://ok.example/a,nope', 'is not an absolute URL'],
    ['REVOKE_CALLERS', 'not-an-email', 'has a malformed entry'],
    ['JOBS', 'drive-export,mail-digest', 'names an unknown job "mail-digest"'],
    ['JOBS', 'Drive Export', 'has a malformed entry'],
    ['GOOGLE_AUTH_URL', 'http://accounts.example/auth', 'must use https'],
    ['GOOGLE_TOKEN_URL', 'token', 'is not an absolute URL'],
    ['GOOGLE_REVOKE_URL', 'http://revoke.example/', 'must use https'],
    ['GOOGLE_TOKENINFO_URL', 'http://x.example/', 'must use https'],
    ['GOOGLE_CERTS_PEM_URL', 'http://x.example/', 'must use https'],
    ['GOOGLE_CERTS_JWKS_URL', 'http://x.example/', 'must use https'],
    ['GOOGLE_API_ROOT', 'http://x.example/', 'must use https'],
    ['GOOGLE_ISSUERS', 'https://accounts.google.com, a b', 'has a malformed entry'],
    ['TRANSACTION_TTL_SECONDS', '59', 'must be a whole number from 60 to 3600'],
    ['TRANSACTION_TTL_SECONDS', '3601', 'must be a whole number from 60 to 3600'],
    ['TRANSACTION_TTL_SECONDS', '1e3', 'must be a whole number from 60 to 3600'],
    ['TRANSACTION_TTL_SECONDS', '-60', 'must be a whole number from 60 to 3600'],
    ['LOG_LEVEL', 'TRACE', 'must be one of DEBUG, INFO, WARNING, ERROR'],
    ['LOG_LEVEL', 'info', 'must be one of DEBUG, INFO, WARNING, ERROR'],
    ['TICK_TOPIC', 'x', 'is malformed'],
    ['WORK_TOPIC', '1abc', 'is malformed'],
    ['EVENTS_TOPIC', 'has space', 'is malformed'],
    ['DEAD_LETTER_TOPIC', 'dead!letter', 'is malformed'],
    ['RUN_INLINE', 'yes', 'must be true or false'],
    ['RUN_BATCH_SIZE', '0', 'must be a whole number from 1 to 500'],
    ['RUN_BATCH_SIZE', '501', 'must be a whole number from 1 to 500'],
    ['WORKER_CONCURRENCY', '257', 'must be a whole number from 1 to 256'],
    ['RUN_PERIOD_SECONDS', '59', 'must be a whole number from 60 to 2678400'],
    ['USER_BUDGET_SECONDS', '1.5', 'must be a whole number from 1 to 3600'],
    ['DRIVE_EXPORT_FOLDER', 'x'.repeat(201), 'is longer than 200 characters'],
    ['FIRESTORE_EMULATOR_HOST', 'localhost', 'must be host:port'],
    ['PUBSUB_EMULATOR_HOST', 'http://localhost:8085', 'must be host:port'],
    [
      'TOKEN_KEYSET_VERSION',
      'projects/p/secrets/s',
      'must be projects/PROJECT/secrets/NAME/versions/NUMBER',
    ],
    [
      'OAUTH_CLIENT_SECRET_VERSION',
      'projects/p/secrets/s/versions/-1',
      'must be projects/PROJECT/secrets/NAME/versions/NUMBER',
    ],
  ];
  it.each(malformed)('names %s=%j: "%s"', (name, value, message) => {
    const problems = problemsOf({ ...BASE, [name]: value });
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem.startsWith(`${name}: `), problem).toBe(true);
    expect(problems.some((problem) => problem.includes(message))).toBe(true);
  });

  it('refuses two sources for one secret, naming the secret', () => {
    expect(
      problemsOf({ ...BASE, OAUTH_CLIENT_SECRET: 'GOCSPX-x', OAUTH_CLIENT_SECRET_FILE: '/tmp/s' }),
    ).toEqual([
      'OAUTH_CLIENT_SECRET: set only one of OAUTH_CLIENT_SECRET, OAUTH_CLIENT_SECRET_VERSION, OAUTH_CLIENT_SECRET_FILE',
    ]);
  });

  it('never echoes a secret value in a problem', () => {
    const secret = 'GOCSPX-very-secret-value-123';
    const problems = problemsOf({
      ...BASE,
      OAUTH_CLIENT_SECRET: secret,
      OAUTH_CLIENT_SECRET_VERSION: `projects/p/secrets/${secret}`,
    });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).not.toContain(secret);
    expect(JSON.stringify(loadConfig({ ...BASE, OAUTH_CLIENT_SECRET: secret }))).not.toContain(
      secret,
    );
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      {
        OAUTH_CLIENT_ID: 'bad id',
        REDIRECT_URI: 'https://cv.example.com/callback',
        AUTHORIZE_URL: 'http://cv.example.com/authorize',
        REVOKE_URL: 'https://cv.example.com/revoke',
        LOG_LEVEL: 'LOUD',
        RUN_BATCH_SIZE: 'many',
        JOBS: 'nope',
      },
      { tokenKeyset: true },
    );
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'AUTHORIZE_URL',
      'GOOGLE_CLOUD_PROJECT',
      'JOBS',
      'LOG_LEVEL',
      'OAUTH_CLIENT_ID',
      'RUN_BATCH_SIZE',
      'TOKEN_KEYSET',
    ]);
  });

  it('regression: a missing or bad REDIRECT_URI is not also blamed on the unset SUCCESS_URL', () => {
    // Bug: SUCCESS_URL's default is derived from REDIRECT_URI and was validated as if set.
    expect(problemsOf({ ...BASE, REDIRECT_URI: undefined })).toEqual([
      'REDIRECT_URI: is required (an absolute URL)',
    ]);
    const problems = problemsOf({ ...BASE, REDIRECT_URI: 'http://cv.example.com/callback' });
    expect(problems.map((problem) => problem.split(':')[0])).toEqual(['REDIRECT_URI']);
  });

  describe('plain http only for this machine', () => {
    const allowed = [
      'http://localhost:8080/callback',
      'http://LOCALHOST:8080/callback',
      'http://127.0.0.1:9000/callback',
      'http://[::1]:9000/callback',
      'https://cv.example.com/callback',
    ];
    const refused = [
      'http://cv.example.com/callback',
      'http://localhost.evil.example/callback',
      'http://127.0.0.1.nip.io/callback',
      'http://10.0.0.1/callback',
      'http://0.0.0.0:8080/callback',
      'ws://localhost:8080/callback',
      'file:///etc/passwd',
      'javascript:alert(1)',
    ];
    it.each(allowed)('accepts %s', (url) => {
      expect(problemsOf({ ...BASE, REDIRECT_URI: url })).toEqual([]);
    });
    it.each(refused)('refuses %s', (url) => {
      const problems = problemsOf({ ...BASE, REDIRECT_URI: url });
      expect(problems.map((problem) => problem.split(':')[0])).toEqual(['REDIRECT_URI']);
    });
  });

  it('reads each secret source kind', () => {
    const config = loadConfig(
      {
        ...BASE,
        OAUTH_CLIENT_SECRET: 'GOCSPX-abc',
        TOKEN_KEYSET_VERSION: 'projects/p/secrets/keyset/versions/3',
      },
      { clientSecret: true, tokenKeyset: true },
    );
    expect(config.clientSecret?.kind).toBe('value');
    expect(config.tokenKeyset).toEqual({
      kind: 'secret-manager',
      setting: 'TOKEN_KEYSET_VERSION',
      name: 'projects/p/secrets/keyset/versions/3',
    });
    const fromFile = loadConfig({ ...BASE, TOKEN_KEYSET_FILE: '.local/keyset.json' });
    expect(fromFile.tokenKeyset).toEqual({
      kind: 'file',
      setting: 'TOKEN_KEYSET_FILE',
      path: '.local/keyset.json',
    });
  });
});
