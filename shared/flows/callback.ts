// GET callback: finish a consent. Validate → exchange → verify → check granted scopes → store the
// refresh token sealed, one guarded transition (./consent-storage.ts) → 303 to a clean page. Every answer clears
// the transaction cookie (single use); a restart with prompt=consent replaces it.
import type { Config } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import {
  clearCookie,
  html,
  redirect,
  setCookie,
  type HttpRequest,
  type HttpResponse,
} from '../web/http.ts';
import { buildAuthorizationUrl, requestedScopes } from '../oauth/authorization.ts';
import { exchangeCode, validateAuthResponse } from '../oauth/callback.ts';
import { normaliseScopes } from '../oauth/scopes.ts';
import { openTransaction, sealTransaction, TRANSACTION_COOKIE } from '../oauth/transaction.ts';
import { missingScopePage, successPage } from '../web/pages.ts';
import type { Runtime } from '../platform/runtime.ts';
import { revokeDiscarded, storeConsent } from './consent-storage.ts';
import { withErrorHandling, type Handler } from '../web/http.ts';

export const SUCCESS_PATH_SUFFIX = '/connected';

export async function callback(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  // GET only: a HEAD (link checkers, prefetchers) must not spend the single-use code.
  if (request.method !== 'GET')
    throw new AppError('method_not_allowed', 405, 'Please start again from the Connect button.');
  const { config, clock } = runtime;
  if (isSuccessPage(config, request)) return html(200, successPage({ appName: config.appName }));

  const keyset = await runtime.keyset();
  const cookieKeys = keyset.forPurpose('cookie');
  const sealed = request.cookies.get(TRANSACTION_COOKIE);
  const transaction = sealed === undefined ? undefined : openTransaction(cookieKeys, sealed);
  const clear = { 'set-cookie': clearCookie(TRANSACTION_COOKIE) };

  const validated = validateAuthResponse(request.url.searchParams, transaction, {
    now: clock.now(),
    issuers: config.google.issuers,
  });
  startStoreEarly(runtime);
  const result = await exchangeCode(config, await runtime.clientSecret(), validated, clock.now());

  const missing = missingScopes(config, result.grantedScopes);
  if (missing.length > 0) {
    runtime.log.warn('consent without a required scope', { sub: result.sub, missing });
    await revokeDiscarded(runtime, result, 'partial-grant');
    return html(
      403,
      missingScopePage({ appName: config.appName, retryUrl: config.authorizeUrl, missing }),
      clear,
    );
  }

  let stored: Awaited<ReturnType<typeof storeConsent>>;
  try {
    stored = await storeConsent(runtime, result);
  } catch (error) {
    await revokeDiscarded(runtime, result, 'storage-failed');
    throw error;
  }
  const outcome = stored.kind === 'written' ? stored.outcome : stored.refusal;
  if (outcome === 'revoke-pending') {
    await revokeDiscarded(runtime, result, 'revoke-pending');
    throw new AppError(
      'bad_request',
      409,
      'Your earlier disconnection is still being completed. Please try again in a few minutes.',
    );
  }
  if (outcome === 'needs-refresh-token') {
    if (validated.transaction.promptedConsent)
      throw new AppError(
        'upstream_unavailable',
        502,
        'Google did not grant offline access. Please try again.',
      );
    // No refresh token in the answer and none stored: ask once more, with the consent screen
    // (every prompt=consent mints a new token and Google keeps only 100 per user, so only now).
    const restart = buildAuthorizationUrl(config, {
      now: clock.now(),
      returnTo: validated.transaction.returnTo,
      loginHint: result.email ?? validated.transaction.loginHint,
      promptConsent: true,
    });
    runtime.log.info('no refresh token; restarting consent with prompt=consent', {
      sub: result.sub,
    });
    return redirect(302, restart.url, {
      'set-cookie': setCookie(
        TRANSACTION_COOKIE,
        sealTransaction(cookieKeys, restart.transaction),
        {
          maxAgeSeconds: config.transactionTtlSeconds,
        },
      ),
    });
  }
  runtime.log.info('connection stored', { sub: result.sub, scopes: result.grantedScopes, outcome });
  await runtime.events().emit({ type: 'connected', sub: result.sub, reason: outcome });
  return redirect(303, validated.transaction.returnTo ?? config.successUrl, clear);
}

/**
 * Loads the Firestore client once the code exchange is on the wire (setImmediate: after the
 * request is written), so that on an instance's first consent its loading overlaps the wait for
 * Google instead of delaying the request; later calls get the instance's client at once. Errors
 * surface when the connection is stored.
 */
function startStoreEarly(runtime: Runtime): void {
  setImmediate(() => {
    runtime.documents().catch(() => undefined);
  });
}

function isSuccessPage(config: Config, request: HttpRequest): boolean {
  const success = new URL(config.successUrl);
  return (
    request.url.pathname.endsWith(SUCCESS_PATH_SUFFIX) &&
    success.pathname.endsWith(request.url.pathname)
  );
}

/** Required API scopes (the sign-in ones are always granted) that Google did not grant. */
export function missingScopes(config: Pick<Config, 'jobs'>, granted: readonly string[]): string[] {
  const have = new Set(normaliseScopes(granted));
  return normaliseScopes(requestedScopes(config)).filter((scope) => !have.has(scope));
}

/** The deployed handler: errors become pages, and the transaction cookie is cleared on them too. */
export function callbackHandler(runtime: Runtime): Handler {
  return withErrorHandling(
    (request) => callback(runtime, request),
    runtime.log,
    { page: { appName: runtime.config.appName, retryUrl: runtime.config.authorizeUrl } },
    [TRANSACTION_COOKIE],
  );
}
