// The per-user lease `connections/{sub}.refreshLease`: at most one instance refreshes (and works
// for) a user at a time. Taken with a conditional write after reading the connection, so the read the
// worker needs anyway is the lease's own read. It expires on its own if the holder dies.
import {
  Timestamp,
  type DocumentSnapshot,
  type Firestore,
  type WriteBatch,
} from '@google-cloud/firestore';
import { LEASE_BUSY, OperationError } from '../errors.ts';
import { connectionRef, type ConnectionDoc } from '../store/connections.ts';

export type LeaseResult =
  | { readonly kind: 'acquired'; readonly connection: ConnectionDoc }
  /** Not in a state a run works on (gone, revoked, needs-reconnect): nothing was written. */
  | { readonly kind: 'not-runnable'; readonly connection: ConnectionDoc | undefined }
  | { readonly kind: 'busy'; readonly until: number };

/** Another delivery holds the user until `until`: try again after that. */
export function leaseBusy(until: number, now: number): OperationError {
  return new OperationError(LEASE_BUSY, 'another delivery holds this user', {
    retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)),
  });
}

export interface LeaseRequest {
  readonly sub: string;
  readonly holder: string;
  readonly now: number;
  readonly ttlMs: number;
  /** A read made earlier (the batch's bulk read); the precondition still guards it. */
  readonly prefetched?: DocumentSnapshot | undefined;
  /** Commits the lease write (e.g. through a group commit); default: a commit of its own. */
  readonly commit?: (writes: (batch: WriteBatch) => void) => Promise<unknown>;
}

export async function acquireLease(db: Firestore, request: LeaseRequest): Promise<LeaseResult> {
  const { sub, holder, now, ttlMs, prefetched, commit } = request;
  // Optimistic: read, then write with a precondition on the read's update time. Cheaper than a
  // transaction (no lock, no extra round trip) and just as safe: a concurrent writer makes the
  // precondition fail and the caller retries from a fresh read. The read may come from the
  // batch's bulk read: however old it is, a write since then fails the precondition.
  const ref = connectionRef(db, sub);
  const snapshot = prefetched ?? (await ref.get());
  const connection = snapshot.exists ? (snapshot.data() as ConnectionDoc) : undefined;
  if (!connection || (connection.state !== 'active' && connection.state !== 'revoke-pending'))
    return { kind: 'not-runnable', connection };
  const lease = connection.refreshLease;
  if (lease && lease.holder !== holder && lease.until.toMillis() > now)
    return { kind: 'busy', until: lease.until.toMillis() };
  const refreshLease = { holder, until: Timestamp.fromMillis(now + ttlMs) };
  try {
    const precondition = { lastUpdateTime: snapshot.updateTime as Timestamp };
    if (commit) await commit((batch) => batch.update(ref, { refreshLease }, precondition));
    else await ref.update({ refreshLease }, precondition);
  } catch (error) {
    // FAILED_PRECONDITION: someone wrote the document since our read; look again shortly.
    if ((error as { code?: unknown }).code === 9) return { kind: 'busy', until: now + 200 };
    throw error;
  }
  return { kind: 'acquired', connection: { ...connection, refreshLease } };
}

/** The connection documents of a batch in one round trip, for acquireLease's first attempt. */
export async function readConnections(
  db: Firestore,
  subs: readonly string[],
): Promise<Map<string, DocumentSnapshot>> {
  const snapshots = new Map<string, DocumentSnapshot>();
  if (subs.length === 0) return snapshots;
  for (const snapshot of await db.getAll(...subs.map((sub) => connectionRef(db, sub))))
    snapshots.set(snapshot.id, snapshot);
  return snapshots;
}

/** Gives the lease back without any other change (halted run, transient failure). */
export async function releaseLease(db: Firestore, sub: string): Promise<void> {
  await connectionRef(db, sub).update({ refreshLease: null });
}
