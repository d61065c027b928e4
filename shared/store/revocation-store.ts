// The documents of a revocation (shared/flows/revoke.ts), over Firestore's REST API like the
// consent (shared/store/consent-store.ts): a person waits on the unsubscribe page, and revoke's
// cold start is then free of gRPC and protobufjs (npm run bench:coldstart). Each change of the
// connection is one commit together with its revocation record: never one without the other.
import { connectionPath, REVOCATIONS, type ConnectionState } from './connections.ts';
import { newDocumentId, type FirestoreDocuments, type Write } from './firestore-rest.ts';
import { stringField, toFields } from './firestore-values.ts';

/** How long revocation records are kept (TTL field `expireAt`). */
const REVOCATION_RECORD_DAYS = 400;

/** What revoke needs of a stored connection. */
export interface RevocableConnection {
  readonly state: ConnectionState | undefined;
  /** Sealed (shared/store/connections.ts), or null when none is stored. */
  readonly refreshToken: string | null;
}

/** Who revoked, and what Google said; stored without any token. */
export interface RevocationEntry {
  readonly sub: string;
  readonly via: string;
  readonly actor: string;
  readonly googleResult: string;
}

export async function readRevocableConnection(
  documents: FirestoreDocuments,
  sub: string,
): Promise<RevocableConnection | undefined> {
  const fields = await documents.get(connectionPath(sub));
  if (fields === undefined) return undefined;
  return {
    state: stringField(fields, 'state') as ConnectionState | undefined,
    refreshToken: stringField(fields, 'refreshToken') ?? null,
  };
}

/**
 * Google could not be told: the connection is never used again and every scheduled run retries.
 * Only the sealed refresh token stays, for that retry; everything else usable is dropped.
 */
export async function storeRevokePending(
  documents: FirestoreDocuments,
  entry: RevocationEntry,
  alreadyPending: boolean,
  now: number,
): Promise<void> {
  const at = new Date(now);
  const state: ConnectionState = 'revoke-pending';
  const update = {
    state,
    ...(alreadyPending ? {} : { revokePendingSince: at }),
    updatedAt: at,
    accessToken: null,
    accessTokenExpiresAt: null,
    refreshLease: null,
  };
  await documents.commit([
    {
      update: { name: documents.name(connectionPath(entry.sub)), fields: toFields(update) },
      updateMask: { fieldPaths: Object.keys(update) },
      currentDocument: { exists: true },
    },
    recordWrite(documents, entry, now),
  ]);
}

/**
 * Overwrites the whole connection: every token, the email and the scopes are gone; what remains
 * says only that this Google user was connected once and is now revoked.
 */
export async function storeRevoked(
  documents: FirestoreDocuments,
  entry: RevocationEntry,
  now: number,
): Promise<void> {
  const at = new Date(now);
  const state: ConnectionState = 'revoked';
  await documents.commit([
    {
      update: {
        name: documents.name(connectionPath(entry.sub)),
        fields: toFields({ sub: entry.sub, state, revokedAt: at, updatedAt: at }),
      },
    },
    recordWrite(documents, entry, now),
  ]);
}

function recordWrite(documents: FirestoreDocuments, entry: RevocationEntry, now: number): Write {
  return {
    update: {
      name: documents.name(`${REVOCATIONS}/${newDocumentId()}`),
      fields: toFields({
        sub: entry.sub,
        at: new Date(now),
        via: entry.via,
        actor: entry.actor,
        googleResult: entry.googleResult,
        expireAt: new Date(now + REVOCATION_RECORD_DAYS * 86400e3),
      }),
    },
    currentDocument: { exists: false },
  };
}
