// Errors in the legacy shape of the older Google APIs (Drive v3, Calendar v3, Gmail v1):
// {"error":{"code","message","errors":[{"message","domain","reason",…}],"status"?}}. Clients
// classify them by `errors[].reason` (`authError`, `insufficientPermissions`, `notFound`, …).
import { jsonReply, type Reply } from './http.ts';
import { insufficientScopeChallenge } from './rpc-errors.ts';

export function legacyError(
  code: number,
  message: string,
  reason: string,
  extra: { status?: string; location?: string; locationType?: string } = {},
  headers: Record<string, string> = {},
): Reply {
  const item: Record<string, string> = { message, domain: 'global', reason };
  if (extra.location) item['location'] = extra.location;
  if (extra.locationType) item['locationType'] = extra.locationType;
  const error: Record<string, unknown> = { code, message, errors: [item] };
  if (extra.status) error['status'] = extra.status;
  return jsonReply(code, { error }, headers);
}

/** 401 for a missing, unknown, expired or revoked access token. */
export function legacyUnauthenticated(): Reply {
  return legacyError(
    401,
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    'authError',
    { status: 'UNAUTHENTICATED', location: 'Authorization', locationType: 'header' },
    { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
  );
}

/** 403 for a valid token without any scope the method accepts (`scopes`: those that would). */
export function legacyInsufficientScope(scopes: readonly string[]): Reply {
  return legacyError(
    403,
    'Request had insufficient authentication scopes.',
    'insufficientPermissions',
    { status: 'PERMISSION_DENIED' },
    { 'www-authenticate': insufficientScopeChallenge(scopes) },
  );
}

/** The answer to an injected `status` or `rateLimit` fault. */
export function legacyOutage(status: number, headers: Record<string, string> = {}): Reply {
  return status === 429
    ? legacyError(
        429,
        'Rate Limit Exceeded',
        'rateLimitExceeded',
        { status: 'RESOURCE_EXHAUSTED' },
        headers,
      )
    : legacyError(status, 'Backend Error', 'backendError', { status: 'UNAVAILABLE' }, headers);
}
