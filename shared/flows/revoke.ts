// revoke: a user unsubscribes through a signed link (GET confirms, POST acts), or the app's
// backend unsubscribes them (POST with a Google-signed ID token of an allow-listed service
// account). Either way: revoke the REFRESH token at Google, then delete every stored token and
// record the revocation (without any token). If Google stays unreachable, the connection becomes
// revoke-pending: never used again, retried by every scheduled run.
import type { Config } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import { classifyError } from '../retry/classify.ts';
import { html, json, type HttpRequest, type HttpResponse } from '../web/http.ts';
import { revokeToken, type RevokeOptions } from '../oauth/revocation.ts';
import { verifyServiceCaller } from '../oauth/service-identity.ts';
import {
  unsubscribeConfirmPage,
  unsubscribeDonePage,
  unsubscribeNeutralPage,
} from '../web/pages.ts';
import type { Runtime } from '../platform/runtime.ts';
import { isValidSub, openToken } from '../store/connections.ts';
import {
  readRevocableConnection,
  storeRevoked,
  storeRevokePending,
} from '../store/revocation-store.ts';
import { verifyUnsubscribeLink } from '../web/unsubscribe-link.ts';
import { withErrorHandling, type Handler } from '../web/http.ts';

export type RevokeOutcome = 'revoked' | 'already-revoked' | 'pending' | 'not-found';

export interface Revoker {
  readonly via: 'link' | 'api' | 'scheduled-retry';
  readonly actor: string;
}

export async function revoke(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  const { config } = runtime;
  if (request.method === 'POST' && request.headers.authorization !== undefined) {
    const caller = await verifyServiceCaller(config, request.headers.authorization);
    const sub = request.json?.sub ?? request.form?.get('sub');
    if (typeof sub !== 'string' || !isValidSub(sub))
      throw new AppError('bad_request', 400, 'Give the user as {"sub": "<Google user id>"}.');
    const outcome = await revokeConnection(runtime, sub, { via: 'api', actor: caller });
    if (outcome === 'not-found') return json(404, { error: 'not_found', sub });
    return json(outcome === 'pending' ? 202 : 200, { sub, status: outcome });
  }
  const linkKeys = (await runtime.keyset()).forPurpose('link');
  const now = runtime.clock.now();
  if (request.method === 'GET' || request.method === 'HEAD') {
    const link = verifyUnsubscribeLink(linkKeys, request.url.searchParams, now);
    const connection = await readRevocableConnection(await runtime.documents(), link.sub);
    const state = connection?.state;
    if (state === undefined || state === 'revoked')
      return html(200, unsubscribeNeutralPage({ appName: config.appName }));
    return html(
      200,
      unsubscribeConfirmPage({
        appName: config.appName,
        action: actionUrl(config),
        fields: link.fields,
      }),
    );
  }
  if (request.method === 'POST') {
    if (request.form === undefined)
      throw new AppError('bad_request', 400, 'Please use the button on the unsubscribe page.');
    const link = verifyUnsubscribeLink(linkKeys, request.form, now);
    const outcome = await revokeConnection(runtime, link.sub, { via: 'link', actor: 'user' });
    if (outcome === 'not-found' || outcome === 'already-revoked')
      return html(200, unsubscribeNeutralPage({ appName: config.appName }));
    return html(
      outcome === 'pending' ? 202 : 200,
      unsubscribeDonePage({ appName: config.appName, pending: outcome === 'pending' }),
    );
  }
  throw new AppError('method_not_allowed', 405, 'Use the link we sent you.');
}

/**
 * The form posts to the configured public URL of this function, without the query (the fields
 * travel in the body). Not the request's path: behind https://REGION-PROJECT.cloudfunctions.net/revoke
 * the function sees `/`, which would post to the domain's root.
 */
function actionUrl(config: Config): string {
  const url = new URL(config.revokeUrl);
  url.search = '';
  return url.toString();
}

/**
 * Revokes one user's grant and destroys what we stored. Idempotent; also completes a
 * revoke-pending connection (used by scheduled runs).
 */
export async function revokeConnection(
  runtime: Runtime,
  sub: string,
  revoker: Revoker,
  options: RevokeOptions = {},
): Promise<RevokeOutcome> {
  const documents = await runtime.documents();
  const connection = await readRevocableConnection(documents, sub);
  if (connection === undefined) return 'not-found';
  if (connection.state === 'revoked') return 'already-revoked';

  const entry = (googleResult: string) => ({
    sub,
    via: revoker.via,
    actor: revoker.actor,
    googleResult,
  });
  let googleResult: string;
  try {
    googleResult = await revokeAtGoogle(runtime, sub, connection.refreshToken, options);
  } catch (error) {
    // 5xx, 429 and network errors after the retries, or (never expected) another refusal: the
    // connection is never used again and every scheduled run retries the revocation.
    if (classifyError(error).failure === 'transient')
      runtime.log.warn('Google revoke failed after retries; connection is revoke-pending', {
        sub,
        error,
      });
    else
      runtime.log.error('Google refused the revocation; connection is revoke-pending', {
        sub,
        error,
      });
    await storeRevokePending(
      documents,
      entry('pending'),
      connection.state === 'revoke-pending',
      runtime.clock.now(),
    );
    return 'pending';
  }
  await storeRevoked(documents, entry(googleResult), runtime.clock.now());
  runtime.log.info('connection revoked', { sub, via: revoker.via, googleResult });
  await runtime.events().emit({ type: 'revoked', sub, reason: revoker.via });
  return 'revoked';
}

/** Revokes the stored refresh token at Google; says what happened, throws when it failed. */
async function revokeAtGoogle(
  runtime: Runtime,
  sub: string,
  sealed: string | null,
  options: RevokeOptions,
): Promise<string> {
  if (sealed === null) return 'no-token-stored';
  let refreshToken: string;
  try {
    refreshToken = openToken(
      (await runtime.keyset()).forPurpose('token'),
      sub,
      'refreshToken',
      sealed,
    );
  } catch (error) {
    runtime.log.error(
      'stored refresh token cannot be decrypted; deleting it without revoking at Google',
      {
        sub,
        error,
      },
    );
    return 'undecryptable';
  }
  return revokeToken(runtime.config.google.revokeUrl, refreshToken, options);
}

/** The deployed handler: pages for people, JSON for server-to-server callers. */
export function revokeHandler(runtime: Runtime): Handler {
  return withErrorHandling((request) => revoke(runtime, request), runtime.log, {
    page: { appName: runtime.config.appName },
    style: (request) => (request.headers.authorization === undefined ? 'page' : 'json'),
  });
}
