// The connection state machine (docs/architecture.md#connection-states): every change of a
// connection is one of these pure decisions, from the document as read to the document to write.
// ./repository.ts applies them with a precondition on the version read, and decides again from a
// fresh read when another writer got there first; so no decision is ever written over a newer one.
//
// Who wins: a user's decision (a consent, a revoke) always takes effect, from any state, and
// drops any run's lease; a run's transitions need the lease they took, so once a user decided,
// the run's later writes find the lease gone and the run drops that user ("superseded").
import {
  completeConnection,
  type Connection,
  type JobState,
  type Lease,
  type RevokeRefusal,
} from './document.ts';

/** A decision: the document to write, or why nothing is written. */
export type Decision<Refusal extends string> =
  { readonly write: Connection } | { readonly refuse: Refusal };

export interface ConsentInput {
  readonly sub: string;
  readonly email: string | null;
  /** Normalised scopes Google granted. */
  readonly scopes: readonly string[];
  /** Sealed; undefined when Google sent none (a reconsent without prompt=consent). */
  readonly refreshToken: string | undefined;
  /** Its Cross-Account Protection digest (./document.ts), with it. */
  readonly refreshTokenHash: string | undefined;
  /** The DPoP key it is bound to, with it (DPoP on). */
  readonly dpopJkt?: string | undefined;
  readonly refreshTokenExpiresAt: Date | null;
  readonly accessToken: string;
  readonly accessTokenExpiresAt: Date;
  /** The app user a connect link named; null keeps the one stored. */
  readonly appUserId: string | null;
  readonly now: Date;
}

export type ConsentRefusal =
  /** Google sent no refresh token and none usable is stored: consent again with prompt=consent. */
  | 'needs-refresh-token'
  /** A revocation of this user is still being completed. */
  | 'revoke-pending'
  /** This Google account is connected for another of the app's users. */
  | 'other-app-user';

/** Consent stored: a first connection, a reconnect, or an incremental consent. */
export function consentStored(
  current: Connection | undefined,
  input: ConsentInput,
): Decision<ConsentRefusal> {
  if (current?.state === 'revoke-pending') return { refuse: 'revoke-pending' };
  if (
    input.appUserId !== null &&
    current?.appUserId != null &&
    current.appUserId !== input.appUserId &&
    current.state !== 'revoked'
  )
    return { refuse: 'other-app-user' };
  // Only an active connection's refresh token may be kept: Google does not rotate it, and an
  // answer without one (the user had consented before) means the stored one still works.
  const kept = current?.state === 'active' ? current.refreshToken : null;
  if (input.refreshToken === undefined && kept === null) return { refuse: 'needs-refresh-token' };
  return {
    write: {
      sub: input.sub,
      email: input.email,
      appUserId: input.appUserId ?? current?.appUserId ?? null,
      state: 'active',
      scopes: input.scopes,
      refreshToken: input.refreshToken ?? kept,
      refreshTokenHash:
        input.refreshToken === undefined
          ? (current?.refreshTokenHash ?? null)
          : (input.refreshTokenHash ?? null),
      // The binding follows the refresh token: kept with a kept token, new with a new one.
      dpopJkt:
        input.refreshToken === undefined ? (current?.dpopJkt ?? null) : (input.dpopJkt ?? null),
      refreshTokenExpiresAt:
        input.refreshToken === undefined
          ? (current?.refreshTokenExpiresAt ?? null)
          : input.refreshTokenExpiresAt,
      accessToken: input.accessToken,
      accessTokenExpiresAt: input.accessTokenExpiresAt,
      connectedAt: current?.connectedAt ?? input.now,
      updatedAt: input.now,
      reconnectReason: null,
      // A run working on this user loses it: its later writes are superseded.
      refreshLease: null,
      lastRun: current?.lastRun ?? null,
      // Job history and the app's settings outlive a reconnect.
      jobs: current?.jobs ?? {},
      settingsUpdatedAt: current?.settingsUpdatedAt ?? null,
      // A consent proves the account works again.
      paused: null,
      revokePendingSince: null,
      revokeRefusal: null,
      revokedAt: null,
    },
  };
}

export type LeaseRefusal = 'not-runnable' | 'busy';

/** A delivery takes the user: only active or revoke-pending ones, and only a free lease. */
export function leaseTaken(
  current: Connection | undefined,
  lease: Lease,
  now: Date,
): Decision<LeaseRefusal> {
  if (current === undefined || (current.state !== 'active' && current.state !== 'revoke-pending'))
    return { refuse: 'not-runnable' };
  if (current.state === 'active' && current.paused !== null) return { refuse: 'not-runnable' };
  const held = current.refreshLease;
  if (held && held.holder !== lease.holder && held.until.getTime() > now.getTime())
    return { refuse: 'busy' };
  return { write: { ...current, refreshLease: lease } };
}

/** A run's transitions need its own lease on a connection still in the state it leased. */
export function holds(current: Connection | undefined, holder: string): current is Connection {
  return current !== undefined && current.refreshLease?.holder === holder;
}

export interface RunOutcome {
  readonly holder: string;
  readonly runId: string;
  readonly outcome: string;
  readonly now: Date;
  /** A refreshed access token to keep (sealed), with the scopes Google reported. */
  readonly refreshed?: {
    readonly accessToken: string;
    readonly accessTokenExpiresAt: Date;
    readonly scopes: readonly string[];
    /** Set only if the server rotated the refresh token (Google does not). */
    readonly refreshToken?: string;
  };
  /** The jobs this run decided (merged into the stored ones by name). */
  readonly jobs?: Readonly<Record<string, JobState>>;
}

/**
 * How every run ending begins: only from the lease the run holds on a connection still active,
 * with the lease released and the run's outcome recorded; `changes` adds the ending's own fields.
 */
function runEnded(
  current: Connection | undefined,
  input: RunOutcome,
  changes: Partial<Connection>,
): Decision<'superseded'> {
  if (!holds(current, input.holder) || current.state !== 'active') return { refuse: 'superseded' };
  return {
    write: {
      ...current,
      ...changes,
      jobs: { ...current.jobs, ...input.jobs },
      refreshLease: null,
      lastRun: { runId: input.runId, outcome: input.outcome, at: input.now },
      updatedAt: input.now,
    },
  };
}

/** The run is done with the user: the outcome recorded, any new token kept, the lease released. */
export function runOutcomeRecorded(
  current: Connection | undefined,
  input: RunOutcome,
): Decision<'superseded'> {
  const { refreshed } = input;
  return runEnded(
    current,
    input,
    refreshed
      ? {
          accessToken: refreshed.accessToken,
          accessTokenExpiresAt: refreshed.accessTokenExpiresAt,
          scopes: refreshed.scopes,
          ...(refreshed.refreshToken ? { refreshToken: refreshed.refreshToken } : {}),
        }
      : {},
  );
}

/** What a connection whose grant is dead keeps of its tokens: nothing. */
const NO_TOKENS = {
  refreshToken: null,
  refreshTokenHash: null,
  dpopJkt: null,
  refreshTokenExpiresAt: null,
  accessToken: null,
  accessTokenExpiresAt: null,
} as const satisfies Partial<Connection>;

export interface ReconnectNeed extends RunOutcome {
  readonly reason: string;
  /** A dead refresh token is destroyed; a missing scope keeps the grant for a re-consent. */
  readonly destroyTokens: boolean;
}

export function needsReconnect(
  current: Connection | undefined,
  input: ReconnectNeed,
): Decision<'superseded'> {
  return runEnded(current, input, {
    state: 'needs-reconnect',
    reconnectReason: input.reason,
    ...(input.destroyTokens ? NO_TOKENS : { accessToken: null, accessTokenExpiresAt: null }),
  });
}

export type SecurityRefusal = 'not-connected';

/** A connection Google's security events may still act on: stored, not revoked or revoking. */
function securable(current: Connection | undefined): current is Connection {
  return (
    current !== undefined && (current.state === 'active' || current.state === 'needs-reconnect')
  );
}

/**
 * Google says the user's tokens were revoked (RISC `tokens-revoked`, or `token-revoked` naming
 * the stored refresh token): the connection needs a reconnect at once, its tokens destroyed, and
 * a run working on the user loses it. From any state but revoked and revoke-pending.
 */
export function securityTokensRevoked(
  current: Connection | undefined,
  input: { readonly reason: string; readonly now: Date },
): Decision<SecurityRefusal> {
  if (!securable(current)) return { refuse: 'not-connected' };
  return {
    write: {
      ...current,
      ...NO_TOKENS,
      state: 'needs-reconnect',
      reconnectReason: input.reason,
      refreshLease: null,
      updatedAt: input.now,
    },
  };
}

/** Google disabled the account (not for hijacking): runs skip the user until it is enabled. */
export function runsPaused(
  current: Connection | undefined,
  input: { readonly reason: string; readonly now: Date },
): Decision<SecurityRefusal> {
  if (!securable(current)) return { refuse: 'not-connected' };
  return {
    write: {
      ...current,
      paused: { reason: input.reason, at: input.now },
      refreshLease: null,
      updatedAt: input.now,
    },
  };
}

export function runsResumed(
  current: Connection | undefined,
  now: Date,
): Decision<SecurityRefusal | 'not-paused'> {
  if (!securable(current)) return { refuse: 'not-connected' };
  if (current.paused === null) return { refuse: 'not-paused' };
  return { write: { ...current, paused: null, updatedAt: now } };
}

export type SettingsRefusal = 'missing' | 'revoke-pending' | 'revoked';

/**
 * The app changed the user's job settings (written in the same commit, ../job-settings.ts): only
 * while the connection is usable, so no settings outlive a revoke. A run's lease is kept.
 */
export function settingsChanged(
  current: Connection | undefined,
  now: Date,
): Decision<SettingsRefusal> {
  if (current === undefined) return { refuse: 'missing' };
  if (current.state === 'revoked' || current.state === 'revoke-pending')
    return { refuse: current.state };
  return { write: { ...current, settingsUpdatedAt: now } };
}

export interface Reseal {
  /** The sealed values as read: re-sealed only if nobody replaced them since. */
  readonly from: Pick<Connection, 'refreshToken' | 'accessToken'>;
  /** The same secrets, sealed under the new primary key. */
  readonly to: Pick<Connection, 'refreshToken' | 'accessToken'>;
}

/**
 * Key rotation re-seals a connection's tokens under the new primary key: nothing else changes,
 * and only if the stored values are still the ones it opened (a consent, a revoke or a run that
 * stored new tokens meanwhile wins: their values are sealed under the current primary already).
 */
export function tokensResealed(
  current: Connection | undefined,
  input: Reseal,
): Decision<'changed'> {
  if (
    current === undefined ||
    current.refreshToken !== input.from.refreshToken ||
    current.accessToken !== input.from.accessToken
  )
    return { refuse: 'changed' };
  return { write: { ...current, ...input.to } };
}

/** The run gives the user back unchanged (halted run, transient failure). */
/** The live holder keeps its lease (a heartbeat): a holder that stopped renewing loses it soon. */
export function leaseRenewed(
  current: Connection | undefined,
  lease: Lease,
): Decision<'superseded'> {
  if (!holds(current, lease.holder)) return { refuse: 'superseded' };
  return { write: { ...current, refreshLease: lease } };
}

export function leaseReleased(
  current: Connection | undefined,
  holder: string,
): Decision<'superseded'> {
  if (!holds(current, holder)) return { refuse: 'superseded' };
  return { write: { ...current, refreshLease: null } };
}

/**
 * Google could not be told (or refused): the connection is never used again, and only what the
 * retry needs stays: the sealed refresh token and the times. Email, scopes, the access token and
 * the connect time are dropped at once.
 */
export function revokePending(
  current: Connection | undefined,
  input: { readonly now: Date; readonly refusal: RevokeRefusal | null },
): Decision<'missing' | 'revoked'> {
  if (current === undefined) return { refuse: 'missing' };
  if (current.state === 'revoked') return { refuse: 'revoked' };
  return {
    write: completeConnection({
      sub: current.sub,
      state: 'revoke-pending',
      refreshToken: current.refreshToken,
      dpopJkt: current.dpopJkt,
      refreshTokenExpiresAt: current.refreshTokenExpiresAt,
      updatedAt: input.now,
      revokePendingSince: current.revokePendingSince ?? input.now,
      revokeRefusal: input.refusal,
    }),
  };
}

/** Every token, the email and the scopes are gone; from any state. */
export function revoked(
  current: Connection | undefined,
  now: Date,
): Decision<'missing' | 'revoked'> {
  if (current === undefined) return { refuse: 'missing' };
  if (current.state === 'revoked') return { refuse: 'revoked' };
  return {
    write: completeConnection({
      sub: current.sub,
      state: 'revoked',
      updatedAt: now,
      revokedAt: now,
    }),
  };
}
