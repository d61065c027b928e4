// Token revocation (RFC 7009) at Google. The token goes in the POST body, never the URL (URL logs
// capture queries: the trap in google-auth-library's revokeToken), and it is always the REFRESH
// token (revoking the access token leaves the refresh token alive). Google's 400 invalid_token
// means "already gone" and counts as success (google-oauth-facts.md, "Revoke").
import { OAuthResponseError } from '../errors.ts';

export type RevocationResult = 'revoked' | 'already-revoked';

export interface RevokeOptions {
  readonly fetch?: typeof fetch;
  /** Attempts in all (the first included) on 5xx, 429 and network errors. */
  readonly attempts?: number;
  /** Base backoff in ms; doubled each attempt, with full jitter; Retry-After wins when larger. */
  readonly backoffMs?: number;
  readonly maxWaitMs?: number;
  readonly timeoutMs?: number;
}

export async function revokeToken(
  revokeUrl: string,
  token: string,
  options: RevokeOptions = {},
): Promise<RevocationResult> {
  const doFetch = options.fetch ?? fetch;
  const attempts = options.attempts ?? 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (attempt > 0) await sleep(backoff(attempt, options, lastError));
    let response: Response;
    try {
      response = await doFetch(revokeUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      lastError = error;
      continue;
    }
    if (response.ok) {
      await response.body?.cancel();
      return 'revoked';
    }
    const body = (await response.json().catch(() => ({}))) as { error?: unknown };
    const code = typeof body.error === 'string' ? body.error : `http_${response.status}`;
    const retryAfter = Number(response.headers.get('retry-after'));
    const error = new OAuthResponseError(
      response.status,
      code,
      undefined,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
    if (response.status === 400 && code === 'invalid_token') return 'already-revoked';
    if (response.status !== 429 && response.status < 500) throw error;
    lastError = error;
  }
  throw lastError instanceof Error ? lastError : new Error('revocation failed');
}

function backoff(attempt: number, options: RevokeOptions, lastError: unknown): number {
  const base = (options.backoffMs ?? 250) * 2 ** (attempt - 1);
  const jittered = Math.random() * base;
  const retryAfterMs =
    lastError instanceof OAuthResponseError && lastError.retryAfterSeconds !== undefined
      ? lastError.retryAfterSeconds * 1000
      : 0;
  return Math.min(Math.max(jittered, retryAfterMs), options.maxWaitMs ?? 5_000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Is this failure worth a later retry (5xx, 429, network), as opposed to a refusal? */
export function isTransientRevocationError(error: unknown): boolean {
  return !(error instanceof OAuthResponseError) || error.status === 429 || error.status >= 500;
}
