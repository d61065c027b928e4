// revoke: a user unsubscribes through a signed link (GET confirms, POST acts), or the app's
// backend unsubscribes them (POST with a Google-signed ID token of an allow-listed service
// account, naming the user by `sub` or by the app's own `appUserId`). The same authenticated
// callers also reach the app's API here: `…/settings` (per-user job settings,
// ./job-settings-api.ts) and `…/connect-links` (signed connect links, docs/jobs.md#connect-links).
// An unsubscribe either way: revoke the REFRESH token at Google, then delete every stored token and
// record the revocation (without any token), through shared/revocation/revoke-connection.ts. If
// Google stays unreachable, or refuses for good, the connection becomes revoke-pending: never
// used again, and completed by a later run or by the operator.
import type { Config } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import { html, json, type HttpRequest, type HttpResponse } from '../web/http.ts';
import { configuredJobs } from '../oauth/authorization.ts';
import { verifyServiceCaller } from '../oauth/service-identity.ts';
import { jobSettingsApi, SETTINGS_PATH_SUFFIX } from './job-settings-api.ts';
import {
  unsubscribeConfirmPage,
  unsubscribeDonePage,
  unsubscribeNeutralPage,
} from '../web/pages.ts';
import type { Runtime } from '../platform/runtime.ts';
import {
  revokeConnection,
  runtimeRevocationDeps,
  type RevocationDeps,
  type RevokeOutcome,
} from '../revocation/revoke-connection.ts';
import { isValidSub } from '../store/connection/document.ts';
import { createConnectionRepository } from '../store/connection/repository.ts';
import { restConnectionBackend } from '../store/connection/rest-backend.ts';
import { verifyUnsubscribeLink } from '../web/unsubscribe-link.ts';
import { APP_USER_ID, CONNECT_LINK_MAX_SECONDS, createConnectLink } from '../web/connect-link.ts';
import { readAppUser } from '../store/app-users.ts';
import { withErrorHandling, type Handler } from '../web/http.ts';

/** Recorded, not yet done at Google: 202 Accepted. */
const ACCEPTED_ONLY: ReadonlySet<RevokeOutcome> = new Set(['pending', 'refused']);

export async function revoke(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  const { config } = runtime;
  if (
    request.headers.authorization !== undefined &&
    request.url.pathname.endsWith(SETTINGS_PATH_SUFFIX)
  ) {
    await verifyServiceCaller(config, request.headers.authorization);
    return jobSettingsApi(runtime, request);
  }
  if (
    request.headers.authorization !== undefined &&
    request.url.pathname.endsWith(CONNECT_LINKS_PATH_SUFFIX)
  ) {
    await verifyServiceCaller(config, request.headers.authorization);
    return mintConnectLink(runtime, request);
  }
  if (request.method === 'POST' && request.headers.authorization !== undefined) {
    const caller = await verifyServiceCaller(config, request.headers.authorization);
    const sub = await subToRevoke(runtime, request);
    const outcome = await revokeConnection(await revocationDeps(runtime), sub, {
      via: 'api',
      actor: caller,
    });
    if (outcome === 'not-found') return json(404, { error: 'not_found', sub });
    return json(ACCEPTED_ONLY.has(outcome) ? 202 : 200, { sub, status: outcome });
  }
  const linkKeys = await runtime.keys('link');
  const now = runtime.clock.now();
  if (request.method === 'GET' || request.method === 'HEAD') {
    const link = verifyUnsubscribeLink(linkKeys, request.url.searchParams, now);
    const { connections } = await revocationDeps(runtime);
    const state = (await connections.read(link.sub)).connection?.state;
    if (state === undefined || state === 'revoked')
      return html(200, unsubscribeNeutralPage({ appName: config.appName }));
    return html(
      200,
      unsubscribeConfirmPage({
        appName: config.appName,
        jobs: configuredJobs(config),
        action: actionUrl(config),
        fields: link.fields,
      }),
    );
  }
  if (request.method === 'POST') {
    if (request.form === undefined)
      throw new AppError('bad_request', 400, 'Please use the button on the unsubscribe page.');
    const link = verifyUnsubscribeLink(linkKeys, request.form, now);
    const outcome = await revokeConnection(await revocationDeps(runtime), link.sub, {
      via: 'link',
      actor: 'user',
    });
    if (outcome === 'not-found' || outcome === 'already-revoked')
      return html(200, unsubscribeNeutralPage({ appName: config.appName }));
    return html(
      ACCEPTED_ONLY.has(outcome) ? 202 : 200,
      unsubscribeDonePage({ appName: config.appName, completion: outcome }),
    );
  }
  throw new AppError('method_not_allowed', 405, 'Use the link we sent you.');
}

/** `{"sub"}`, or `{"appUserId"}` of a connection made through a connect link. */
async function subToRevoke(runtime: Runtime, request: HttpRequest): Promise<string> {
  const appUserId = request.json?.appUserId;
  if (typeof appUserId === 'string' && APP_USER_ID.test(appUserId)) {
    const mapped = await readAppUser(await runtime.documents(), appUserId);
    if (mapped === undefined)
      throw new AppError('not_found', 404, 'No connection is known for that app user.');
    return mapped.sub;
  }
  const sub = request.json?.sub ?? request.form?.get('sub');
  if (typeof sub !== 'string' || !isValidSub(sub))
    throw new AppError(
      'bad_request',
      400,
      'Give the user as {"sub": "<Google user id>"} or {"appUserId": "<your user id>"}.',
    );
  return sub;
}

const CONNECT_LINKS_PATH_SUFFIX = '/connect-links';

/** POST …/connect-links {"appUserId", "ttlSeconds"?}: a signed, single-use link to authorize. */
async function mintConnectLink(runtime: Runtime, request: HttpRequest): Promise<HttpResponse> {
  if (request.method !== 'POST') throw new AppError('method_not_allowed', 405, 'Use POST.');
  const appUserId = request.json?.appUserId;
  const ttl = request.json?.ttlSeconds ?? 900;
  if (typeof appUserId !== 'string' || !APP_USER_ID.test(appUserId))
    throw new AppError(
      'bad_request',
      400,
      'Give your user as {"appUserId": "<id>"}: letters, digits and _.:@-, at most 128.',
    );
  if (
    typeof ttl !== 'number' ||
    !Number.isInteger(ttl) ||
    ttl < 60 ||
    ttl > CONNECT_LINK_MAX_SECONDS
  )
    throw new AppError(
      'bad_request',
      400,
      `ttlSeconds must be a whole number from 60 to ${CONNECT_LINK_MAX_SECONDS}.`,
    );
  const keys = await runtime.keys('connect');
  const { url, link } = createConnectLink(keys, runtime.config.authorizeUrl, {
    appUserId,
    expiresAtMs: runtime.clock.now() + ttl * 1000,
  });
  return json(200, { appUserId, url, expiresAt: new Date(link.expiresAt).toISOString() });
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

/** What revoking needs, over the request path's Firestore REST client. */
async function revocationDeps(runtime: Runtime): Promise<RevocationDeps> {
  return runtimeRevocationDeps(
    runtime,
    createConnectionRepository(restConnectionBackend(await runtime.documents())),
  );
}

/** The deployed handler: pages for people, JSON for server-to-server callers. */
export function revokeHandler(runtime: Runtime): Handler {
  return withErrorHandling((request) => revoke(runtime, request), runtime.log, {
    page: { appName: runtime.config.appName },
    style: (request) => (request.headers.authorization === undefined ? 'page' : 'json'),
  });
}
