// GET callback: finish a consent. Validate → exchange → verify → check granted scopes → store the
// refresh token sealed, in one Firestore transaction → 303 to a clean page. Every answer clears
// the transaction cookie (single use); a restart with prompt=consent replaces it.
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import {
  clearCookie,
  html,
  redirect,
  setCookie,
  type HttpRequest,
  type HttpResponse,
} from '../http.ts';
import { buildAuthorizationUrl, requestedScopes } from '../oauth/authorization.ts';
import { exchangeCode, validateAuthResponse, type CodeExchangeResult } from '../oauth/callback.ts';
import { normaliseScopes } from '../oauth/scopes.ts';
import { openTransaction, sealTransaction, TRANSACTION_COOKIE } from '../oauth/transaction.ts';
import { missingScopePage, successPage } from '../pages.ts';
import type { Runtime } from '../runtime.ts';
import { CONNECTIONS, connectionRef, sealToken, type ConnectionDoc } from '../store/connections.ts';
import { withErrorHandling, type Handler } from '../http.ts';

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
  startFirestoreEarly(runtime);
  const result = await exchangeCode(config, await runtime.clientSecret(), validated, clock.now());

  const missing = missingScopes(config, result.grantedScopes);
  if (missing.length > 0) {
    runtime.log.warn('consent without a required scope', { sub: result.sub, missing });
    return html(
      403,
      missingScopePage({ appName: config.appName, retryUrl: config.authorizeUrl, missing }),
      clear,
    );
  }

  const outcome = await storeConnection(runtime, result);
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

const firestoreStarted = new WeakSet<Runtime>();

/**
 * On an instance's first consent, start Firestore while the code exchange waits on the network:
 * the first call loads the client and builds its request stubs (tens of ms of CPU on a cold
 * start), which one small read overlaps with the exchange. Errors surface in the transaction.
 */
function startFirestoreEarly(runtime: Runtime): void {
  if (firestoreStarted.has(runtime)) return;
  firestoreStarted.add(runtime);
  runtime
    .firestore()
    .then((db) => db.doc(`${CONNECTIONS}/warm-up`).get())
    .catch(() => undefined);
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

type StoreOutcome = 'connected' | 'reconnected' | 'needs-refresh-token';

/** One Firestore transaction: read what is stored, decide, write the whole document or nothing. */
/**
 * Stores the connection, all or nothing. A first connection (the common case) is one `create`
 * (a single commit that fails if the document exists); otherwise, or when it does exist, one
 * Firestore transaction reads what is stored and decides.
 */
async function storeConnection(
  runtime: Runtime,
  result: CodeExchangeResult,
): Promise<StoreOutcome> {
  const db = await runtime.firestore();
  // Loaded with the Firestore client above (a value import at the top would load Firestore, gax
  // and gRPC at instance start instead of in parallel with the code exchange).
  const { Timestamp } = await import('@google-cloud/firestore');
  const tokenKeys = (await runtime.keyset()).forPurpose('token');
  const ref = connectionRef(db, result.sub);
  const document = (existing: ConnectionDoc | undefined): ConnectionDoc => {
    const now = Timestamp.fromMillis(runtime.clock.now());
    const storedRefreshToken = usableRefreshToken(existing);
    return {
      sub: result.sub,
      email: result.email,
      state: 'active',
      scopes: normaliseScopes(result.grantedScopes),
      // Google does not rotate refresh tokens: keep the stored one when none came back.
      refreshToken:
        result.refreshToken === undefined
          ? storedRefreshToken
          : sealToken(tokenKeys, result.sub, 'refreshToken', result.refreshToken),
      refreshTokenExpiresAt:
        result.refreshToken === undefined
          ? (existing?.refreshTokenExpiresAt ?? null)
          : result.refreshTokenExpiresInSeconds === undefined
            ? null
            : Timestamp.fromMillis(
                runtime.clock.now() + result.refreshTokenExpiresInSeconds * 1000,
              ),
      accessToken: sealToken(tokenKeys, result.sub, 'accessToken', result.accessToken),
      accessTokenExpiresAt: Timestamp.fromMillis(result.accessTokenExpiresAt),
      connectedAt: existing?.connectedAt ?? now,
      updatedAt: now,
      reconnectReason: null,
      refreshLease: null,
      lastRun: existing?.lastRun ?? null,
      revokePendingSince: null,
      revokedAt: null,
    };
  };

  if (result.refreshToken !== undefined) {
    try {
      await ref.create(document(undefined));
      return 'connected';
    } catch (error) {
      // gRPC status 6 ALREADY_EXISTS: someone connected before; decide in a transaction.
      if ((error as { code?: unknown }).code !== 6) throw error;
    }
  }
  return db.runTransaction(async (tx) => {
    const snapshot = await tx.get(ref);
    const existing = snapshot.exists ? (snapshot.data() as ConnectionDoc) : undefined;
    if (existing?.state === 'revoke-pending')
      throw new AppError(
        'bad_request',
        409,
        'Your earlier disconnection is still being completed. Please try again in a few minutes.',
      );
    if (result.refreshToken === undefined && usableRefreshToken(existing) === null)
      return 'needs-refresh-token';
    tx.set(ref, document(existing));
    return existing === undefined ? 'connected' : 'reconnected';
  });
}

/** A stored refresh token that may be kept: only an active connection's. */
function usableRefreshToken(existing: ConnectionDoc | undefined): string | null {
  return existing?.state === 'active' && existing.refreshToken !== null
    ? existing.refreshToken
    : null;
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
