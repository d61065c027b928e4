// GET callback: finish a consent. Validate → claim the state (single use, server-side) →
// exchange → verify → check granted scopes → store the refresh token sealed, one guarded
// transition (./consent-storage.ts) → 303 to a clean page. Every answer clears this
// transaction's cookie and no other; a second request for the same state gets the first one's
// answer without a second exchange.
import type { Config } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import {
  clearCookie,
  errorResponse,
  html,
  redirect,
  setCookie,
  singleParam,
  type HttpRequest,
  type HttpResponse,
} from '../web/http.ts';
import { buildAuthorizationUrl, configuredJobs, requestedScopes } from '../oauth/authorization.ts';
import {
  exchangeCode,
  validateAuthResponse,
  type ValidatedAuthResponse,
} from '../oauth/callback.ts';
import { normaliseScopes } from '../oauth/scopes.ts';
import {
  openTransaction,
  sealTransaction,
  stateHash,
  transactionCookieName,
} from '../oauth/transaction.ts';
import { errorPage, missingScopePage, successPage } from '../web/pages.ts';
import type { Runtime } from '../platform/runtime.ts';
import type { FirestoreDocuments } from '../store/firestore-rest.ts';
import {
  claimCallbackState,
  readCallbackState,
  recordCallbackAnswer,
  type RecordedAnswer,
} from '../store/callback-states.ts';
import { revokeDiscarded, storeConsent } from './consent-storage.ts';
import { withErrorHandling, type ErrorResponder, type Handler } from '../web/http.ts';

const SUCCESS_PATH_SUFFIX = '/connected';

/** What a later request for a state learns when the first answer restarted the consent. */
const CONTINUES_ELSEWHERE = new AppError(
  'bad_request',
  409,
  'This sign-in continues in the window that started it. Please look there, or start again.',
);

/** How long a duplicate request waits for the first one's answer. */
const DUPLICATE_WAIT_MS = 15_000;
const DUPLICATE_POLL_MS = 100;

export async function callback(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  // GET only: a HEAD (link checkers, prefetchers) must not spend the single-use code.
  if (request.method !== 'GET')
    throw new AppError('method_not_allowed', 405, 'Please start again from the Connect button.');
  const { config, clock } = runtime;
  if (isSuccessPage(config, request))
    return html(200, successPage({ appName: config.appName, jobs: configuredJobs(config) }));

  const cookieKeys = await runtime.keys('cookie');
  const state = singleParam(request.url.searchParams, 'state', { maxLength: 512 });
  const cookie = state === undefined ? undefined : transactionCookieName(state);
  const sealed = cookie === undefined ? undefined : request.cookies.get(cookie);
  const transaction =
    cookie === undefined || sealed === undefined
      ? undefined
      : openTransaction(cookieKeys, cookie, sealed);
  if (transaction === undefined && state !== undefined) {
    // A restored tab after the first answer cleared the cookie: the same answer again.
    const recorded = await readCallbackState(await runtime.documents(), stateHash(state));
    if (recorded?.kind === 'done') return replay(recorded.answer);
  }
  const validated = validateAuthResponse(request.url.searchParams, transaction, {
    now: clock.now(),
    issuers: config.google.issuers,
  });

  const documents = await runtime.documents();
  const claim = stateHash(validated.transaction.state);
  const expireAt = new Date(validated.transaction.expiresAt + 86400e3);
  const clear = { 'set-cookie': clearCookie(transactionCookieName(validated.transaction.state)) };
  if (!(await claimCallbackState(documents, claim, expireAt))) {
    runtime.log.info('callback state used twice; answering what the first request answered');
    return withHeaders(await answerOfFirst(documents, claim), clear);
  }
  let response: HttpResponse;
  try {
    response = await finishConsent(runtime, validated);
  } catch (error) {
    response = errorResponse(error, request, { log: runtime.log, responder: responder(config) });
  }
  const answer = recordable(response, () =>
    html(409, errorPage(CONTINUES_ELSEWHERE, responder(config).page)),
  );
  await recordCallbackAnswer(documents, claim, { answer, expireAt }).catch((error: unknown) =>
    runtime.log.warn('cannot record the callback answer', { error }),
  );
  // A restart with prompt=consent sets the new transaction's cookie; every answer clears ours.
  const setCookies = [clear['set-cookie'], ...[response.headers['set-cookie'] ?? []].flat()];
  return withHeaders(response, { 'set-cookie': setCookies });
}

/** From the code exchange on: what the first request for a state does, and records. */
async function finishConsent(
  runtime: Runtime,
  validated: ValidatedAuthResponse,
): Promise<HttpResponse> {
  const { config, clock } = runtime;
  const result = await exchangeCode(config, await runtime.clientSecret(), validated, {
    now: clock.now(),
    dpop: await runtime.dpopKeys(),
  });

  const missing = missingScopes(config, result.grantedScopes);
  // Granular consent: the user may grant some jobs' scopes only. The connection is kept if at
  // least one job can run; the others wait for consent (docs/jobs.md#incremental-consent).
  if (missing.uncovered) {
    runtime.log.warn('consent without a required scope', {
      sub: result.sub,
      missing: missing.scopes,
    });
    await revokeDiscarded(runtime, result, 'partial-grant');
    return html(
      403,
      missingScopePage({
        appName: config.appName,
        retryUrl: config.authorizeUrl,
        missing: missing.scopes,
        jobs: configuredJobs(config),
      }),
    );
  }

  let stored: Awaited<ReturnType<typeof storeConsent>>;
  try {
    stored = await storeConsent(runtime, result, validated.transaction.connect);
  } catch (error) {
    await revokeDiscarded(runtime, result, 'storage-failed');
    throw error;
  }
  const outcome = stored.kind === 'written' ? stored.outcome : stored.refusal;
  const refusal = CONNECT_REFUSALS[outcome as keyof typeof CONNECT_REFUSALS];
  if (refusal !== undefined) {
    runtime.log.warn('consent refused for the app user', { sub: result.sub, refusal: outcome });
    await revokeDiscarded(runtime, result, 'refused');
    throw new AppError('bad_request', 409, refusal(config.appName));
  }
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
    const cookieKeys = await runtime.keys('cookie');
    return redirect(302, restart.url, {
      'set-cookie': setCookie(
        transactionCookieName(restart.transaction.state),
        sealTransaction(cookieKeys, restart.transaction),
        { maxAgeSeconds: config.transactionTtlSeconds },
      ),
    });
  }
  runtime.log.info('connection stored', { sub: result.sub, scopes: result.grantedScopes, outcome });
  const appUserId = validated.transaction.connect?.appUserId;
  await runtime.events().emit({
    type: 'connected',
    sub: result.sub,
    ...(appUserId ? { appUserId } : {}),
    reason: outcome,
  });
  return redirect(303, validated.transaction.returnTo ?? config.successUrl);
}

/** What a person reads when a consent from a connect link cannot be stored. */
const CONNECT_REFUSALS = {
  'link-used': (app: string) =>
    `This connect link was used already. Please start again from ${app}.`,
  'other-account': (app: string) =>
    `Your ${app} account is already connected to another Google account. Disconnect that one first.`,
  'other-app-user': (app: string) =>
    `This Google account is already connected to another ${app} account.`,
} as const;

/** The first request's answer, once it has one; a friendly page if it takes too long. */
async function answerOfFirst(documents: FirestoreDocuments, claim: string): Promise<HttpResponse> {
  const until = Date.now() + DUPLICATE_WAIT_MS;
  for (;;) {
    const recorded = await readCallbackState(documents, claim);
    if (recorded?.kind === 'done') return replay(recorded.answer);
    if (Date.now() > until)
      throw new AppError(
        'bad_request',
        409,
        'This sign-in is still being completed in another tab. Please look there, or start again.',
      );
    await new Promise((resolve) => setTimeout(resolve, DUPLICATE_POLL_MS));
  }
}

/**
 * What is kept of an answer: never a cookie. An answer that sets one (the restart with
 * prompt=consent, whose Google URL carries a new state) belongs to the browser that got it, so a
 * later request is told to look there instead; no state is ever stored.
 */
function recordable(response: HttpResponse, instead: () => HttpResponse): RecordedAnswer {
  if (response.headers['set-cookie'] !== undefined) return recordable(instead(), instead);
  const location = response.headers.location;
  return {
    status: response.status,
    location: typeof location === 'string' ? location : null,
    body: response.body,
  };
}

function replay(answer: RecordedAnswer): HttpResponse {
  if (answer.location !== null && (answer.status === 302 || answer.status === 303))
    return redirect(answer.status, answer.location);
  return html(answer.status, answer.body);
}

function withHeaders(
  response: HttpResponse,
  extra: Record<string, string | string[]>,
): HttpResponse {
  return { ...response, headers: { ...response.headers, ...extra } };
}

function isSuccessPage(config: Config, request: HttpRequest): boolean {
  const success = new URL(config.successUrl);
  return (
    request.url.pathname.endsWith(SUCCESS_PATH_SUFFIX) &&
    success.pathname.endsWith(request.url.pathname)
  );
}

/**
 * The enabled jobs' scopes Google did not grant (sign-in ones are always granted), and whether
 * no job at all can run with what was granted.
 */
function missingScopes(
  config: Pick<Config, 'jobs'>,
  granted: readonly string[],
): { scopes: string[]; uncovered: boolean } {
  const have = new Set(normaliseScopes(granted));
  const jobs = configuredJobs(config);
  return {
    scopes: normaliseScopes(requestedScopes(config)).filter((scope) => !have.has(scope)),
    uncovered: !jobs.some((job) => job.scopes.every((scope) => have.has(scope.url))),
  };
}

function responder(config: Config): ErrorResponder {
  return { page: { appName: config.appName, retryUrl: config.authorizeUrl } };
}

/** The cookie of the transaction this request answers, if the browser holds it. */
function ownCookie(request: HttpRequest): string[] {
  const state = request.url.searchParams.get('state');
  return state === null || state.length > 512 ? [] : [transactionCookieName(state)];
}

/** The deployed handler: errors become pages, and this transaction's cookie is cleared on them. */
export function callbackHandler(runtime: Runtime): Handler {
  return withErrorHandling(
    (request) => callback(runtime, request),
    runtime.log,
    responder(runtime.config),
    ownCookie,
  );
}
