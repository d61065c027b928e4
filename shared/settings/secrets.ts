// The secrets each function needs, derived from the schema's secret entries: loadConfig requires
// them at start-up, and the deploy grants and mounts exactly these (infra/deploy/resources.ts).
import type { FunctionName } from './functions.ts';
import { SETTING_SPECS, type SettingEntry } from './schema.ts';

export type SecretSetting = Extract<SettingEntry, { readonly kind: 'secret' }>;
/** 'clientSecret' | 'tokenKeyset': a secret's name in Config, in ConfigNeeds and in the deploy. */
export type SecretKey = SecretSetting['key'];

/** Which secrets a function needs; the others are not required (least privilege). */
export type ConfigNeeds = { readonly [K in SecretKey]?: boolean };

export const SECRET_SETTINGS: readonly SecretSetting[] = SETTING_SPECS.filter(
  (spec): spec is SecretSetting => spec.kind === 'secret',
);

/** The secrets `fn` requires and is deployed with, in schema order. */
export function secretKeysOf(fn: FunctionName): readonly SecretKey[] {
  return SECRET_SETTINGS.filter((spec) => usedBy(spec, fn)).map((spec) => spec.key);
}

export function needsOf(fn: FunctionName): ConfigNeeds {
  return Object.fromEntries(SECRET_SETTINGS.map((spec) => [spec.key, usedBy(spec, fn)]));
}

function usedBy(spec: { readonly functions: readonly FunctionName[] }, fn: FunctionName): boolean {
  return spec.functions.includes(fn);
}
