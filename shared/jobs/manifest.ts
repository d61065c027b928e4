// What the functions without job code need to know about the jobs: names, titles, scopes (with
// their descriptions), schedules, APIs and their calls, and the names of their per-user
// settings. Derived from the definitions (manifestOf); in a function bundle the build inlines it
// as a literal (infra/build.ts), so authorize and callback load neither Google libraries nor job
// code, and a start-up with an unknown job in JOBS fails at once.
import { z } from 'zod';
import type { JobDefinition, Schedule } from './define.ts';
import type { ScopeInfo } from './google-scopes.ts';
import { loadJobFilesSync, type LoadedJob } from './job-files.ts';
import { jobCatalog } from './catalog.ts';

export interface ManifestSetting {
  readonly name: string;
  readonly required: boolean;
  readonly type: string;
  readonly description: string | null;
}

export interface ManifestJob {
  readonly name: string;
  readonly title: string;
  readonly source: string;
  readonly scopes: readonly ScopeInfo[];
  readonly apis: readonly string[];
  readonly calls: Readonly<Record<string, number>>;
  readonly schedule: Schedule;
  readonly settings: readonly ManifestSetting[];
}

export interface JobManifest {
  readonly jobs: readonly ManifestJob[];
}

export function manifestOf(loaded: readonly LoadedJob[]): JobManifest {
  jobCatalog(loaded);
  return {
    jobs: loaded.map(({ definition, source }) => ({
      name: definition.name,
      title: definition.title,
      source,
      scopes: definition.scopes,
      apis: definition.apis,
      calls: definition.calls,
      schedule: definition.schedule,
      settings: settingsOf(definition),
    })),
  };
}

function settingsOf(definition: JobDefinition): ManifestSetting[] {
  if (!definition.settings) return [];
  const schema = z.toJSONSchema(definition.settings, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string; enum?: unknown[]; description?: string }>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    required: (schema.required ?? []).includes(name),
    type: property.enum ? property.enum.map(String).join(' | ') : (property.type ?? 'any'),
    description: property.description ?? null,
  }));
}

let manifest: JobManifest | undefined;

/** The build's jobs (bundles: the inlined literal; source tree: read from the job files). */
export function jobManifest(): JobManifest {
  manifest ??= manifestOf(loadJobFilesSync());
  return manifest;
}
