// Table tests of the pure input parsers: command-line flags and the deploy env file.
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../infra/deploy/args.ts';
import { parseEnvFile } from '../../infra/deploy/env-file.ts';

const BASE = ['--project', 'my-project', '--region', 'europe-west1'];

describe('parseArgs', () => {
  it('applies the defaults', () => {
    const result = parseArgs(BASE);
    expect(result).toMatchObject({
      ok: true,
      options: {
        project: 'my-project',
        region: 'europe-west1',
        envFile: 'infra/deploy.env',
        dryRun: false,
        assumeEmpty: false,
        skipBuild: false,
        clientSecretFile: undefined,
        schedule: '0 3 * * *',
        timeZone: 'Etc/UTC',
        schedulerLocation: 'europe-west1',
        firestoreLocation: 'europe-west1',
        minInstances: 0,
        workerMaxInstances: undefined,
        distDir: 'dist',
        rulesFile: 'firestore.rules',
        indexesFile: 'firestore.indexes.json',
        rulesApi: 'https://firebaserules.googleapis.com',
        kms: true,
        kmsLocation: 'europe-west1',
        dpop: 'secret',
        dpopKmsHsm: false,
        monitoringDir: 'infra/monitoring',
        alertEmail: undefined,
      },
    });
  });

  it('takes --monitoring and one --alert-email address, and refuses anything else there', () => {
    expect(
      parseArgs([...BASE, '--monitoring', 'ops/monitoring', '--alert-email=ops@example.com']),
    ).toMatchObject({
      ok: true,
      options: { monitoringDir: 'ops/monitoring', alertEmail: 'ops@example.com' },
    });
    for (const bad of ['ops', 'a@b', 'a@b.com,c@d.com', 'a b@c.com', '$(id)@x.com'])
      expect(parseArgs([...BASE, '--alert-email', bad])).toEqual({
        ok: false,
        help: false,
        problems: ['--alert-email must be one email address'],
      });
  });

  it('takes --worker-max-instances from 1 to 1000, and refuses anything else', () => {
    expect(parseArgs([...BASE, '--worker-max-instances', '12'])).toMatchObject({
      ok: true,
      options: { workerMaxInstances: 12 },
    });
    expect(parseArgs([...BASE, '--worker-max-instances=1000'])).toMatchObject({
      ok: true,
      options: { workerMaxInstances: 1000 },
    });
    for (const bad of ['0', '-1', '1001', '2.5', 'many', ''])
      expect(parseArgs([...BASE, `--worker-max-instances=${bad}`])).toEqual({
        ok: false,
        help: false,
        problems: ['--worker-max-instances must be a whole number from 1 to 1000'],
      });
  });

  it('takes --no-kms and a --kms-location of its own', () => {
    expect(parseArgs([...BASE, '--no-kms', '--kms-location', 'global'])).toMatchObject({
      ok: true,
      options: { kms: false, kmsLocation: 'global' },
    });
  });

  it('takes --no-dpop (the DPoP keys are on by default, in a secret)', () => {
    expect(parseArgs([...BASE, '--no-dpop'])).toMatchObject({
      ok: true,
      options: { dpop: 'off', kms: true },
    });
  });

  it('takes --dpop-kms, with --dpop-kms-hsm, and with --no-kms (the wrap is another matter)', () => {
    expect(parseArgs([...BASE, '--dpop-kms'])).toMatchObject({
      ok: true,
      options: { dpop: 'kms', dpopKmsHsm: false, kms: true },
    });
    expect(parseArgs([...BASE, '--dpop-kms', '--dpop-kms-hsm'])).toMatchObject({
      ok: true,
      options: { dpop: 'kms', dpopKmsHsm: true },
    });
    expect(parseArgs([...BASE, '--dpop-kms', '--no-kms'])).toMatchObject({
      ok: true,
      options: { dpop: 'kms', kms: false },
    });
  });

  it('reads --flag value and --flag=value alike', () => {
    const result = parseArgs([
      '--project=my-project',
      '--region',
      'us-central1',
      '--schedule',
      '30 4 * * 1',
      '--time-zone=Europe/Paris',
      '--min-instances=1',
      '--firestore-location',
      'eur3',
      '--dry-run',
      '--assume-empty',
      '--client-secret-file',
      '-',
    ]);
    expect(result).toMatchObject({
      ok: true,
      options: {
        region: 'us-central1',
        schedule: '30 4 * * 1',
        timeZone: 'Europe/Paris',
        minInstances: 1,
        firestoreLocation: 'eur3',
        schedulerLocation: 'us-central1',
        dryRun: true,
        assumeEmpty: true,
        clientSecretFile: '-',
      },
    });
  });

  it.each([
    [[], '--project is required'],
    [['--project', 'my-project'], '--region is required'],
    [
      ['--project', 'Bad_Project', '--region', 'europe-west1'],
      '--project is not a valid project id',
    ],
    [[...BASE, '--client-secret', 'GOCSPX-abc'], '--client-secret is not accepted'],
    [[...BASE, '--assume-empty'], '--assume-empty needs --dry-run'],
    [[...BASE, '--rotate-client-secret'], '--rotate-client-secret needs --client-secret-file'],
    [[...BASE, '--schedule', '0 3 * *'], '--schedule must have five cron fields'],
    [['--project', 'my-project', '--region'], '--region needs a value'],
    [[...BASE, '--min-instances', '-1'], '--min-instances must be a whole number'],
    [[...BASE, '--min-instances', 'two'], '--min-instances must be a whole number'],
    [[...BASE, '--dry-run=yes'], '--dry-run takes no value'],
    [[...BASE, '--bogus'], 'unknown flag --bogus'],
    [[...BASE, 'extra'], 'unexpected argument at position 5'],
    [[...BASE, '--region', 'us-east1'], '--region is given twice'],
    [[...BASE, '--kms-location', 'Europe West'], '--kms-location is not a valid location'],
    [[...BASE, '--scheduler-location=eu_west'], '--scheduler-location is not a valid location'],
    [[...BASE, '--no-kms=yes'], '--no-kms takes no value'],
    [[...BASE, '--no-dpop=yes'], '--no-dpop takes no value'],
    [
      [...BASE, '--dpop-kms', '--no-dpop'],
      '--dpop-kms and --no-dpop contradict each other: pass one of them',
    ],
    [[...BASE, '--dpop-kms-hsm'], '--dpop-kms-hsm needs --dpop-kms'],
    [[...BASE, '--no-dpop', '--dpop-kms-hsm'], '--dpop-kms-hsm needs --dpop-kms'],
    [[...BASE, '--dpop-kms=hsm'], '--dpop-kms takes no value'],
  ])('rejects %j', (argv, problem) => {
    const result = parseArgs(argv);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.join('\n')).toContain(problem);
  });

  it('never echoes the value given to a refused --client-secret', () => {
    const result = parseArgs([...BASE, '--client-secret', 'GOCSPX-do-not-print']);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join('\n')).not.toContain('GOCSPX-do-not-print');
  });

  it('answers --help with usage instead of problems', () => {
    expect(parseArgs(['--help'])).toEqual({ ok: false, help: true, problems: [] });
  });
});

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, quotes, comments and export prefixes', () => {
    const file = parseEnvFile(
      [
        '# comment',
        '',
        'OAUTH_CLIENT_ID=abc.apps.googleusercontent.com',
        'export LOG_LEVEL=DEBUG',
        'RETURN_TO_ALLOWLIST="https://a.example/x,https://b.example/y"',
        "DRIVE_EXPORT_FOLDER='My exports # not a comment'",
        'JOBS=drive-export # trailing comment',
      ].join('\n'),
    );
    expect(file.problems).toEqual([]);
    expect(file.values).toEqual({
      OAUTH_CLIENT_ID: 'abc.apps.googleusercontent.com',
      LOG_LEVEL: 'DEBUG',
      RETURN_TO_ALLOWLIST: 'https://a.example/x,https://b.example/y',
      DRIVE_EXPORT_FOLDER: 'My exports # not a comment',
      JOBS: 'drive-export',
    });
  });

  it.each([
    ['OAUTH_CLIENT_SECRET=GOCSPX-leak', 'OAUTH_CLIENT_SECRET is a secret'],
    ['OAUTH_CLIENT_SECRET_FILE=/tmp/s', 'OAUTH_CLIENT_SECRET_FILE is a secret'],
    ['TOKEN_KEYSET={"primary":"k1"}', 'TOKEN_KEYSET is a secret'],
    ['TOKEN_KEYSET_VERSION=projects/p/secrets/s/versions/1', 'TOKEN_KEYSET_VERSION is a secret'],
    ['COOKIE_KEYSET={"purpose":"cookie"}', 'COOKIE_KEYSET is a secret'],
    ['LINK_KEYSET_FILE=/tmp/link.json', 'LINK_KEYSET_FILE is a secret'],
    [
      'CONNECT_KEYSET_VERSION=projects/p/secrets/s/versions/1',
      'CONNECT_KEYSET_VERSION is a secret',
    ],
    ['SMTP_PASSWORD=hunter2', 'looks like a secret'],
    ['FIRESTORE_EMULATOR_HOST=127.0.0.1:8080', 'emulator'],
    ['GOOGLE_CLOUD_PROJECT=other', 'set by the deploy'],
    ['not a line', 'expected KEY=VALUE'],
    ['lower=1', 'not an environment variable name'],
    ['LOG_LEVEL=INFO\nLOG_LEVEL=DEBUG', 'LOG_LEVEL is set twice'],
  ])('refuses %j', (text, problem) => {
    const file = parseEnvFile(text);
    expect(file.problems.join('\n')).toContain(problem);
    // A refused secret is never repeated back.
    expect(file.problems.join('\n')).not.toMatch(/GOCSPX-leak|hunter2|primary/);
  });

  it('passes unknown settings through but names them', () => {
    const file = parseEnvFile('OAUTH_CLIENT_ID=x\nLOG_LEVL=DEBUG');
    expect(file.problems).toEqual([]);
    expect(file.unknownKeys).toEqual(['LOG_LEVL']);
    expect(file.values['LOG_LEVL']).toBe('DEBUG');
  });
});
