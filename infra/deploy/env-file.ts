// The deploy env file: the functions' non-secret settings, one `KEY=VALUE` a line. Pure
// parsing; which keys belong in it comes from the settings schema (shared/settings/schema.ts).
// Secrets are refused here so they can never reach `--set-env-vars` (an argument, visible in
// process lists and Cloud Audit Logs).
import { SETTING_SPECS, variablesOf, type SettingSpec } from '../../shared/settings/schema.ts';

export interface EnvFile {
  readonly values: Readonly<Record<string, string>>;
  /** Keys that are not settings of the schema: passed through, but reported (likely typos). */
  readonly unknownKeys: readonly string[];
  readonly problems: readonly string[];
}

/** Settings an operator may set for the deployed functions: the schema's operator settings. */
export const KNOWN_SETTINGS: readonly string[] = SETTING_SPECS.filter(
  (spec) => spec.setBy === 'operator',
).map((spec) => spec.name);

/** Why a schema setting that is not the operator's may not appear in the env file. */
function refusal(spec: SettingSpec): string {
  if (spec.kind === 'secret')
    return 'is a secret: the deploy stores it in Secret Manager and passes it with --set-secrets';
  if (spec.setBy === 'deploy')
    return `is set by the deploy to ${spec.deployDefault ?? 'its own value'}`;
  return 'is for local runs only';
}

function refuse(setBy: SettingSpec['setBy']): { pattern: RegExp; why: string }[] {
  return SETTING_SPECS.filter((spec) => spec.setBy === setBy).map((spec) => {
    return { pattern: new RegExp(`^(${variablesOf(spec).join('|')})$`), why: refusal(spec) };
  });
}

/**
 * Never in an env file: what the deploy sets (secrets in each of their three forms included) and
 * what only local runs set, named by the schema, plus anything that merely looks like an emulator
 * or a secret. The emulator rule comes before the local settings' own for its clearer message.
 */
const FORBIDDEN: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  ...refuse('deploy'),
  { pattern: /_EMULATOR_HOST$/, why: 'points at an emulator; never set it on deployed functions' },
  ...refuse('local'),
  { pattern: /SECRET|PASSWORD|PRIVATE_KEY/, why: 'looks like a secret; env files hold no secrets' },
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
