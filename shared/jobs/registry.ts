// Which scopes each configured job needs. Kept free of heavy imports: the authorize function
// imports this module to build the consent request, and must stay tiny. Job implementations
// (which load Google API clients) live in their own modules, loaded only by the runners.
export const DRIVE_FILE_SCOPE = 'https://www.googleapis.com/auth/drive.file';

export const JOB_SCOPES: Readonly<Record<string, readonly string[]>> = {
  'drive-export': [DRIVE_FILE_SCOPE],
};

/** The API scopes the configured jobs need, deduplicated, in a stable order. */
export function scopesForJobs(jobNames: readonly string[]): string[] {
  const scopes = new Set<string>();
  for (const name of jobNames) {
    const needed = JOB_SCOPES[name];
    if (!needed) throw new Error(`unknown job "${name}"`);
    for (const scope of needed) scopes.add(scope);
  }
  return [...scopes];
}
