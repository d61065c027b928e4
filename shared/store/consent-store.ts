// Stores a finished consent as the user's connection document (docs/architecture.md#data-model),
// all or nothing, over Firestore's REST API (shared/store/firestore-rest.ts: the callback's cold
// start).
// A first connection, the common case, is one commit that fails if the document exists. Otherwise,
// or when it does exist, one transaction reads what is stored and decides; Firestore aborts it if
// another writer got there first, and it is retried like the client library's runTransaction.
import type { PurposeKeys } from '../crypto/keyset.ts';
import type { CodeExchangeResult } from '../oauth/callback.ts';
import { normaliseScopes } from '../oauth/scopes.ts';
import { connectionPath, sealToken, type ConnectionState } from './connections.ts';
import { isFirestoreStatus, type FirestoreDocuments } from './firestore-rest.ts';
import { stringField, toFields, type Fields } from './firestore-values.ts';

export type ConsentOutcome =
  /** Stored: a first connection. */
  | 'connected'
  /** Stored over an earlier connection document (active, needing reconnection, or revoked). */
  | 'reconnected'
  /** Nothing stored: Google sent no refresh token and none is stored (restart with consent). */
  | 'needs-refresh-token'
  /** Nothing stored: a revocation of this user is still being completed. */
  | 'revoke-pending';

/** Firestore's own runTransaction makes 5 attempts. */
const TRANSACTION_ATTEMPTS = 5;

export async function storeConsent(
  documents: FirestoreDocuments,
  tokenKeys: PurposeKeys,
  result: CodeExchangeResult,
  now: number,
): Promise<ConsentOutcome> {
  const path = connectionPath(result.sub);
  const name = documents.name(path);
  const fresh = freshConnection(tokenKeys, result, now);

  if (result.refreshToken !== undefined) {
    try {
      await documents.commit([
        { update: { name, fields: fresh }, currentDocument: { exists: false } },
      ]);
      return 'connected';
    } catch (error) {
      if (!isFirestoreStatus(error, 'ALREADY_EXISTS')) throw error;
    }
  }

  let transaction: string | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const read = await documents.readForUpdate(path, transaction);
    transaction = read.transaction;
    try {
      const existing = read.fields;
      const decision = decide(existing, fresh, result);
      if (typeof decision === 'string') {
        await documents.rollback(transaction);
        return decision;
      }
      await documents.commit([{ update: { name, fields: decision.fields } }], transaction);
      return decision.outcome;
    } catch (error) {
      if (isFirestoreStatus(error, 'ABORTED') && attempt < TRANSACTION_ATTEMPTS) continue;
      throw error;
    }
  }
}

/** The whole document of a connection made now. */
function freshConnection(tokenKeys: PurposeKeys, result: CodeExchangeResult, now: number): Fields {
  const at = new Date(now);
  const state: ConnectionState = 'active';
  return toFields({
    sub: result.sub,
    email: result.email,
    state,
    scopes: normaliseScopes(result.grantedScopes),
    refreshToken:
      result.refreshToken === undefined
        ? null
        : sealToken(tokenKeys, result.sub, 'refreshToken', result.refreshToken),
    refreshTokenExpiresAt:
      result.refreshToken === undefined || result.refreshTokenExpiresInSeconds === undefined
        ? null
        : new Date(now + result.refreshTokenExpiresInSeconds * 1000),
    accessToken: sealToken(tokenKeys, result.sub, 'accessToken', result.accessToken),
    accessTokenExpiresAt: new Date(result.accessTokenExpiresAt),
    connectedAt: at,
    updatedAt: at,
    reconnectReason: null,
    refreshLease: null,
    lastRun: null,
    revokePendingSince: null,
    revokedAt: null,
  });
}

/**
 * What to write over what is stored. Kept from the stored document, as Firestore answered them:
 * when the user first connected, the last run, and (Google does not rotate refresh tokens) the
 * refresh token when the answer brought none.
 */
function decide(
  existing: Fields | undefined,
  fresh: Fields,
  result: CodeExchangeResult,
):
  | { fields: Fields; outcome: 'connected' | 'reconnected' }
  | 'needs-refresh-token'
  | 'revoke-pending' {
  if (existing === undefined) {
    if (result.refreshToken === undefined) return 'needs-refresh-token';
    return { fields: fresh, outcome: 'connected' };
  }
  const state = stringField(existing, 'state');
  if (state === 'revoke-pending') return 'revoke-pending';
  // Only an active connection's refresh token may be kept.
  const storedRefreshToken = state === 'active' ? stringField(existing, 'refreshToken') : undefined;
  if (result.refreshToken === undefined && storedRefreshToken === undefined)
    return 'needs-refresh-token';
  const fields: Fields = { ...fresh };
  for (const kept of ['connectedAt', 'lastRun'] as const)
    if (existing[kept] !== undefined) fields[kept] = existing[kept];
  if (result.refreshToken === undefined) {
    fields.refreshToken = { stringValue: storedRefreshToken };
    fields.refreshTokenExpiresAt = existing.refreshTokenExpiresAt ?? { nullValue: 'NULL_VALUE' };
  }
  return { fields, outcome: 'reconnected' };
}
