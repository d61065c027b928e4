// The few typed errors of the project, and their codes. Code branches on a class and its `code`
// (one of the constants below), never on message text (oauth4webapi's OperationProcessingError /
// ResponseBodyError pattern). shared/web/http.ts turns AppError into responses in exactly one
// place; shared/retry/classify.ts decides what every other failure means for a user and a run.

// Request-path codes (AppError): each maps to one HTTP status and one page.
export type ErrorCode =
  | 'config_invalid'
  | 'bad_request'
  | 'not_found'
  | 'unauthenticated'
  | 'forbidden'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'state_mismatch'
  | 'transaction_missing'
  | 'transaction_expired'
  | 'consent_denied'
  | 'scope_missing'
  | 'oauth_error'
  | 'id_token_invalid'
  | 'link_invalid'
  | 'decrypt_failed'
  | 'secret_unavailable'
  | 'upstream_unavailable';

// Operation codes (OperationError): our own refusals and states, raised below the request path.
/** Another delivery holds this user's lease. */
export const LEASE_BUSY = 'lease_busy';
/** The connection holds no refresh token. */
export const REFRESH_TOKEN_MISSING = 'refresh_token_missing';
/** The granted scopes lack one a configured job needs (`detail` names it). */
export const SCOPE_MISSING = 'scope_missing';
/** A connection kept changing under a guarded write (a transient contention). */
export const CONNECTION_CONTENDED = 'connection_contended';
/** A Pub/Sub message that can never be processed. */
export const BAD_MESSAGE = 'bad_message';
/** Some users of a batch are left for Pub/Sub's redelivery (`detail` counts them). */
export const REDELIVER = 'redeliver';
/** A sealed value cannot be opened with our keys. */
export const DECRYPT_FAILED = 'decrypt_failed';
/** The token keyset is malformed. */
export const KEYSET_INVALID = 'keyset_invalid';
/** A job's run() did not finish by the user's deadline (`detail` names the job). */
export const JOB_DEADLINE = 'job_deadline';
/** A job's run() returned something that is not a JobResult (`detail` says what is wrong). */
export const JOB_RESULT_INVALID = 'job_result_invalid';
/** A refresh token is bound to a DPoP key that DPOP_KEYS no longer holds. */
export const DPOP_KEY_MISSING = 'dpop_key_missing';
/** DPOP_KEYS is malformed. */
export const DPOP_KEYS_INVALID = 'dpop_keys_invalid';

export type OperationCode =
  | typeof LEASE_BUSY
  | typeof REFRESH_TOKEN_MISSING
  | typeof CONNECTION_CONTENDED
  | typeof SCOPE_MISSING
  | typeof BAD_MESSAGE
  | typeof REDELIVER
  | typeof DECRYPT_FAILED
  | typeof KEYSET_INVALID
  | typeof JOB_DEADLINE
  | typeof JOB_RESULT_INVALID
  | typeof DPOP_KEY_MISSING
  | typeof DPOP_KEYS_INVALID;

// Service codes (ServiceError): a Google service gave no usable answer.
/** No HTTP answer at all (connection refused or reset, timeout). */
export const NETWORK_ERROR = 'network_error';
/** Firestore's REST API answered an error (`status` is the canonical code, e.g. ABORTED). */
export const FIRESTORE_ERROR = 'firestore_error';
/** Pub/Sub's REST API refused a publish (`httpStatus`). */
export const PUBLISH_FAILED = 'publish_failed';

/** Cloud KMS refused or failed (`httpStatus`, and Google's canonical `status`). */
export const KMS_ERROR = 'kms_error';

export type ServiceCode =
  typeof NETWORK_ERROR | typeof FIRESTORE_ERROR | typeof PUBLISH_FAILED | typeof KMS_ERROR;

/** A request-path failure with the status and the page it gets. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Safe to show to the user (no secrets, no internals). */
  readonly publicMessage: string;

  constructor(
    code: ErrorCode,
    status: number,
    publicMessage: string,
    options: { cause?: unknown; detail?: string } = {},
  ) {
    super(options.detail ?? publicMessage, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.publicMessage = publicMessage;
  }
}

/** Start-up failure: names every bad or missing setting at once. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * An OAuth error answered by Google's token, revoke or tokeninfo endpoint, classified from the
 * `error` field and HTTP status (never the description, which Google rewrites).
 */
export class OAuthResponseError extends Error {
  readonly code = 'oauth_error';
  readonly status: number;
  readonly error: string;
  readonly subtype: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, error: string, subtype?: string, retryAfterSeconds?: number) {
    super(`Google answered ${status} ${error}${subtype ? ` (${subtype})` : ''}`);
    this.name = 'OAuthResponseError';
    this.status = status;
    this.error = error;
    this.subtype = subtype;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Our own operation refused to go on; `detail` is safe to log (never a secret). */
export class OperationError extends Error {
  readonly code: OperationCode;
  readonly detail: string | undefined;
  /** When to try again (LEASE_BUSY). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: OperationCode,
    message: string,
    options: { detail?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'OperationError';
    this.code = code;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * A Google service gave no usable answer. Carries no `cause` for HTTP answers: gaxios errors hold
 * the request, bearer token included, and errors get logged.
 */
export class ServiceError extends Error {
  readonly code: ServiceCode;
  /** Firestore's canonical status (ALREADY_EXISTS, ABORTED…), when it answered. */
  readonly status: string | undefined;
  readonly httpStatus: number | undefined;

  constructor(
    code: ServiceCode,
    message: string,
    options: { status?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServiceError';
    this.code = code;
    this.status = options.status;
    this.httpStatus = options.httpStatus;
  }
}

/** A failure with no HTTP answer (the fetch itself threw). */
export function networkError(cause: unknown, what: string): ServiceError {
  return new ServiceError(NETWORK_ERROR, `no answer from ${what}`, { cause });
}

export function isOperationError(error: unknown, code: OperationCode): error is OperationError {
  return error instanceof OperationError && error.code === code;
}
