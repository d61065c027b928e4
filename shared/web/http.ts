// The platform-neutral HTTP model the flows speak, the safe defaults every response carries, and
// the one place where errors become responses (hono's errorHandler; functions-framework's
// sendCrashResponse). Adapters in functions/ only translate Express requests to this and back.
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { errorPage, type PageOptions } from './pages.ts';

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly cookies: ReadonlyMap<string, string>;
  /** Parsed application/x-www-form-urlencoded body, if any. */
  readonly form: URLSearchParams | undefined;
  /** Parsed application/json body (objects only), if any. */
  readonly json: Readonly<Record<string, unknown>> | undefined;
  /** Any other body its path takes, as UTF-8 text (a Security Event Token). */
  readonly text?: string;
  /**
   * Refused before the flow runs: a body its rules refuse (shared/web/bodies.ts), a path that is
   * not valid percent-encoding. withErrorHandling answers with the refusal's error.
   */
  readonly refused?: Refusal;
}

/** A request refused by the adapter: its answer, and what its log line adds (never a body). */
export interface Refusal {
  readonly error: AppError;
  readonly log: Readonly<Record<string, unknown>>;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/**
 * Every response: never cached (tokens and codes pass through these URLs), never leaks the URL
 * through Referer, no sniffing, no framing, and a CSP under which the pages load nothing from
 * anywhere (RFC 9700 §4.2.4: no third-party resources on the callback).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // HTTPS only from the first visit on, for two years (RFC 6797); browsers ignore it on http://.
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export function html(
  status: number,
  body: string,
  extra: Record<string, string | string[]> = {},
): HttpResponse {
  return {
    status,
    headers: { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', ...extra },
    body,
  };
}

export function json(
  status: number,
  value: unknown,
  extra: Record<string, string | string[]> = {},
): HttpResponse {
  return {
    status,
    headers: { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...extra },
    body: JSON.stringify(value),
  };
}

export function redirect(
  status: 302 | 303,
  location: string,
  extra: Record<string, string | string[]> = {},
): HttpResponse {
  return { status, headers: { ...SECURITY_HEADERS, location, ...extra }, body: '' };
}

// Cookies (RFC 6265bis). `__Host-` pins a cookie to this host, path / and HTTPS: no subdomain or
// other path can set or read it. Browsers treat http://localhost as secure, so it works locally.
export interface CookieOptions {
  readonly maxAgeSeconds: number;
}

export function setCookie(name: string, value: string, options: CookieOptions): string {
  if (!/^[\w-]+$/.test(name) || !/^[\w.~-]*$/.test(value)) throw new Error('unsafe cookie');
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${options.maxAgeSeconds}`;
}

export function clearCookie(name: string): string {
  return `${name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;
}

/** Parses a Cookie header; malformed pairs are skipped, never thrown on. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined || header.length > 16384) return cookies;
  for (const pair of header.split(';')) {
    const index = pair.indexOf('=');
    if (index <= 0) continue;
    const name = pair.slice(0, index).trim();
    const value = pair.slice(index + 1).trim();
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** Constant-time comparison of two strings of any length (hash first, then timingSafeEqual). */
export function safeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB) && a.length === b.length;
}

/** One query or form parameter: present once, bounded in size, else a 400. */
export function singleParam(
  params: URLSearchParams,
  name: string,
  options: { maxLength: number; required: true },
): string;
export function singleParam(
  params: URLSearchParams,
  name: string,
  options: { maxLength: number; required?: false },
): string | undefined;
export function singleParam(
  params: URLSearchParams,
  name: string,
  options: { maxLength: number; required?: boolean },
): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1)
    throw new AppError('bad_request', 400, `The parameter "${name}" was repeated.`);
  const value = values[0];
  if (value === undefined || value === '') {
    if (options.required === true)
      throw new AppError('bad_request', 400, `The parameter "${name}" is missing.`);
    return undefined;
  }
  if (value.length > options.maxLength)
    throw new AppError('bad_request', 400, `The parameter "${name}" is too long.`);
  return value;
}

export type Handler = (request: HttpRequest) => Promise<HttpResponse>;

export interface ErrorResponder {
  /** How an AppError looks to this caller: a friendly page (default) or JSON (APIs). */
  readonly style?: (request: HttpRequest) => 'page' | 'json';
  readonly page: Omit<PageOptions, 'title'>;
}

/**
 * The one place where errors become responses: an AppError gets its status and a friendly page
 * (or JSON); anything else is logged and answered with a bare 500 that reveals nothing.
 */
export function errorResponse(
  error: unknown,
  request: HttpRequest,
  context: { readonly log: Logger; readonly responder: ErrorResponder },
): HttpResponse {
  const { log, responder } = context;
  const style = responder.style?.(request) ?? 'page';
  if (error instanceof AppError) {
    const fields = { code: error.code, status: error.status, path: request.url.pathname };
    const logged =
      request.refused?.error === error ? { ...fields, ...request.refused.log } : fields;
    if (error.status >= 500) log.error(error.message, { ...logged, error: error.cause ?? error });
    else log.warn(error.message, logged);
    return style === 'json'
      ? json(error.status, { error: error.code, message: error.publicMessage })
      : html(error.status, errorPage(error, responder.page));
  }
  log.error('unhandled error', { error, path: request.url.pathname });
  return style === 'json'
    ? json(500, { error: 'internal' })
    : html(
        500,
        errorPage(
          new AppError('upstream_unavailable', 500, 'Something went wrong on our side.'),
          responder.page,
        ),
      );
}

/**
 * Wraps a flow: its errors become responses (errorResponse), and `clear` names the cookies an
 * error answer clears (the callback's transaction cookie of the state it answers). A refused
 * request gets the refusal's answer; the flow never sees it.
 */
export function withErrorHandling(
  handler: Handler,
  log: Logger,
  responder: ErrorResponder,
  clear: (request: HttpRequest) => readonly string[] = () => [],
): Handler {
  return async (request) => {
    try {
      if (request.refused !== undefined) throw request.refused.error;
      return await handler(request);
    } catch (error) {
      const response = errorResponse(error, request, { log, responder });
      const setCookies = clear(request)
        .filter((name) => request.cookies.has(name))
        .map(clearCookie);
      if (setCookies.length > 0) response.headers['set-cookie'] = setCookies;
      return response;
    }
  };
}
