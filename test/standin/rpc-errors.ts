// Errors in the google.rpc shape that the newer Google APIs (Sheets v4 and most APIs served by
// Google's API front end) answer with: {"error":{"code","message","status","details"?}}, where
// `status` is the canonical google.rpc.Code name and `details` holds typed messages such as
// google.rpc.ErrorInfo. Drive v3 and other older APIs use the legacy shape instead (driveError).
import { jsonReply, type Reply } from './http.ts';

/** The canonical google.rpc.Code names the stand-in answers with, by HTTP status. */
export type RpcStatus =
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'
  | 'UNIMPLEMENTED'
  | 'UNAVAILABLE'
  | (string & Record<never, never>);

export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
export const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';

const REALM = 'Bearer realm="https://accounts.google.com/"';

export function rpcError(
  code: number,
  status: RpcStatus,
  message: string,
  options: { details?: readonly unknown[]; headers?: Record<string, string> } = {},
): Reply {
  const error: Record<string, unknown> = { code, message, status };
  if (options.details && options.details.length > 0) error['details'] = options.details;
  return jsonReply(code, { error }, options.headers);
}

/** An ErrorInfo detail; `domain` is always googleapis.com for the API front end's reasons. */
export function errorInfo(reason: string, metadata: Record<string, string>): unknown {
  return { '@type': ERROR_INFO_TYPE, reason, domain: 'googleapis.com', metadata };
}

/** Which API method answered, for ErrorInfo metadata: `sheets.googleapis.com` and its RPC name. */
export interface RpcMethod {
  /** e.g. `sheets.googleapis.com`. */
  service: string;
  /** e.g. `google.apps.sheets.v4.SpreadsheetsService.GetValues`. */
  method: string;
}

/**
 * 403 for a valid token that lacks every scope the method accepts. `scopes` are the scopes that
 * WOULD allow the method; Google names them in the `WWW-Authenticate` header (RFC 6750 §3.1).
 */
export function rpcInsufficientScope(target: RpcMethod, scopes: readonly string[]): Reply {
  return rpcError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', {
    details: [
      errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', {
        service: target.service,
        method: target.method,
      }),
    ],
    headers: { 'www-authenticate': insufficientScopeChallenge(scopes) },
  });
}

export function insufficientScopeChallenge(scopes: readonly string[]): string {
  return `${REALM}, error="insufficient_scope", scope="${scopes.join(' ')}"`;
}

const CREDENTIAL_HELP =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/**
 * 401 for a request without a token (the challenge then carries no `error`, RFC 6750 §3.1) or
 * with an unknown, expired or revoked one.
 */
export function rpcUnauthenticated(tokenSent: boolean): Reply {
  return tokenSent
    ? rpcError(
        401,
        'UNAUTHENTICATED',
        `Request had invalid authentication credentials. ${CREDENTIAL_HELP}`,
        {
          headers: { 'www-authenticate': `${REALM}, error="invalid_token"` },
        },
      )
    : rpcError(
        401,
        'UNAUTHENTICATED',
        `Request is missing required authentication credential. ${CREDENTIAL_HELP}`,
        {
          headers: { 'www-authenticate': REALM },
        },
      );
}

/** 400 for a query parameter outside the method's request message or an unknown enum value. */
export function rpcBadParameter(field: string | undefined, description: string): Reply {
  return rpcError(400, 'INVALID_ARGUMENT', description, {
    details: [
      {
        '@type': BAD_REQUEST_TYPE,
        fieldViolations: [field === undefined ? { description } : { field, description }],
      },
    ],
  });
}

/** The answer to an injected `status` or `rateLimit` fault, for a service in this shape. */
export function rpcOutage(
  service: string,
  status: number,
  headers: Record<string, string> = {},
): Reply {
  if (status === 429) {
    return rpcError(429, 'RESOURCE_EXHAUSTED', `Quota exceeded for service '${service}'.`, {
      details: [errorInfo('RATE_LIMIT_EXCEEDED', { service })],
      headers,
    });
  }
  return status === 500
    ? rpcError(500, 'INTERNAL', 'Internal error encountered.', { headers })
    : rpcError(status, 'UNAVAILABLE', 'The service is currently unavailable.', { headers });
}
