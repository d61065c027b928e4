// Builds the configured jobs for the runners. Separate from registry.ts (scopes only), which the
// authorize function imports and must stay tiny. Job modules import their Google API clients
// lazily inside run(), so loading this module stays cheap too.
import { driveExportJob, type DriveExportOptions } from './drive-export.ts';
import type { Job, JobSettings } from './types.ts';

export interface JobPlugins {
  readonly 'drive-export'?: DriveExportOptions;
}

export function createJobs(
  names: readonly string[],
  settings: JobSettings,
  plugins: JobPlugins = {},
): Job[] {
  return names.map((name) => {
    if (name === driveExportJob.name)
      return driveExportJob.create(settings, plugins['drive-export']);
    throw new Error(`unknown job "${name}"`);
  });
}

/** Every scope the given jobs need (deduplicated). */
export function scopesOf(jobs: readonly Job[]): string[] {
  return [...new Set(jobs.flatMap((job) => job.scopes))];
}
