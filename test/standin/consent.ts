// GET /o/oauth2/v2/auth (consent page or scripted answer) and POST /o/oauth2/v2/auth/decision.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseAuthRequest, type AuthPageError, type AuthRequest } from './auth-request.ts';
import { renderConsentPage, renderErrorPage } from './consent-page.ts';
import { DEFAULT_USER, type StandInCore } from './core.ts';
import { htmlReply, formParams, redirectReply, type Reply, type RequestContext } from './http.ts';
import { GOOGLE_ISSUER } from './id-tokens.ts';
import { isSignInScope, parseScopes } from './scopes.ts';

export const AUTH_PATH = '/o/oauth2/v2/auth';
export const DECISION_PATH = '/o/oauth2/v2/auth/decision';

const errorPage = (error: AuthPageError): Reply => htmlReply(400, renderErrorPage(error));

export function handleAuthorize(ctx: RequestContext, core: StandInCore): Reply {
  const params = ctx.url.searchParams;
  const parsed = parseAuthRequest(params, core.oauth.clients);
  if (!parsed.ok) return errorPage(parsed.error);
  const request = parsed.request;

  if (request.prompt.has('none')) return silentAuthorization(core, request);

  const scriptedDecision = params.get('standin_decision');
  const scripted =
    scriptedDecision === 'approve' || scriptedDecision === 'deny'
      ? {
          decision: scriptedDecision,
          user: params.get('standin_user') ?? undefined,
          grant: params.get('standin_grant') ?? undefined,
        }
      : core.scripted.current;
  if (scripted) {
    if (scripted.decision === 'deny') return denied(request);
    const email = normaliseEmail(scripted.user ?? request.loginHint ?? DEFAULT_USER);
    const wanted = scripted.grant === undefined ? undefined : new Set(parseScopes(scripted.grant));
    const granted = request.scopes.filter((s) => isSignInScope(s) || !wanted || wanted.has(s));
    return approved(core, request, email, granted);
  }

  return htmlReply(
    200,
    renderConsentPage({
      clientId: request.client.clientId,
      email: request.loginHint ?? DEFAULT_USER,
      signInScopes: request.scopes.filter(isSignInScope),
      choosableScopes: request.scopes.filter((s) => !isSignInScope(s)),
      request: sealRequest(core.consentKey, ctx.url.search),
      actionPath: DECISION_PATH,
    }),
  );
}

export function handleDecision(ctx: RequestContext, core: StandInCore): Reply {
  const form = formParams(ctx);
  const search = openRequest(core.consentKey, form.get('request') ?? '');
  if (search === null) {
    return errorPage({ label: 400, error: 'invalid_request', description: 'Bad Request' });
  }
  const parsed = parseAuthRequest(new URLSearchParams(search), core.oauth.clients);
  if (!parsed.ok) return errorPage(parsed.error);
  const request = parsed.request;
  if (form.get('decision') !== 'allow') return denied(request);
  const email = normaliseEmail(form.get('email') ?? '');
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
    return errorPage({ label: 400, error: 'invalid_request', description: 'Enter a valid email' });
  }
  const checked = new Set(form.getAll('scope'));
  const granted = request.scopes.filter((s) => isSignInScope(s) || checked.has(s));
  return approved(core, request, email, granted);
}

/** prompt=none: no UI. Succeeds only when the user already granted every requested scope. */
function silentAuthorization(core: StandInCore, request: AuthRequest): Reply {
  const email = normaliseEmail(request.loginHint ?? DEFAULT_USER);
  const grant = core.oauth.grant(email, request.client.clientId);
  if (!grant || !request.scopes.every((s) => grant.scopes.has(s))) {
    return redirectReply(
      withParams(request.redirectUri, [['error', 'consent_required'], ...stateParam(request)]),
    );
  }
  return approved(core, request, email, request.scopes);
}

function approved(
  core: StandInCore,
  request: AuthRequest,
  email: string,
  granted: readonly string[],
): Reply {
  const { code, scopes, consentShown } = core.oauth.approve({
    clientId: request.client.clientId,
    email,
    granted,
    includeGrantedScopes: request.includeGrantedScopes,
    promptConsent: request.prompt.has('consent'),
    accessType: request.accessType,
    redirectUri: request.redirectUri,
    nonce: request.nonce,
    codeChallenge: request.codeChallenge,
    codeChallengeMethod: request.codeChallengeMethod,
  });
  return redirectReply(
    withParams(request.redirectUri, [
      ...stateParam(request),
      ['iss', GOOGLE_ISSUER],
      ['code', code],
      ['scope', scopes.join(' ')],
      ['authuser', '0'],
      ['prompt', consentShown ? 'consent' : 'none'],
    ]),
  );
}

function denied(request: AuthRequest): Reply {
  return redirectReply(
    withParams(request.redirectUri, [['error', 'access_denied'], ...stateParam(request)]),
  );
}

const stateParam = (request: AuthRequest): Array<[string, string]> =>
  request.state === undefined ? [] : [['state', request.state]];

function withParams(redirectUri: string, params: Array<[string, string]>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of params) url.searchParams.append(k, v);
  return url.toString();
}

const normaliseEmail = (email: string): string => email.trim().toLowerCase();

/** The hidden form field: the original query string, MAC'd so the POST cannot alter it. */
function sealRequest(key: Buffer, search: string): string {
  const payload = Buffer.from(search, 'utf8').toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

function openRequest(key: Buffer, sealed: string): string | null {
  const [payload, tag] = sealed.split('.');
  if (!payload || !tag) return null;
  const expected = Buffer.from(mac(key, payload));
  const given = Buffer.from(tag);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return Buffer.from(payload, 'base64url').toString('utf8');
}

const mac = (key: Buffer, payload: string): string =>
  createHmac('sha256', key).update(payload).digest('base64url');
