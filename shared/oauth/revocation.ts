// Token revocation (RFC 7009) at Google. The token goes in the POST body, never the URL (URL logs
// capture queries: the trap in google-auth-library's revokeToken), and it is always the REFRESH
// token (revoking the access token leaves the refresh token alive). Google's 400 invalid_token
// means "already gone" and counts as success (docs/google-behaviours.md#revoke).
// https://www.rfc-editor.org/rfc/rfc7009#section-2
import { networkError, OAuthResponseError } from '../errors.ts';
import { withBackoff, type BackoffPolicy } from '../retry/backoff.ts';
import { parseRetryAfter } from '../retry/retry-after.ts';
import { systemClock, type Clock } from '../retry/time.ts';

export type RevocationResult = 'revoked' | 'already-revoked';

export interface RevokeOptions extends BackoffPolicy {
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Attempts in all (the first included) on 5xx, 429 and network errors. */
  readonly attempts?: number;
  readonly timeoutMs?: number;
}

/**
 * Revokes `token`; retries only what shared/retry/classify.ts calls transient (5xx, 429, no
 * answer), within `attempts`. A refusal (any other 4xx) is thrown at once as OAuthResponseError.
 */
export async function revokeToken(
  revokeUrl: string,
  token: string,
  options: RevokeOptions = {},
): Promise<RevocationResult> {
  const clock = options.clock ?? systemClock;
  return withBackoff(() => revocationRequest(revokeUrl, token, options, clock), {
    baseMs: 250,
    maxWaitMs: 5_000,
    ...options,
    clock,
    attempts: options.attempts ?? 3,
  });
}

async function revocationRequest(
  revokeUrl: string,
  token: string,
  options: RevokeOptions,
  clock: Clock,
): Promise<RevocationResult> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(revokeUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    throw networkError(error, 'the revocation endpoint');
  }
  return processRevocationResponse(response, clock.now());
}

/** RFC 7009 §2.2: 200 is success; Google's 400 invalid_token means the grant is already gone. */
export async function processRevocationResponse(
  response: Response,
  now: number,
): Promise<RevocationResult> {
  if (response.ok) {
    await response.body?.cancel();
    return 'revoked';
  }
  const body = (await response.json().catch(() => ({}))) as { error?: unknown };
  const code = typeof body.error === 'string' ? body.error : `http_${response.status}`;
  if (response.status === 400 && code === 'invalid_token') return 'already-revoked';
  throw new OAuthResponseError(
    response.status,
    code,
    undefined,
    parseRetryAfter(response.headers.get('retry-after'), now),
  );
}
