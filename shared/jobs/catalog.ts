// The jobs this build knows, checked once: every name unique (two files declaring the same name
// stop everything, naming both), and the jobs JOBS enables looked up by name (an unknown one
// names the known ones). Everything that lists jobs (consent scopes, pages, the runner, the
// deploy) derives from a catalog.
import { ConfigError } from '../errors.ts';
import { JobDefinitionError, type JobDefinition } from './define.ts';
import type { LoadedJob } from './job-files.ts';

export interface JobCatalog {
  readonly jobs: readonly JobDefinition[];
  get(name: string): JobDefinition | undefined;
}

export function jobCatalog(loaded: readonly LoadedJob[]): JobCatalog {
  const byName = new Map<string, LoadedJob>();
  for (const job of loaded) {
    const earlier = byName.get(job.definition.name);
    if (earlier)
      throw new JobDefinitionError(
        `two jobs are named "${job.definition.name}": ${earlier.source} and ${job.source}`,
      );
    byName.set(job.definition.name, job);
  }
  return {
    jobs: loaded.map((job) => job.definition),
    get: (name) => byName.get(name)?.definition,
  };
}

/** The jobs JOBS names, in its order. */
export function enabledJobs<Job extends { readonly name: string }>(
  known: readonly Job[],
  names: readonly string[],
): Job[] {
  const unknown = names.filter((name) => !known.some((job) => job.name === name));
  if (unknown.length > 0)
    throw new ConfigError([
      `JOBS: names ${unknown.map((name) => `an unknown job "${name}"`).join(' and ')} (known: ${known
        .map((job) => job.name)
        .join(', ')})`,
    ]);
  return names.map((name) => known.find((job) => job.name === name)!);
}

/** The job's scopes that `granted` lacks. */
export function lackingScopes(
  job: { readonly scopes: readonly { url: string }[] },
  granted: readonly string[],
): string[] {
  return job.scopes.map((scope) => scope.url).filter((url) => !granted.includes(url));
}

/** Per job, how many of the given connections (their granted scopes) lack some of its scopes. */
export function consentGaps(
  jobs: readonly { readonly name: string; readonly scopes: readonly { url: string }[] }[],
  scopesOfConnections: readonly (readonly string[])[],
): Record<string, number> {
  const gaps: Record<string, number> = {};
  for (const job of jobs) {
    const count = scopesOfConnections.filter(
      (scopes) => lackingScopes(job, scopes).length > 0,
    ).length;
    if (count > 0) gaps[job.name] = count;
  }
  return gaps;
}

/** Every scope the given jobs need (deduplicated, in order). */
export function scopesOf(
  jobs: readonly { readonly scopes: readonly { url: string }[] }[],
): string[] {
  return [...new Set(jobs.flatMap((job) => job.scopes.map((scope) => scope.url)))];
}
