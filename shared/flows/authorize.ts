// GET authorize: send the browser to Google's consent page with a fresh sealed transaction.
import { AppError } from '../errors.ts';
import {
  clearCookie,
  redirect,
  setCookie,
  singleParam,
  type HttpRequest,
  type HttpResponse,
} from '../web/http.ts';
import { buildAuthorizationUrl } from '../oauth/authorization.ts';
import {
  sealTransaction,
  staleTransactionCookies,
  transactionCookieName,
} from '../oauth/transaction.ts';
import type { Runtime } from '../platform/runtime.ts';
import { verifyConnectLink } from '../web/connect-link.ts';
import { withErrorHandling, type Handler } from '../web/http.ts';

// No control characters (NUL…) and no U+FFFD (what non-UTF-8 percent-encoding decodes to): such a
// hint is not an email address and must not be forwarded to Google.
const EMAIL = /^[^\s@<>"\p{Cc}\uFFFD]{1,64}@[^\s@<>"\p{Cc}\uFFFD]{1,255}$/u;

export async function authorize(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  if (request.method !== 'GET' && request.method !== 'HEAD')
    throw new AppError('method_not_allowed', 405, 'Use the Connect button to start.');
  const { config } = runtime;
  const params = request.url.searchParams;
  const returnTo = allowedReturnTarget(
    config.returnToAllowList,
    singleParam(params, 'return_to', { maxLength: 2048 }),
  );
  const loginHint = singleParam(params, 'login_hint', { maxLength: 320 }) ?? null;
  if (loginHint !== null && !EMAIL.test(loginHint))
    throw new AppError('bad_request', 400, 'The login hint is not an email address.');

  const jobs = incrementalJobs(config.jobs, singleParam(params, 'jobs', { maxLength: 400 }));

  const connect = verifyConnectLink(await runtime.keys('connect'), params, runtime.clock.now());
  if (connect === undefined && config.connect.required)
    throw new AppError(
      'link_invalid',
      403,
      `Please start connecting from ${config.appName}: it gives you a link for your account.`,
    );
  const { url, transaction } = buildAuthorizationUrl(config, {
    connect: connect ?? null,
    now: runtime.clock.now(),
    returnTo,
    loginHint,
    promptConsent: false,
    ...(jobs ? { jobs } : {}),
  });
  const cookieKeys = await runtime.keys('cookie');
  return redirect(302, url, {
    'set-cookie': [
      ...staleTransactionCookies(cookieKeys, request.cookies).map(clearCookie),
      setCookie(
        transactionCookieName(transaction.state),
        sealTransaction(cookieKeys, transaction),
        {
          maxAgeSeconds: config.transactionTtlSeconds,
        },
      ),
    ],
  });
}

/**
 * `jobs=a,b`: an incremental consent for those enabled jobs' scopes only
 * (docs/jobs.md#incremental-consent). Absent: every enabled job's.
 */
function incrementalJobs(
  enabled: readonly string[],
  value: string | undefined,
): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((name) => name.trim());
  if (names.length === 0 || names.some((name) => !enabled.includes(name)))
    throw new AppError('bad_request', 400, 'That link asks for a job this app does not run.');
  return names;
}

/**
 * No open redirects (RFC 9700 §4.11): a return target must equal an allow-listed URL exactly.
 * Absent → null (the configured success page).
 */
export function allowedReturnTarget(
  allowList: readonly string[],
  value: string | undefined,
): string | null {
  if (value === undefined) return null;
  if (!allowList.includes(value))
    throw new AppError('bad_request', 400, 'That return address is not allowed.');
  return value;
}

/** The deployed handler: the flow wrapped once in the error mapping. */
export function authorizeHandler(runtime: Runtime): Handler {
  return withErrorHandling((request) => authorize(runtime, request), runtime.log, {
    page: { appName: runtime.config.appName },
  });
}
