// Parsing derived from the schema: one validator per kind of setting, each recording a problem
// instead of throwing, so loadConfig can name every bad or missing setting at once.
import { Secret } from '../secrets/secret-value.ts';
import { SETTING_SPECS, type SettingEntry, type SettingSpec } from './schema.ts';

/** Where a secret comes from. Never a literal in code, Firestore or logs. */
export type SecretSource =
  /** Filled by `gcloud functions deploy --set-secrets` before the instance starts (free at cold start). */
  | { readonly kind: 'value'; readonly setting: string; readonly value: Secret }
  /** A Secret Manager version resource, read once per instance with the Secret Manager client. */
  | { readonly kind: 'secret-manager'; readonly setting: string; readonly name: string }
  /** A local file (development only; generated and git-ignored). */
  | { readonly kind: 'file'; readonly setting: string; readonly path: string };

export type Env = Readonly<Record<string, string | undefined>>;

type Given<S> = S extends { readonly required: true }
  ? true
  : S extends { readonly default: string }
    ? true
    : false;
/** The parsed value of one schema entry: its kind decides the type, presence decides undefined. */
type ValueOf<S> = S extends { readonly kind: 'text' | 'url' | 'host-port' }
  ? Given<S> extends true
    ? string
    : string | undefined
  : S extends { readonly kind: 'url-list' | 'list' }
    ? readonly string[]
    : S extends { readonly kind: 'integer' }
      ? number
      : S extends { readonly kind: 'boolean' }
        ? boolean
        : S extends { readonly kind: 'one-of'; readonly values: readonly (infer V)[] }
          ? V
          : S extends { readonly kind: 'secret' }
            ? SecretSource | undefined
            : never;

/** Every setting of the schema, parsed, by environment name. */
export type SettingValues = { readonly [S in SettingEntry as S['name']]: ValueOf<S> };

/**
 * Parses every setting of the schema. `requiredSecrets` holds the secret keys this function needs
 * (the others may be absent). Problems are appended as `NAME: why`, never echoing a value.
 */
export function readSettings(
  env: Env,
  requiredSecrets: ReadonlySet<string>,
  problems: string[],
): SettingValues {
  const reader = new SettingReader(env, problems);
  const values: Record<string, unknown> = {};
  for (const spec of SETTING_SPECS) values[spec.name] = reader.read(spec, requiredSecrets);
  // Each entry was parsed by the validator of its own kind, which returns exactly ValueOf<entry>.
  return values as SettingValues;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

class SettingReader {
  private readonly env: Env;
  private readonly problems: string[];

  constructor(env: Env, problems: string[]) {
    this.env = env;
    this.problems = problems;
  }

  read(spec: SettingSpec, requiredSecrets: ReadonlySet<string>): unknown {
    switch (spec.kind) {
      case 'text':
        return this.text(spec);
      case 'url':
        return this.url(spec);
      case 'url-list':
        return this.urlList(spec);
      case 'list':
        return this.list(spec);
      case 'integer':
        return this.integer(spec);
      case 'boolean':
        return this.boolean(spec);
      case 'one-of':
        return this.oneOf(spec);
      case 'host-port':
        return this.hostPort(spec);
      case 'secret':
        return this.secret(
          spec.name,
          requiredSecrets.has(spec.key) &&
            spec.optional !== true &&
            !(spec.standIn !== undefined && this.given(spec.standIn)),
        );
    }
  }

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  private fail(name: string, why: string): void {
    this.problems.push(`${name}: ${why}`);
  }

  private text(spec: SettingSpec & { kind: 'text' }): string | undefined {
    const value = this.raw(spec.name) ?? spec.default;
    if (value === undefined) {
      if (spec.required === true) this.fail(spec.name, 'is required');
      return spec.required === true ? '' : undefined;
    }
    if (spec.pattern && !spec.pattern.test(value)) this.fail(spec.name, `is malformed`);
    if (spec.maxLength !== undefined && value.length > spec.maxLength)
      this.fail(spec.name, `is longer than ${spec.maxLength} characters`);
    return value;
  }

  /** An absolute URL; https unless it points at this machine (RFC 9700 §4.1.1 / Google's rule). */
  private url(spec: SettingSpec & { kind: 'url' }): string | undefined {
    const value = this.raw(spec.name);
    // A default is not this setting's value: it is a constant, or derived by loadConfig from a
    // setting that reports its own problem (SUCCESS_URL from REDIRECT_URI), so it is not
    // validated here.
    if (value === undefined && spec.default !== undefined) return spec.default;
    if (value === undefined) {
      if (spec.required !== true) return undefined;
      this.fail(spec.name, 'is required (an absolute URL)');
      return '';
    }
    return this.checkUrl(spec.name, value);
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

  private items(spec: SettingSpec): string[] {
    const value = this.raw(spec.name) ?? spec.default;
    if (value === undefined) return [];
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }

  private urlList(spec: SettingSpec & { kind: 'url-list' }): string[] {
    return this.items(spec).map((item) => this.checkUrl(spec.name, item));
  }

  private list(spec: SettingSpec & { kind: 'list' }): string[] {
    const items = this.items(spec);
    for (const item of items)
      if (!spec.item.test(item)) this.fail(spec.name, `has a malformed entry`);
    const known = spec.known;
    if (known)
      for (const item of items)
        if (!known.values.includes(item))
          this.fail(
            spec.name,
            `names an unknown ${known.noun} "${item}" (known: ${known.values.join(', ')})`,
          );
    return items;
  }

  private integer(spec: SettingSpec & { kind: 'integer' }): number {
    const fallback = Number(spec.default);
    const value = this.raw(spec.name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < spec.min || parsed > spec.max) {
      this.fail(spec.name, `must be a whole number from ${spec.min} to ${spec.max}`);
      return fallback;
    }
    return parsed;
  }

  private boolean(spec: SettingSpec & { kind: 'boolean' }): boolean {
    const fallback = spec.default === 'true';
    const value = this.raw(spec.name);
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    this.fail(spec.name, 'must be true or false');
    return fallback;
  }

  private oneOf(spec: SettingSpec & { kind: 'one-of' }): string | undefined {
    const value = this.raw(spec.name);
    if (value === undefined) return spec.default;
    if (spec.values.includes(value)) return value;
    this.fail(spec.name, `must be one of ${spec.values.join(', ')}`);
    return spec.default;
  }

  private hostPort(spec: SettingSpec & { kind: 'host-port' }): string | undefined {
    const value = this.raw(spec.name);
    if (value !== undefined && !/^[\w.-]+:\d{1,5}$/.test(value))
      this.fail(spec.name, 'must be host:port');
    return value;
  }

  /**
   * A secret comes from exactly one of: NAME (value injected by --set-secrets), NAME_VERSION (a
   * Secret Manager resource `projects/P/secrets/S/versions/N`, pinned), NAME_FILE (local only).
   */
  /** Is a secret setting given in any of its three forms? */
  private given(name: string): boolean {
    return [name, `${name}_VERSION`, `${name}_FILE`].some((form) => this.raw(form) !== undefined);
  }

  private secret(name: string, required: boolean): SecretSource | undefined {
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
