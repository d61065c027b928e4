// The app's per-user job settings, `jobSettings/{sub}`: `{ values: { <job>: { <name>: value } } }`.
// Its own document so that a consent (which rewrites the connection) never touches it; it is
// written only together with the connection's guarded `settingsChanged` transition, and deleted
// in the same commit as a revoke (../store/connection/repository.ts), so no settings outlive the
// connection they belong to.
import type { Firestore } from '@google-cloud/firestore';
import type { SideRecord } from './connection/repository.ts';

export const JOB_SETTINGS = 'jobSettings';

/** Per job: the values the app set (validated against the job's schema when written). */
export type JobSettingsValues = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

export function jobSettingsPath(sub: string): string {
  return `${JOB_SETTINGS}/${sub}`;
}

export function jobSettingsDeletion(sub: string): SideRecord {
  return { path: jobSettingsPath(sub), op: 'delete' };
}

/**
 * The settings of the given users, one round trip (runners, gRPC). Only users whose connection
 * says the app set something are read: most users have no settings document.
 */
export async function readJobSettings(
  db: Firestore,
  subs: readonly string[],
): Promise<Map<string, JobSettingsValues>> {
  const found = new Map<string, JobSettingsValues>();
  if (subs.length === 0) return found;
  const snapshots = await db.getAll(...subs.map((sub) => db.doc(jobSettingsPath(sub))));
  for (const snapshot of snapshots)
    if (snapshot.exists)
      found.set(snapshot.id, (snapshot.data() as { values?: JobSettingsValues }).values ?? {});
  return found;
}
