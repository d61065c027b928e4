// The callback's OAuth steps, named after the spec (RFC 6749 §4.1.2, RFC 9207, OIDC Core §3.1.3.7):
// validateAuthResponse → exchangeCode → verifyIdToken. A code can be exchanged only through a
// ValidatedAuthResponse, which only validateAuthResponse produces (branded type): the unsafe
// order (exchange before checking state) does not compile.
import type { Credentials, OAuth2Client } from 'google-auth-library';
import type { Config } from '../settings/config.ts';
import { AppError, KMS_ERROR, ServiceError } from '../errors.ts';
import { classifyError } from '../retry/classify.ts';
import { requestedScopes } from './authorization.ts';
import { safeEqual, singleParam } from '../web/http.ts';
import type { AuthTransaction } from './transaction.ts';
import { oauthErrorOf, sharedOAuthClient } from './google-client.ts';
import type { DpopKeys } from './dpop.ts';
import { isValidSub } from '../store/connection/document.ts';

declare const validatedBrand: unique symbol;

export interface ValidatedAuthResponse {
  readonly code: string;
  readonly transaction: AuthTransaction;
  readonly [validatedBrand]: true;
}

/**
 * Checks the authorization response against the browser's transaction: state (constant time,
 * single use is the caller clearing the cookie), expiry, issuer (RFC 9207) and Google's error.
 */
export function validateAuthResponse(
  params: URLSearchParams,
  transaction: AuthTransaction | undefined,
  options: { now: number; issuers: readonly string[] },
): ValidatedAuthResponse {
  const state = singleParam(params, 'state', { maxLength: 512 });
  if (transaction === undefined)
    throw new AppError(
      'transaction_missing',
      400,
      'This sign-in was started in another browser, or it expired. Please start again.',
    );
  if (state === undefined || !safeEqual(state, transaction.state))
    throw new AppError(
      'state_mismatch',
      400,
      'This sign-in could not be verified. Please start again.',
    );
  if (options.now > transaction.expiresAt)
    throw new AppError(
      'transaction_expired',
      400,
      'This sign-in took too long and expired. Please start again.',
    );
  const issuer = singleParam(params, 'iss', { maxLength: 256 });
  if (issuer !== undefined && !options.issuers.includes(issuer))
    throw new AppError('state_mismatch', 400, 'This sign-in came from an unexpected issuer.');
  const error = singleParam(params, 'error', { maxLength: 256 });
  if (error === 'access_denied')
    throw new AppError(
      'consent_denied',
      403,
      'Nothing was connected. You can connect whenever you like.',
    );
  if (error !== undefined)
    throw new AppError(
      'oauth_error',
      400,
      'Google could not complete the sign-in. Please try again.',
      {
        detail: `authorization error ${error}`,
      },
    );
  const code = singleParam(params, 'code', { maxLength: 2048, required: true });
  return { code, transaction } as ValidatedAuthResponse;
}

export interface CodeExchangeResult {
  readonly refreshToken: string | undefined;
  readonly refreshTokenExpiresInSeconds: number | undefined;
  readonly accessToken: string;
  readonly accessTokenExpiresAt: number;
  readonly grantedScopes: readonly string[];
  readonly sub: string;
  readonly email: string | null;
  /** The DPoP key the new refresh token is bound to (DPoP on, a refresh token issued). */
  readonly dpopJkt?: string;
}

/** Exchanges the code with the PKCE verifier and verifies the ID token, nonce included. */
export async function exchangeCode(
  config: Pick<Config, 'clientId' | 'redirectUri' | 'google' | 'jobs'>,
  clientSecret: string,
  response: ValidatedAuthResponse,
  options: {
    readonly now: number;
    /** DPoP on: the exchange carries a proof, and the refresh token is bound to our key. */
    readonly dpop?: DpopKeys | undefined;
  },
): Promise<CodeExchangeResult> {
  const { now, dpop } = options;
  const client = await sharedOAuthClient(config, clientSecret);
  if (dpop) sendDpopProofs(client, dpop, config.google.tokenUrl);
  // Fetch Google's certificates while the code is exchanged: the client caches them (honouring
  // max-age) for verifyIdToken below, which fetches again if this failed.
  const certificates = client.getFederatedSignonCertsAsync().catch(() => undefined);
  let tokens: Credentials;
  const exchange = () =>
    client.getToken({
      code: response.code,
      codeVerifier: response.transaction.codeVerifier,
      redirect_uri: config.redirectUri,
    });
  try {
    try {
      ({ tokens } = await exchange());
    } catch (error) {
      // RFC 9449 §8: the server wants a nonce; the proof carries it on the one retry (the code
      // is checked after the proof, so it is still unused).
      if (dpop === undefined || oauthErrorOf(error).error !== 'use_dpop_nonce') throw error;
      dpop.noteNonce(
        dpopNonceOf((error as { response?: { headers?: unknown } }).response?.headers),
      );
      ({ tokens } = await exchange());
    }
  } catch (error) {
    throw classifyTokenError(error);
  }
  if (typeof tokens.access_token !== 'string' || typeof tokens.id_token !== 'string')
    throw new AppError(
      'upstream_unavailable',
      502,
      'Google gave an incomplete answer. Please try again.',
    );

  await certificates;
  let payload;
  try {
    const ticket = await client.verifyIdToken({
      idToken: tokens.id_token,
      audience: config.clientId,
    });
    payload = ticket.getPayload();
  } catch (error) {
    throw new AppError(
      'id_token_invalid',
      400,
      'Google’s answer could not be verified. Please start again.',
      {
        cause: error,
        detail: 'ID token verification failed',
      },
    );
  }
  // verifyIdToken does not check the nonce (docs/google-behaviours.md#id-tokens): OIDC Core
  // §3.1.3.7 step 11. The `sub` names documents: it must look like Google's.
  if (
    !payload?.sub ||
    !isValidSub(payload.sub) ||
    typeof payload.nonce !== 'string' ||
    !safeEqual(payload.nonce, response.transaction.nonce)
  )
    throw new AppError(
      'id_token_invalid',
      400,
      'Google’s answer could not be verified. Please start again.',
      {
        detail:
          payload?.sub && !isValidSub(payload.sub)
            ? 'ID token sub is not a Google account id'
            : 'ID token nonce mismatch',
      },
    );
  const extra = tokens as { refresh_token_expires_in?: unknown };
  return {
    refreshToken:
      typeof tokens.refresh_token === 'string' && tokens.refresh_token !== ''
        ? tokens.refresh_token
        : undefined,
    refreshTokenExpiresInSeconds:
      typeof extra.refresh_token_expires_in === 'number'
        ? extra.refresh_token_expires_in
        : undefined,
    accessToken: tokens.access_token,
    accessTokenExpiresAt:
      typeof tokens.expiry_date === 'number' ? tokens.expiry_date : now + 3599_000,
    // RFC 6749 §5.1: `scope` may be left out when it equals the request.
    grantedScopes:
      typeof tokens.scope === 'string'
        ? tokens.scope.split(' ').filter((scope) => scope !== '')
        : requestedScopes(config),
    sub: payload.sub,
    email: payload.email ?? null,
    ...(dpop && typeof tokens.refresh_token === 'string' && tokens.refresh_token !== ''
      ? { dpopJkt: dpop.primaryJkt }
      : {}),
  };
}

const DPOP_CLIENTS = new WeakSet<object>();

/** The DPoP-Nonce header of an answer (a Headers-like object, or a plain one). */
function dpopNonceOf(headers: unknown): string | null {
  if (typeof (headers as { get?: unknown } | undefined)?.get === 'function')
    return (headers as { get(name: string): string | null }).get('dpop-nonce');
  const value = (headers as Record<string, unknown> | undefined)?.['dpop-nonce'];
  return typeof value === 'string' ? value : null;
}

/**
 * The OAuth client's token requests carry a DPoP proof by our primary key (google-auth-library
 * has no DPoP of its own; its HTTP client, gaxios, takes interceptors), and every DPoP-Nonce the
 * server sends is kept for the next proof. Installed once per client.
 */
function sendDpopProofs(client: OAuth2Client, dpop: DpopKeys, tokenUrl: string): void {
  if (DPOP_CLIENTS.has(client)) return;
  DPOP_CLIENTS.add(client);
  const endpoint = new URL(tokenUrl);
  const htu = `${endpoint.origin}${endpoint.pathname}`;
  client.transporter.interceptors.request.add({
    resolved: async (options) => {
      const url = new URL(String(options.url));
      if (`${url.origin}${url.pathname}` === htu) {
        const headers = new Headers(options.headers);
        headers.set('dpop', await dpop.proof(dpop.primaryJkt, { htm: 'POST', htu }));
        options.headers = headers;
      }
      return options;
    },
  });
  client.transporter.interceptors.response.add({
    resolved: (answer) => {
      dpop.noteNonce(dpopNonceOf(answer.headers));
      return Promise.resolve(answer);
    },
    rejected: (error: Error) => {
      dpop.noteNonce(
        dpopNonceOf((error as { response?: { headers?: unknown } }).response?.headers),
      );
      throw error;
    },
  });
}

/** Token-endpoint failures by `error` field and status (never by message text). */
export function classifyTokenError(error: unknown): AppError {
  // The DPoP proof could not be signed: nothing reached Google, and the code is still unused.
  if (error instanceof ServiceError && error.code === KMS_ERROR)
    return new AppError(
      'upstream_unavailable',
      503,
      classifyError(error).failure === 'signing_key'
        ? 'The service cannot finish connecting right now. We have been alerted.'
        : 'Please try again in a minute.',
      { detail: `DPoP proof not signed: ${error.message}` },
    );
  const { status, error: code } = oauthErrorOf(error);
  if (code === 'invalid_grant' || code === 'redirect_uri_mismatch' || code === 'invalid_request')
    return new AppError(
      'oauth_error',
      400,
      'This sign-in link was already used or has expired. Please start again.',
      {
        detail: `code exchange refused: ${code}`,
      },
    );
  if (code === 'invalid_client' || code === 'unauthorized_client' || code === 'deleted_client')
    return new AppError(
      'upstream_unavailable',
      502,
      'The service is misconfigured. We have been alerted.',
      {
        detail: `OAuth client rejected by Google: ${code}`,
      },
    );
  return new AppError(
    'upstream_unavailable',
    503,
    'Google did not answer. Please try again in a minute.',
    {
      detail: `code exchange failed (status ${status ?? 'network'})`,
    },
  );
}
