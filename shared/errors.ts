// The few typed errors of the project. Code branches on `code` (stable strings), never on
// message text (oauth4webapi's OperationProcessingError / ResponseBodyError pattern).
// shared/web/http.ts turns them into responses in exactly one place.

export type ErrorCode =
  | 'config_invalid'
  | 'bad_request'
  | 'not_found'
  | 'unauthenticated'
  | 'forbidden'
  | 'method_not_allowed'
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
