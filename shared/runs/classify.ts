// One place that decides what a failure means for a user and for the run, from structured fields
// only: the OAuth `error` field, the HTTP status, the Google API `errors[].reason`. Never message
// text (google-oauth-facts.md, "google-auth-library traps").
import { OAuthResponseError } from '../errors.ts';
import { NetworkError } from '../oauth/refresh.ts';
import { DecryptError } from '../crypto/aead.ts';

export type FailureClass =
  /** The refresh token is dead (any invalid_grant subtype): reconnect, never retry. */
  | 'invalid_grant'
  /** Our OAuth client is broken (invalid_client, unauthorized_client, deleted_client): stop the run. */
  | 'client_config'
  /** A granted scope is missing (Drive 403 insufficientPermissions or a refresh without it). */
  | 'scope_missing'
  /** 429, 5xx, network: back off, then leave for redelivery. */
  | 'transient'
  /** The stored token cannot be opened with our keys. */
  | 'decrypt'
  /** A Google API answered 401: the access token is not (or no longer) accepted. */
  | 'unauthenticated'
  /** Anything else: this user's job failed; other users are unaffected. */
  | 'unknown';

export interface Classified {
  readonly failure: FailureClass;
  readonly status: number | undefined;
  /** The OAuth error or Google API reason, for reports (never a message text). */
  readonly reason: string;
  readonly retryAfterSeconds: number | undefined;
}

const FIRESTORE_TRANSIENT = new Set([4, 8, 10, 14]);
const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'deleted_client']);
const RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'backendError']);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'ECONNABORTED',
]);

export function classifyError(error: unknown): Classified {
  if (error instanceof OAuthResponseError) return classifyOAuth(error);
  if (error instanceof NetworkError) return transient(undefined, 'network', undefined);
  if (error instanceof DecryptError) return result('decrypt', undefined, 'decrypt_failed');
  if (error instanceof ScopeMissingError) return result('scope_missing', 403, error.scope);
  const code =
    typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (code === 'lease_busy')
    return transient(
      undefined,
      'lease_busy',
      (error as { retryAfterSeconds?: number }).retryAfterSeconds,
    );
  if (code === 'refresh_token_missing')
    return result('invalid_grant', undefined, 'refresh_token_missing');
  // gRPC status of Firestore calls: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE.
  if (typeof code === 'number' && FIRESTORE_TRANSIENT.has(code))
    return transient(undefined, `firestore_${code}`, undefined);
  if (typeof error === 'object' && error !== null) {
    const gaxios = classifyGaxios(error);
    if (gaxios) return gaxios;
  }
  return result('unknown', undefined, errorName(error));
}

/** Raised when a refresh or the stored grant lacks a scope a configured job needs. */
export class ScopeMissingError extends Error {
  readonly code = 'scope_missing';
  readonly scope: string;
  constructor(scope: string) {
    super(`granted scopes lack ${scope}`);
    this.name = 'ScopeMissingError';
    this.scope = scope;
  }
}

function classifyOAuth(error: OAuthResponseError): Classified {
  if (error.error === 'invalid_grant')
    return result('invalid_grant', error.status, 'invalid_grant');
  if (CLIENT_ERRORS.has(error.error)) return result('client_config', error.status, error.error);
  if (error.status === 429 || error.status >= 500)
    return transient(error.status, error.error, error.retryAfterSeconds);
  return result('unknown', error.status, error.error);
}

interface GaxiosLike {
  name?: unknown;
  code?: unknown;
  status?: unknown;
  response?: { status?: unknown; headers?: unknown; data?: unknown };
  cause?: unknown;
}

/** GaxiosError from @googleapis/* clients: status, body reason and Retry-After. */
function classifyGaxios(error: GaxiosLike): Classified | undefined {
  const status =
    typeof error.response?.status === 'number'
      ? error.response.status
      : typeof error.status === 'number'
        ? error.status
        : undefined;
  if (status === undefined) {
    const code = typeof error.code === 'string' ? error.code : networkCode(error.cause);
    if (code !== undefined && NETWORK_CODES.has(code)) return transient(undefined, code, undefined);
    if (error.name === 'AbortError' || error.name === 'TimeoutError' || isFetchFailure(error))
      return transient(undefined, 'network', undefined);
    return undefined;
  }
  const reason = apiReason(error.response?.data);
  const retryAfter = retryAfterOf(error.response?.headers);
  if (status === 403 && reason === 'insufficientPermissions')
    return result('scope_missing', status, reason);
  if (status === 401) return result('unauthenticated', status, reason ?? 'http_401');
  if (status === 429 || status >= 500 || (status === 403 && reason && RATE_REASONS.has(reason)))
    return transient(status, reason ?? `http_${status}`, retryAfter);
  return result('unknown', status, reason ?? `http_${status}`);
}

function apiReason(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const error = (data as { error?: unknown }).error;
  if (typeof error === 'string') return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors)) {
    const first: unknown = errors[0];
    if (typeof first === 'object' && first !== null) {
      const reason = (first as { reason?: unknown }).reason;
      if (typeof reason === 'string') return reason;
    }
  }
  const status = (error as { status?: unknown }).status;
  return typeof status === 'string' ? status : undefined;
}

function retryAfterOf(headers: unknown): number | undefined {
  let value: unknown;
  if (headers instanceof Headers) value = headers.get('retry-after');
  else if (typeof headers === 'object' && headers !== null)
    value = (headers as Record<string, unknown>)['retry-after'];
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

function networkCode(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return networkCode((cause as { cause?: unknown }).cause);
}

function isFetchFailure(error: GaxiosLike): boolean {
  return error.cause instanceof TypeError || error.name === 'FetchError';
}

function errorName(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.name;
  }
  return typeof error;
}

function transient(
  status: number | undefined,
  reason: string,
  retryAfterSeconds: number | undefined,
): Classified {
  return { failure: 'transient', status, reason, retryAfterSeconds };
}

function result(failure: FailureClass, status: number | undefined, reason: string): Classified {
  return { failure, status, reason, retryAfterSeconds: undefined };
}
