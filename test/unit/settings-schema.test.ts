// The settings schema is the one declaration of every setting: these tests fail when something
// derived from it drifts (the generated docs, the deploy's secrets and env-file checks, the
// functions' own names) or when the schema itself is incomplete. Pure: no emulator, no network.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILES } from '../../infra/docs/settings-docs.ts';
import { parseArgs } from '../../infra/deploy/args.ts';
import { buildDesired } from '../../infra/deploy/desired.ts';
import { KNOWN_SETTINGS, parseEnvFile } from '../../infra/deploy/env-file.ts';
import { FUNCTIONS, SECRETS } from '../../infra/deploy/resources.ts';
import { loadMonitoring } from '../../infra/monitoring/definitions.ts';
import { loadConfig } from '../../shared/settings/config.ts';
import { FUNCTION_NAMES, type FunctionName } from '../../shared/settings/functions.ts';
import { SETTING_GROUPS, SETTING_SPECS, variablesOf } from '../../shared/settings/schema.ts';
import { needsOf, SECRET_SETTINGS, secretKeysOf } from '../../shared/settings/secrets.ts';
import { ConfigError } from '../../shared/errors.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const BASE: Readonly<Record<string, string>> = {
  GOOGLE_CLOUD_PROJECT: 'demo-consent-vault',
  OAUTH_CLIENT_ID: '1234-abc.apps.googleusercontent.com',
  REDIRECT_URI: 'https://cv.example.com/callback',
  AUTHORIZE_URL: 'https://cv.example.com/authorize',
  REVOKE_URL: 'https://cv.example.com/revoke',
};

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const ALL_VARIABLES = SETTING_SPECS.flatMap((spec) => variablesOf(spec));

describe('generated files', () => {
  it.each(GENERATED_FILES.map((file) => [file.path, file] as const))(
    '%s is what the schema generates',
    (filePath, file) => {
      const committed = readFileSync(path.join(root, filePath), 'utf8');
      expect(
        committed,
        `${filePath} differs from what shared/settings/schema.ts generates: run \`npm run docs:settings\` and commit the result`,
      ).toBe(file.render());
    },
  );

  it.each(GENERATED_FILES.map((file) => [file.path, file] as const))(
    '%s has no line over 160 characters',
    (_, file) => {
      const long = file
        .render()
        .split('\n')
        .filter((line) => line.length > 160);
      expect(long).toEqual([]);
    },
  );

  it('names every setting in docs/configuration.md, and every operator setting in the example', () => {
    const [doc, example] = GENERATED_FILES.map((file) => file.render());
    for (const spec of SETTING_SPECS) expect(doc).toContain(`\`${spec.name}\``);
    for (const name of KNOWN_SETTINGS) expect(example).toMatch(new RegExp(`^(# )?${name}=`, 'm'));
  });
});

describe('the schema', () => {
  it('gives every setting a one-line doc', () => {
    for (const spec of SETTING_SPECS) {
      expect(spec.doc.trim(), spec.name).not.toBe('');
      expect(spec.doc, spec.name).not.toMatch(/\n/);
      expect(spec.doc.length, spec.name).toBeLessThanOrEqual(120);
      expect(spec.doc, spec.name).toMatch(/\.$/);
    }
  });

  it('declares each setting once, under a known group, with a well-formed name', () => {
    const names = SETTING_SPECS.map((spec) => spec.name);
    expect(new Set(ALL_VARIABLES).size).toBe(ALL_VARIABLES.length);
    for (const spec of SETTING_SPECS) {
      expect(spec.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(SETTING_GROUPS).toContain(spec.group);
      for (const fn of spec.functions) expect(FUNCTION_NAMES).toContain(fn);
      expect(new Set(spec.functions).size, spec.name).toBe(spec.functions.length);
    }
    expect(names.length).toBeGreaterThan(30);
  });

  it('gives a value to every kind that always has one, and never both required and a default', () => {
    for (const spec of SETTING_SPECS) {
      if (spec.kind === 'integer' || spec.kind === 'boolean' || spec.kind === 'one-of')
        expect(spec.default, spec.name).toBeDefined();
      if (spec.required === true)
        expect(spec.default ?? spec.derivedDefault, spec.name).toBe(undefined);
      if (spec.kind === 'secret') expect(spec.setBy, spec.name).toBe('deploy');
    }
  });

  it("accepts its own defaults and examples through loadConfig's rules", () => {
    for (const spec of SETTING_SPECS) {
      for (const value of [spec.default, spec.example]) {
        if (value === undefined) continue;
        const problems = problemsOf(() => loadConfig({ ...BASE, [spec.name]: value }));
        expect(problems, `${spec.name}=${value}`).toEqual([]);
      }
    }
  });

  it('gives every operator setting something to show in the example env file', () => {
    for (const spec of SETTING_SPECS.filter((s) => s.setBy === 'operator'))
      expect(spec.example ?? spec.default, spec.name).toBeDefined();
  });
});

describe('loadConfig reads the schema and nothing else', () => {
  /** The variables loadConfig looks at, recorded through a proxy over the environment. */
  function variablesRead(scope: FunctionName | undefined): Set<string> {
    const read = new Set<string>();
    const env = new Proxy(
      { ...BASE },
      {
        get(target, key, receiver) {
          if (typeof key === 'string') read.add(key);
          return Reflect.get(target, key, receiver) as unknown;
        },
        has(target, key) {
          if (typeof key === 'string') read.add(key);
          return Reflect.has(target, key);
        },
      },
    );
    problemsOf(() => loadConfig(env, scope));
    return read;
  }

  it.each([undefined, ...FUNCTION_NAMES])('in %s', (scope) => {
    const read = variablesRead(scope);
    expect([...read].filter((name) => !ALL_VARIABLES.includes(name))).toEqual([]);
    // And the schema holds no setting that nothing reads.
    expect(ALL_VARIABLES.filter((name) => !read.has(name))).toEqual([]);
  });
});

describe('each function needs what the deploy gives it', () => {
  // The least-privilege rule, stated once by hand: only the functions that exchange or refresh
  // tokens hold the client secret and the DPoP keys, and each holds only the keys of the purposes
  // it uses: the public, database-less authorize never holds a token key.
  const expected: Readonly<Record<FunctionName, readonly string[]>> = {
    authorize: ['cookieKeyset', 'connectKeyset'],
    callback: ['clientSecret', 'tokenKeyset', 'dpopKeys', 'cookieKeyset'],
    revoke: ['tokenKeyset', 'linkKeyset', 'connectKeyset'],
    dispatcher: ['clientSecret', 'tokenKeyset', 'dpopKeys'],
    worker: ['clientSecret', 'tokenKeyset', 'dpopKeys'],
    // Revokes at Google for a hijacked account: opens the refresh token, never refreshes.
    risc: ['tokenKeyset'],
  };

  it('deploys exactly the functions the schema names', () => {
    expect(FUNCTIONS.map((fn) => fn.name)).toEqual([...FUNCTION_NAMES]);
  });

  it.each(FUNCTIONS.map((fn) => [fn.name, fn] as const))('%s', (name, fn) => {
    expect(secretKeysOf(name)).toEqual(expected[name]);
    expect(fn.secrets).toEqual(expected[name]);
    // loadConfig, scoped to the function, requires exactly the secrets the deploy mounts on it,
    // but an opt-in one (DPOP_KEYS): mounted, never required (--no-dpop deploys without it).
    const required = problemsOf(() => loadConfig(BASE, name)).map((p) => p.split(':')[0]);
    const optional = (key: string): boolean =>
      SETTING_SPECS.some((s) => s.kind === 'secret' && s.key === key && s.optional === true);
    expect(required).toEqual(
      fn.secrets.filter((key) => !optional(key)).map((key) => SECRETS[key].env),
    );
    expect(needsOf(name)).toEqual(
      Object.fromEntries(SECRET_SETTINGS.map((s) => [s.key, expected[name].includes(s.key)])),
    );
  });

  it('authorize and revoke hold no client secret', () => {
    for (const name of ['authorize', 'revoke'] as const) {
      expect(FUNCTIONS.find((fn) => fn.name === name)?.secrets).not.toContain('clientSecret');
      expect(problemsOf(() => loadConfig(BASE, name))).not.toContainEqual(
        expect.stringMatching(/^OAUTH_CLIENT_SECRET/),
      );
    }
  });

  it('names each secret in Secret Manager as the schema does', () => {
    for (const spec of SECRET_SETTINGS)
      expect(SECRETS[spec.key]).toEqual({ name: spec.secretId, env: spec.name });
    expect(Object.keys(SECRETS).sort()).toEqual(SECRET_SETTINGS.map((s) => s.key).sort());
  });

  it.each(FUNCTION_NAMES)('functions/%s.ts names itself to runtimeFromEnvironment', (name) => {
    const source = readFileSync(path.join(root, 'functions', `${name}.ts`), 'utf8');
    expect(source).toMatch(
      new RegExp(`runtimeFromEnvironment\\(\\s*process\\.env,\\s*'${name}'[,)]`),
    );
  });
});

describe('the deploy env file follows the schema', () => {
  it('knows exactly the operator settings', () => {
    expect([...KNOWN_SETTINGS].sort()).toEqual(
      SETTING_SPECS.filter((spec) => spec.setBy === 'operator')
        .map((spec) => spec.name)
        .sort(),
    );
  });

  it.each(
    SETTING_SPECS.filter((spec) => spec.setBy !== 'operator').flatMap((spec) =>
      variablesOf(spec).map((name) => [name, spec.setBy] as const),
    ),
  )('refuses %s (set by: %s)', (name) => {
    const file = parseEnvFile(`${name}=x`);
    expect(file.problems).toHaveLength(1);
    expect(file.problems[0]).toContain(name);
    expect(file.values).toEqual({});
  });

  it('accepts the example file, with every commented setting switched on too', () => {
    const example = readFileSync(path.join(root, 'infra/deploy/deploy.example.env'), 'utf8');
    const args = parseArgs(['--project', 'demo-project', '--region', 'europe-west1']);
    if (!args.ok) throw new Error('bad test arguments');
    const monitoring = loadMonitoring(path.join(root, 'infra/monitoring'));
    if (!monitoring.ok) throw new Error(monitoring.problems.join('\n'));
    for (const text of [example, example.replace(/^# ([A-Z][A-Z0-9_]*=)/gm, '$1')]) {
      const file = parseEnvFile(text);
      expect(file.problems).toEqual([]);
      expect(file.unknownKeys).toEqual([]);
      // Through the deploy's own path, which fills in what the deploy sets itself.
      const desired = buildDesired({
        options: args.options,
        envValues: file.values,
        rulesSource: '',
        indexesJson: undefined,
        sourceHashes: {},
        monitoring: monitoring.definitions,
      });
      expect(desired.ok ? [] : desired.problems).toEqual([]);
    }
  });
});
