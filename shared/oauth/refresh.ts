// RFC 6749 §6: refreshing an access token. One POST, no hidden retries: the caller (shared/runs)
// owns backoff, because google-auth-library retries token POSTs 3 times on 5xx/429 and ignores
// Retry-After (docs/google-behaviours.md#google-auth-library-traps). Errors are classified from
// the JSON `error` field and the HTTP status, never from `error_description`.
import { networkError, OAuthResponseError, OperationError, ServiceError } from '../errors.ts';
import { parseRetryAfter } from '../retry/retry-after.ts';

export type FetchLike = typeof fetch;

export interface RefreshRequest {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
}

export interface RefreshedToken {
  readonly accessToken: string;
  /** Absolute time in ms. */
  readonly expiresAt: number;
  /** Scopes Google reports as granted; undefined when the response omitted `scope`. */
  readonly scopes: readonly string[] | undefined;
  /** Google never rotates refresh tokens; kept only if a server ever sends one. */
  readonly refreshToken: string | undefined;
}

export async function refreshAccessToken(
  fetchFn: FetchLike,
  request: RefreshRequest,
  now: number,
): Promise<RefreshedToken> {
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: request.refreshToken,
    client_id: request.clientId,
    client_secret: request.clientSecret,
  });
  let response: Response;
  try {
    response = await fetchFn(request.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    // Our own failures before the request left (a DPoP proof KMS would not sign) keep their class.
    if (error instanceof ServiceError || error instanceof OperationError) throw error;
    throw networkError(error, 'the token endpoint');
  }
  return processRefreshResponse(response, now);
}

export async function processRefreshResponse(
  response: Response,
  now: number,
): Promise<RefreshedToken> {
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = await response.json();
    if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
  } catch {
    // A 5xx HTML page or an empty body: classified by status below.
  }
  if (!response.ok) {
    const error = typeof json.error === 'string' ? json.error : `http_${response.status}`;
    const subtype = typeof json.error_subtype === 'string' ? json.error_subtype : undefined;
    throw new OAuthResponseError(
      response.status,
      error,
      subtype,
      parseRetryAfter(response.headers.get('retry-after'), now),
    );
  }
  const accessToken = json.access_token;
  const expiresIn = Number(json.expires_in);
  if (typeof accessToken !== 'string' || accessToken === '' || !Number.isFinite(expiresIn))
    throw new OAuthResponseError(response.status, 'invalid_token_response');
  return {
    accessToken,
    expiresAt: now + expiresIn * 1000,
    scopes:
      typeof json.scope === 'string' ? json.scope.split(' ').filter((s) => s !== '') : undefined,
    refreshToken:
      typeof json.refresh_token === 'string' && json.refresh_token !== ''
        ? json.refresh_token
        : undefined,
  };
}
