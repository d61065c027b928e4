// An access token for one user: the stored one while it outlives the user's remaining budget
// (every job of this user may still start until the deadline) plus a safety margin, else a
// refresh (shared/oauth/refresh.ts) under the caller's lease, with backoff inside the user's
// budget. Nothing is persisted here: the caller writes the new token explicitly (never from the
// library's `tokens` event, which may never finish in a serverless instance).
import { DPOP_KEY_MISSING, OperationError, REFRESH_TOKEN_MISSING } from '../errors.ts';
import { dpopFetch } from '../oauth/dpop.ts';
import type { PurposeKeys } from '../crypto/keyset.ts';
import { refreshAccessToken, type FetchLike } from '../oauth/refresh.ts';
import { openToken, type Connection } from '../store/connection/document.ts';
import { withBackoff, type BackoffOptions } from '../retry/backoff.ts';
import type { RunDeps } from './deps.ts';

/**
 * Beyond the deadline: a request started just before it still carries a token Google accepts.
 * The decision is ours alone; the job's client is never told an expiry (jobs-step.ts), so it
 * never refreshes, nor gives up, on its own.
 */
const SAFETY_MARGIN_MS = 60_000;

export interface UserToken {
  readonly accessToken: string;
  readonly expiresAt: number;
  /** Granted scopes as last reported by Google. */
  readonly scopes: readonly string[];
  /** True when this token came from a refresh and must be persisted. */
  readonly refreshed: boolean;
  /** Set only if the server rotated the refresh token (Google does not). */
  readonly newRefreshToken: string | undefined;
}

export interface TokenRequest {
  readonly connection: Connection;
  readonly keys: PurposeKeys;
  /** No refresh attempt starts after this. */
  readonly deadline: number;
  /** Refresh even when the stored token is still good (a job's 401). */
  readonly force: boolean;
  /** Told of each retry (the user's lanes slow down on a 429). */
  readonly onRetry?: BackoffOptions['onRetry'];
}

/**
 * The fetch for this connection's refresh: with a DPoP proof by the key its refresh token is
 * bound to (shared/oauth/dpop.ts), plain for a token issued without DPoP.
 */
async function tokenFetch(deps: RunDeps, connection: Connection): Promise<FetchLike> {
  if (connection.dpopJkt === null) return deps.fetch;
  const dpop = await deps.runtime.dpopKeys();
  if (dpop === undefined)
    throw new OperationError(
      DPOP_KEY_MISSING,
      'the refresh token is DPoP-bound but DPOP_KEYS is not set',
    );
  return dpopFetch(deps.fetch, dpop, connection.dpopJkt);
}

export async function obtainToken(deps: RunDeps, request: TokenRequest): Promise<UserToken> {
  const { connection, keys, deadline } = request;
  const { runtime } = deps;
  const now = runtime.clock.now();
  const cachedUntil = connection.accessTokenExpiresAt?.getTime() ?? 0;
  const needed = Math.max(deadline, now) + SAFETY_MARGIN_MS;
  if (!request.force && connection.accessToken !== null && cachedUntil > needed) {
    return {
      accessToken: openToken(keys, connection.sub, 'accessToken', connection.accessToken),
      expiresAt: cachedUntil,
      scopes: connection.scopes,
      refreshed: false,
      newRefreshToken: undefined,
    };
  }
  if (connection.refreshToken === null)
    throw new OperationError(REFRESH_TOKEN_MISSING, 'no refresh token stored');
  const refreshToken = openToken(keys, connection.sub, 'refreshToken', connection.refreshToken);
  const clientSecret = await runtime.clientSecret();
  const fetchFn = await tokenFetch(deps, connection);
  const refreshed = await withBackoff(
    () =>
      refreshAccessToken(
        fetchFn,
        {
          tokenUrl: runtime.config.google.tokenUrl,
          clientId: runtime.config.clientId,
          clientSecret,
          refreshToken,
        },
        runtime.clock.now(),
      ),
    {
      clock: runtime.clock,
      deadline,
      random: deps.random,
      sleep: deps.sleep,
      baseMs: deps.backoffBaseMs,
      ...(request.onRetry ? { onRetry: request.onRetry } : {}),
    },
  );
  return {
    accessToken: refreshed.accessToken,
    expiresAt: refreshed.expiresAt,
    // Recheck on every refresh: the user may have removed a scope since consent.
    scopes: refreshed.scopes ?? connection.scopes,
    refreshed: true,
    newRefreshToken: refreshed.refreshToken,
  };
}
