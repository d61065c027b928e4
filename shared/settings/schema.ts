// The one declaration of every setting: its environment name, kind, default and bounds, who sets
// it, which deployed functions need it, and its doc line. Everything else is derived from this
// table: loadConfig's parsing (./read.ts), the secrets each function requires and is deployed
// with (./secrets.ts, infra/deploy/resources.ts), the deploy env file's checks
// (infra/deploy/env-file.ts), docs/configuration.md and infra/deploy/deploy.example.env
// (`npm run docs:settings`). Patterns: functions-framework-nodejs src/options.ts (a table of
// ConfigurableOptions, parsing derived from it) and firebase/extensions' extension.yaml params.
import type { FunctionName } from './functions.ts';
import { PROJECT_SETTINGS } from './table/project.ts';
import { URLS_SETTINGS } from './table/urls.ts';
import { APP_SETTINGS } from './table/app.ts';
import { RUNS_SETTINGS } from './table/runs.ts';
import { TOPICS_SETTINGS } from './table/topics.ts';
import { GOOGLE_SETTINGS } from './table/google.ts';
import { LOCAL_SETTINGS } from './table/local.ts';

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
  | {
      readonly kind: 'secret';
      readonly key: string;
      readonly secretId: string;
      /**
       * A setting whose value may stand in when this one is not given: a master TOKEN_KEYSET
       * derives every key purpose (one local file). The deploy always sets this one.
       */
      readonly standIn?: string;
      /** An opt-in secret: never required, even by the functions that use it (DPOP_KEYS). */
      readonly optional?: true;
    };

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

const SETTINGS = [
  ...PROJECT_SETTINGS,
  ...URLS_SETTINGS,
  ...APP_SETTINGS,
  ...RUNS_SETTINGS,
  ...TOPICS_SETTINGS,
  ...GOOGLE_SETTINGS,
  ...LOCAL_SETTINGS,
] as const;

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
