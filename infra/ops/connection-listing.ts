// What `npm run connections` lists: one row per connection with its app user, state, scopes,
// each enabled job's status, and the last run. A projection of non-secret fields is read,
// paging with a cursor: no token ever leaves Firestore. `needsConsent` keeps only connections
// that lack some enabled job's scopes (the users to ask for an incremental consent).
import { FieldPath, type Firestore } from '@google-cloud/firestore';
import { lackingScopes } from '../../shared/jobs/catalog.ts';
import type { ManifestJob } from '../../shared/jobs/manifest.ts';
import { CONNECTIONS, type StoredConnection } from '../../shared/store/connection/document.ts';

export const LISTED_STATES = ['active', 'needs-reconnect', 'revoke-pending', 'revoked'] as const;

const FIELDS = [
  'email',
  'appUserId',
  'state',
  'scopes',
  'jobs',
  'reconnectReason',
  'lastRun',
] as const;
type Listed = Pick<StoredConnection, (typeof FIELDS)[number]>;

export interface ListingOptions {
  readonly state?: string;
  readonly needsConsent?: boolean;
  readonly limit: number;
  /** The enabled jobs (JOBS), as the manifest describes them. */
  readonly jobs: readonly ManifestJob[];
}

export const LISTING_HEADER = ['sub', 'app user', 'email', 'state', 'jobs', 'last run'];

export async function listConnections(db: Firestore, options: ListingOptions): Promise<string[][]> {
  const rows: string[][] = [];
  let cursor: string | undefined;
  const state = options.needsConsent ? 'active' : options.state;
  while (rows.length < options.limit) {
    let query = db
      .collection(CONNECTIONS)
      .orderBy(FieldPath.documentId())
      .select(...FIELDS);
    if (state) query = query.where('state', '==', state);
    if (cursor !== undefined) query = query.startAfter(cursor);
    const page = await query.limit(500).get();
    for (const doc of page.docs) {
      const data = doc.data() as Listed;
      const lacking = options.jobs.filter(
        (job) => lackingScopes(job, data.scopes ?? []).length > 0,
      );
      if (options.needsConsent && lacking.length === 0) continue;
      if (rows.length >= options.limit) break;
      rows.push([
        doc.id,
        data.appUserId ?? '-',
        data.email ?? '-',
        data.state + (data.reconnectReason ? ` (${data.reconnectReason})` : ''),
        options.jobs.map((job) => `${job.name}:${jobStatus(data, job, lacking)}`).join(' ') || '-',
        data.lastRun ? `${data.lastRun.outcome} @ ${data.lastRun.runId}` : '-',
      ]);
    }
    if (page.size < 500) break;
    cursor = page.docs[page.docs.length - 1]?.id;
  }
  return rows;
}

/** The job's stored status; a job whose scopes are lacking waits for consent even before a run. */
function jobStatus(data: Listed, job: ManifestJob, lacking: readonly ManifestJob[]): string {
  if (lacking.includes(job)) return 'needs-consent';
  return data.jobs?.[job.name]?.status ?? 'not-run';
}
