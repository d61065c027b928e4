// The data model of a connection (docs/architecture.md#data-model): one document per Google user,
// keyed by the ID token's `sub` (stable; emails change). Tokens are stored only sealed with
// AES-256-GCM, bound to this document and field, so a ciphertext copied into another user's
// document (or into another field) fails to decrypt.
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import { open, seal } from '../crypto/aead.ts';
import type { PurposeKeys } from '../crypto/keyset.ts';

export const CONNECTIONS = 'connections';
export const REVOCATIONS = 'revocations';

export type ConnectionState = 'active' | 'needs-reconnect' | 'revoke-pending' | 'revoked';
export type TokenField = 'refreshToken' | 'accessToken';

/** The stored document. Timestamps are Firestore Timestamps; tokens are sealed strings. */
export interface ConnectionDoc {
  sub: string;
  email: string | null;
  state: ConnectionState;
  /** Scopes Google reports as granted (normalised URLs). */
  scopes: string[];
  refreshToken: string | null;
  /** Only for Testing-mode or time-based grants (`refresh_token_expires_in`). */
  refreshTokenExpiresAt: Timestamp | null;
  accessToken: string | null;
  accessTokenExpiresAt: Timestamp | null;
  connectedAt: Timestamp;
  updatedAt: Timestamp;
  /** Why the user must consent again (needs-reconnect), e.g. `invalid_grant`, `scope:<url>`. */
  reconnectReason: string | null;
  /** Cross-instance refresh lease (shared/runs): holder id and expiry. */
  refreshLease: { holder: string; until: Timestamp } | null;
  lastRun: { runId: string; outcome: string; at: Timestamp } | null;
  revokePendingSince: Timestamp | null;
  revokedAt: Timestamp | null;
}

export function connectionPath(sub: string): string {
  return `${CONNECTIONS}/${sub}`;
}

/** What a ciphertext is bound to: the document identity and the field. */
export function tokenBinding(sub: string, field: TokenField): string {
  return `${connectionPath(sub)}#${field}`;
}

export function sealToken(
  keys: PurposeKeys,
  sub: string,
  field: TokenField,
  token: string,
): string {
  return seal(keys, token, tokenBinding(sub, field));
}

export function openToken(
  keys: PurposeKeys,
  sub: string,
  field: TokenField,
  sealed: string,
): string {
  return open(keys, sealed, tokenBinding(sub, field)).toString('utf8');
}

/**
 * Firestore document ids may not contain '/' nor match `__.*__` (reserved: reading such a
 * document fails), and Google subs are digits; be strict.
 */
export function isValidSub(sub: string): boolean {
  return /^[0-9A-Za-z_-]{1,255}$/.test(sub) && !/^__.*__$/.test(sub);
}

export function connectionRef(db: Firestore, sub: string) {
  return db.collection(CONNECTIONS).doc(sub);
}
