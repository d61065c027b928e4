// Where job definitions come from: the built-ins (./builtin/) and the app's own folder (`jobs/`
// at the repository root, or CONSENT_VAULT_JOBS_DIR), one definition per file, its default export.
// This is the source-tree loader used by tests, tools and the build; in a function bundle the
// build replaces this module with one that imports the files it found (infra/build.ts), so a
// deployed function never reads a directory.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { JobDefinitionError, type JobDefinition } from './define.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILTIN_JOBS_DIR = path.join(ROOT, 'shared/jobs/builtin');

/** A job file, named relative to the repository root in messages. */
export interface JobFile {
  readonly file: string;
  readonly source: string;
}

// A build-time folder of source files, not a setting of a deployed function (bundles never read it).
// eslint-disable-next-line no-restricted-properties
export function appJobsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(ROOT, env.CONSENT_VAULT_JOBS_DIR ?? 'jobs');
}

/** Built-ins first, then the app's files, each folder in name order; tests are not jobs. */
export function jobFiles(appDir = appJobsDir()): JobFile[] {
  return [BUILTIN_JOBS_DIR, appDir].flatMap((dir) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => /\.(ts|js|mjs)$/.test(name) && !/\.(test|spec)\.|\.d\.ts$/.test(name))
      .sort()
      .map((name) => {
        const file = path.join(dir, name);
        return { file, source: path.relative(ROOT, file) };
      });
  });
}

export interface LoadedJob {
  readonly definition: JobDefinition;
  readonly source: string;
}

export async function loadJobFiles(files = jobFiles()): Promise<LoadedJob[]> {
  const loaded: LoadedJob[] = [];
  for (const { file, source } of files)
    loaded.push(
      definitionOf((await import(pathToFileURL(file).href)) as Record<string, unknown>, source),
    );
  return loaded;
}

/** The same, synchronously (Node's require of ES modules): for the manifest at start-up. */
export function loadJobFilesSync(files = jobFiles()): LoadedJob[] {
  const require = createRequire(import.meta.url);
  return files.map(({ file, source }) =>
    definitionOf(require(file) as Record<string, unknown>, source),
  );
}

function definitionOf(module: Record<string, unknown>, source: string): LoadedJob {
  const definition = module.default as JobDefinition | undefined;
  if (
    definition === undefined ||
    typeof definition !== 'object' ||
    typeof definition.run !== 'function' ||
    typeof definition.name !== 'string'
  )
    throw new JobDefinitionError(
      `${source} must \`export default defineJob({ ... })\` (shared/jobs/define.ts)`,
    );
  return { definition, source };
}
