// The connection document `connections/{sub}` (docs/architecture.md#data-model): one per Google
// user, keyed by the ID token's `sub` (stable; emails change). Declared once here, with times as
// Dates; each transport encodes it (./rest-backend.ts, ./grpc-backend.ts) and `StoredConnection`
// is the same shape as @google-cloud/firestore reads it back. Tokens are stored only sealed with
// AES-256-GCM, bound to this document and field, so a ciphertext copied into another user's
// document (or into another field) fails to open.
import type { Timestamp } from '@google-cloud/firestore';
import { open, seal } from '../../crypto/aead.ts';
import type { PurposeKeys } from '../../crypto/keyset.ts';

export const CONNECTIONS = 'connections';

export type ConnectionState = 'active' | 'needs-reconnect' | 'revoke-pending' | 'revoked';
export type TokenField = 'refreshToken' | 'accessToken';

/** A delivery's hold on the user: a random token per acquisition, and when it lapses. */
export interface Lease {
  readonly holder: string;
  readonly until: Date;
}

/** Google refused a revocation for good (a 4xx other than invalid_token): a configuration fault. */
export interface RevokeRefusal {
  readonly error: string;
  readonly status: number;
  /** Fingerprint of the OAuth client configuration that was refused; a new one retries. */
  readonly client: string;
  readonly at: Date;
}

/** Where one job stands for this user (docs/jobs.md#job-status). */
export type JobStatus =
  /** Its last run succeeded. */
  | 'ok'
  /** Its last run failed for good (the next period tries again). */
  | 'failed'
  /** The grant lacks some of its scopes: only this job waits for an incremental consent. */
  | 'needs-consent'
  /** The user's settings for it are missing or invalid: it waits for the app to set them. */
  | 'needs-settings'
  /** Its last run failed transiently: the delivery is retried. */
  | 'retry';

export interface JobState {
  readonly status: JobStatus;
  /** The job period (its run id) in which it last ran to an end (ok or failed), else null. */
  readonly period: string | null;
  /** The last successful run's effect and details (kept when a later run fails). */
  readonly effect: string | null;
  readonly details: Readonly<Record<string, number | string | boolean>> | null;
  /** Why it is not ok: a failure reason, the settings problem. */
  readonly reason: string | null;
  /** needs-consent: the scopes the grant lacks. */
  readonly missingScopes: readonly string[];
  /** What the job asked to remember at its last success (JobResult.remember); absent before. */
  readonly memory?: Readonly<Record<string, number | string | boolean>> | null;
  readonly at: Date;
}

export interface Connection {
  readonly sub: string;
  readonly email: string | null;
  /** The app's own user id, when the connection was made through a connect link. */
  readonly appUserId: string | null;
  readonly state: ConnectionState;
  /** Scopes Google reports as granted (normalised URLs). */
  readonly scopes: readonly string[];
  /** Sealed, or null when none is stored. */
  readonly refreshToken: string | null;
  /**
   * base64 SHA-512(SHA-512(refresh token)): how Google's Cross-Account Protection names one
   * refresh token (`token-revoked`); a one-way digest of a high-entropy secret, never the token.
   */
  readonly refreshTokenHash: string | null;
  /** The DPoP key thumbprint (RFC 7638) the refresh token is bound to, when DPoP is on. */
  readonly dpopJkt: string | null;
  /** Only for Testing-mode or time-based grants (`refresh_token_expires_in`). */
  readonly refreshTokenExpiresAt: Date | null;
  readonly accessToken: string | null;
  readonly accessTokenExpiresAt: Date | null;
  readonly connectedAt: Date | null;
  readonly updatedAt: Date;
  /** Why the user must consent again (needs-reconnect), e.g. `invalid_grant`, `scope:<url>`. */
  readonly reconnectReason: string | null;
  readonly refreshLease: Lease | null;
  readonly lastRun: { readonly runId: string; readonly outcome: string; readonly at: Date } | null;
  /** Per job (by name): its last outcome, kept across reconnects. */
  readonly jobs: Readonly<Record<string, JobState>>;
  /** When the app last changed this user's job settings (../job-settings.ts). */
  readonly settingsUpdatedAt: Date | null;
  /** Google said the account is disabled (not hijacked): runs skip the user until it is enabled. */
  readonly paused: { readonly reason: string; readonly at: Date } | null;
  readonly revokePendingSince: Date | null;
  readonly revokeRefusal: RevokeRefusal | null;
  readonly revokedAt: Date | null;
}

/** The fields a revoked connection keeps: only that this Google user was connected once. */
export const REVOKED_FIELDS = ['sub', 'state', 'revokedAt', 'updatedAt'] as const;

/** What is written: a revoked connection keeps REVOKED_FIELDS only. */
export function storedFields(connection: Connection): Partial<Connection> {
  if (connection.state !== 'revoked') return connection;
  const kept: Record<string, unknown> = {};
  for (const field of REVOKED_FIELDS) kept[field] = connection[field];
  return kept;
}

/**
 * The connection with every field the given ones leave out empty: what a stored document lacks
 * (a revoked one), or what a transition that clears everything keeps.
 */
export function completeConnection(
  fields: Partial<Connection> & Pick<Connection, 'sub' | 'state'>,
): Connection {
  return {
    email: null,
    appUserId: null,
    scopes: [],
    refreshToken: null,
    refreshTokenHash: null,
    dpopJkt: null,
    refreshTokenExpiresAt: null,
    accessToken: null,
    accessTokenExpiresAt: null,
    connectedAt: null,
    updatedAt: new Date(0),
    reconnectReason: null,
    refreshLease: null,
    lastRun: null,
    jobs: {},
    settingsUpdatedAt: null,
    paused: null,
    revokePendingSince: null,
    revokeRefusal: null,
    revokedAt: null,
    ...fields,
  };
}

/** A Connection as @google-cloud/firestore reads it: every Date is a Timestamp. */
export type StoredConnection = {
  -readonly [K in keyof Connection]: Stored<Connection[K]>;
};
type Stored<T> = T extends Date
  ? Timestamp
  : T extends readonly (infer E)[]
    ? Stored<E>[]
    : T extends object
      ? { -readonly [K in keyof T]: Stored<T[K]> }
      : T;

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
 * A Google account id, as Google issues it: digits, at most 255 characters (OpenID Connect Core
 * §2 bounds `sub` at 255 ASCII characters; Google's are decimal). Every document path built from
 * a `sub` (connections, ledger, settings) checks this first, so none can hold '/', a reserved
 * `__.*__` id, or anything else Firestore would refuse.
 */
export function isValidSub(sub: string): boolean {
  return /^[0-9]{1,255}$/.test(sub);
}
