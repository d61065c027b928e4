// One place that decides what a failure means for a user and for the run, from structured fields
// only: the error's class and `code` constant, the OAuth `error` field, the HTTP status, the
// Google API `errors[].reason`. Never message text (docs/google-behaviours.md#errors-are-classified-by-fields).
import {
  CONNECTION_CONTENDED,
  DECRYPT_FAILED,
  KMS_ERROR,
  LEASE_BUSY,
  NETWORK_ERROR,
  OAuthResponseError,
  OperationError,
  REFRESH_TOKEN_MISSING,
  SCOPE_MISSING,
  ServiceError,
} from '../errors.ts';
import { retryAfterFromHeaders } from './retry-after.ts';

export type FailureClass =
  /** The refresh token is dead (any invalid_grant subtype): reconnect, never retry. */
  | 'invalid_grant'
  /** Our OAuth client is broken (invalid_client, unauthorized_client, deleted_client): stop the run. */
  | 'client_config'
  /** Cloud KMS refuses our DPoP signing key (permission, disabled, destroyed): stop the run. */
  | 'signing_key'
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
const FIRESTORE_TRANSIENT_STATUS = new Set([
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'ABORTED',
  'UNAVAILABLE',
]);
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

export function classifyError(error: unknown, now = Date.now()): Classified {
  if (error instanceof OAuthResponseError) return classifyOAuth(error);
  if (error instanceof OperationError) return classifyOperation(error);
  if (error instanceof ServiceError)
    return error.code === NETWORK_ERROR
      ? transient(undefined, 'network', undefined)
      : classifyService(error);
  const code =
    typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  // gRPC status of Firestore calls: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE.
  if (typeof code === 'number' && FIRESTORE_TRANSIENT.has(code))
    return transient(undefined, `firestore_${code}`, undefined);
  if (typeof error === 'object' && error !== null) {
    const gaxios = classifyGaxios(error, now);
    if (gaxios) return gaxios;
  }
  return result('unknown', undefined, errorName(error));
}

function classifyOperation(error: OperationError): Classified {
  switch (error.code) {
    case LEASE_BUSY:
      return transient(undefined, LEASE_BUSY, error.retryAfterSeconds);
    case CONNECTION_CONTENDED:
      return transient(undefined, CONNECTION_CONTENDED, undefined);
    case REFRESH_TOKEN_MISSING:
      return result('invalid_grant', undefined, REFRESH_TOKEN_MISSING);
    case SCOPE_MISSING:
      return result('scope_missing', 403, error.detail ?? SCOPE_MISSING);
    case DECRYPT_FAILED:
      return result('decrypt', undefined, DECRYPT_FAILED);
    default:
      return result('unknown', undefined, error.code);
  }
}

/**
 * Firestore REST, Pub/Sub and Cloud KMS answers: contention and outages are transient; KMS
 * refusing a key for good (PERMISSION_DENIED, a disabled or destroyed version) is ours to fix.
 */
function classifyService(error: ServiceError): Classified {
  const reason = error.status ?? `http_${error.httpStatus ?? 'none'}`;
  const status = error.httpStatus;
  const outage = status === 429 || (status !== undefined && status >= 500);
  if (error.code === KMS_ERROR)
    return status === undefined || outage
      ? transient(status, reason, undefined)
      : result('signing_key', status, reason);
  if (error.status !== undefined && FIRESTORE_TRANSIENT_STATUS.has(error.status))
    return transient(status, reason, undefined);
  if (outage) return transient(status, reason, undefined);
  return result('unknown', status, reason);
}

/** Reasons by which Google asks a caller to slow down (Drive's legacy ones and the OAuth error). */
const SLOW_DOWN_REASONS = new Set([
  'rateLimitExceeded',
  'userRateLimitExceeded',
  'RESOURCE_EXHAUSTED',
]);

/** A retried failure that means "too fast" (429 or a rate-limit reason), not an outage. */
export function isSlowDown(retry: {
  readonly status: number | undefined;
  readonly reason: string;
}) {
  return retry.status === 429 || SLOW_DOWN_REASONS.has(retry.reason);
}

/** The missing scope of a SCOPE_MISSING error, if it names one. */
export function missingScopeOf(error: unknown): string | undefined {
  return error instanceof OperationError && error.code === SCOPE_MISSING ? error.detail : undefined;
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
function classifyGaxios(error: GaxiosLike, now: number): Classified | undefined {
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
  const reason = errorInfoReason(error.response?.data) ?? apiReason(error.response?.data);
  const retryAfter = retryAfterFromHeaders(error.response?.headers, now);
  // Two shapes of "the token lacks a scope": Drive's legacy `errors[].reason`, and the
  // google.rpc ErrorInfo that Sheets and newer APIs send (docs/google-behaviours.md#insufficient-scope).
  if (
    status === 403 &&
    (reason === 'insufficientPermissions' || reason === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT')
  )
    return result('scope_missing', status, reason);
  if (status === 401) return result('unauthenticated', status, reason ?? 'http_401');
  if (status === 429 || status >= 500 || (status === 403 && reason && RATE_REASONS.has(reason)))
    return transient(status, reason ?? `http_${status}`, retryAfter);
  return result('unknown', status, reason ?? `http_${status}`);
}

/** `error.details[]` ErrorInfo reason (https://cloud.google.com/apis/design/errors#error_info). */
function errorInfoReason(data: unknown): string | undefined {
  const details = (data as { error?: { details?: unknown } } | null)?.error?.details;
  if (!Array.isArray(details)) return undefined;
  for (const detail of details as unknown[]) {
    const info = detail as { '@type'?: unknown; reason?: unknown } | null;
    if (
      typeof info?.reason === 'string' &&
      info['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo'
    )
      return info.reason;
  }
  return undefined;
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
