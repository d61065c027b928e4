// POST /token: client authentication, authorization_code and refresh_token grants, with the
// error table of docs/google-behaviours.md#token-errors, and DPoP-bound refresh tokens
// (docs/google-behaviours.md#dpop-at-the-token-endpoint).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { StandInCore } from './core.ts';
import { formParams, oauthError, oauthJson, type Reply, type RequestContext } from './http.ts';
import { mintUserIdToken, type UserIdTokenInput } from './id-tokens.ts';
import { isWellFormedAuthCode } from './ids.ts';
import {
  TESTING_REFRESH_TOKEN_LIFETIME_S,
  type AuthCodeRecord,
  type ClientRecord,
  type RefreshTokenRecord,
} from './oauth-store.ts';
import { OPENID } from './scopes.ts';

export const TOKEN_PATH = '/token';
export const RAPT_ERROR_URI = 'https://support.google.com/a/answer/9368756';

const BAD_REQUEST = 'Bad Request';
const EXPIRED_OR_REVOKED = 'Token has been expired or revoked.';

export function handleToken(ctx: RequestContext, core: StandInCore): Reply {
  const form = formParams(ctx);
  const grantType = form.get('grant_type') ?? '';
  ctx.meta.grantType = grantType;
  const auth = authenticateClient(ctx, form, core);
  if (!auth.ok) return auth.reply;
  // Checked before the grant, so a refused proof consumes no code.
  const proof = core.dpop.check(ctx, requestUri(ctx));
  if (!proof.ok) return proof.reply;
  if (proof.jkt !== undefined) ctx.meta.dpopBound = true;
  return core.dpop.withNonce(answerGrant(grantType, form, auth.client, core, proof.jkt));
}

function answerGrant(
  grantType: string,
  form: URLSearchParams,
  client: ClientRecord,
  core: StandInCore,
  jkt: string | undefined,
): Reply {
  switch (grantType) {
    case 'authorization_code':
      return exchangeCode(form, client, core, jkt);
    case 'refresh_token':
      return refreshGrant(form, client, core, jkt);
    case '':
      return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type: ');
    default:
      return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
  }
}

/** The URI this request was sent to, for a DPoP proof's htu (the stand-in speaks plain HTTP). */
function requestUri(ctx: RequestContext): string {
  return `http://${ctx.headers.host ?? ''}${TOKEN_PATH}`;
}

type ClientAuth = { ok: true; client: ClientRecord } | { ok: false; reply: Reply };

/** client_secret_post (default) or HTTP Basic (RFC 6749 §2.3.1). */
function authenticateClient(
  ctx: RequestContext,
  form: URLSearchParams,
  core: StandInCore,
): ClientAuth {
  let clientId = form.get('client_id') ?? undefined;
  let secret = form.get('client_secret') ?? undefined;
  const basic = /^Basic\s+(\S+)$/i.exec(ctx.headers.authorization ?? '')?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      clientId = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
  }
  if (!clientId) {
    return {
      ok: false,
      reply: oauthError(400, 'invalid_request', 'Could not determine client ID from request.'),
    };
  }
  const client = core.oauth.clients.get(clientId);
  if (!client) {
    return {
      ok: false,
      reply: oauthError(401, 'invalid_client', 'The OAuth client was not found.'),
    };
  }
  if (client.deleted) {
    return { ok: false, reply: oauthError(401, 'deleted_client', 'The OAuth client was deleted.') };
  }
  if (!secret) {
    return { ok: false, reply: oauthError(400, 'invalid_request', 'client_secret is missing.') };
  }
  if (!constantTimeEqual(secret, client.clientSecret)) {
    return { ok: false, reply: oauthError(401, 'invalid_client', 'Unauthorized') };
  }
  return { ok: true, client };
}

function exchangeCode(
  form: URLSearchParams,
  client: ClientRecord,
  core: StandInCore,
  jkt: string | undefined,
): Reply {
  const code = form.get('code');
  if (!code) return oauthError(400, 'invalid_request', 'Missing required parameter: code');
  if (!isWellFormedAuthCode(code)) return oauthError(400, 'invalid_grant', 'Malformed auth code.');
  const found = core.oauth.findCode(code);
  if (!found.ok) {
    if (found.replayed) core.oauth.revokeMintedFrom(code);
    return oauthError(400, 'invalid_grant', BAD_REQUEST);
  }
  const record = found.record;
  if (record.grant.clientId !== client.clientId)
    return oauthError(400, 'invalid_grant', BAD_REQUEST);
  if (form.get('redirect_uri') !== record.redirectUri) {
    return oauthError(400, 'redirect_uri_mismatch', BAD_REQUEST);
  }
  const pkceError = checkCodeVerifier(record, form.get('code_verifier') ?? undefined);
  if (pkceError) return oauthError(400, 'invalid_grant', pkceError);

  // A proof binds the refresh token to its key; the access token stays a Bearer token.
  const { access, refresh } = core.oauth.redeemCode(record, jkt);
  const body: Record<string, string | number> = {
    access_token: access.token,
    expires_in: core.oauth.tokenShape.accessTokenLifetimeS,
  };
  if (refresh) {
    body['refresh_token'] = refresh.token;
    if (refresh.expiresAt !== null)
      body['refresh_token_expires_in'] = TESTING_REFRESH_TOKEN_LIFETIME_S;
  }
  const idToken = finishTokenBody(body, core, {
    clientId: client.clientId,
    email: record.grant.email,
    scopes: record.scopes,
    nonce: record.nonce,
    accessToken: access.token,
  });
  if (idToken !== undefined) record.minted.push(idToken);
  return oauthJson(200, body);
}

/**
 * The fields both grants end their answer with: scope, token_type and, when `openid` was granted,
 * an ID token (remembered for the leak scan). Returns the ID token.
 */
function finishTokenBody(
  body: Record<string, string | number>,
  core: StandInCore,
  user: UserIdTokenInput,
): string | undefined {
  if (!core.oauth.tokenShape.omitScope) body['scope'] = user.scopes.join(' ');
  body['token_type'] = 'Bearer';
  if (!user.scopes.includes(OPENID)) return undefined;
  const idToken = mintUserIdToken(core.keys, { ...user, sub: core.oauth.tokenShape.idTokenSub });
  core.oauth.rememberSecret(idToken);
  body['id_token'] = idToken;
  return idToken;
}

/** RFC 7636 §4.6, with Google's error texts. */
function checkCodeVerifier(record: AuthCodeRecord, verifier: string | undefined): string | null {
  if (record.codeChallenge === undefined) {
    return verifier === undefined ? null : 'code_verifier or verifier is not needed.';
  }
  if (verifier === undefined) return 'Missing code verifier.';
  const derived =
    record.codeChallengeMethod === 'S256'
      ? createHash('sha256').update(verifier, 'ascii').digest('base64url')
      : verifier;
  return constantTimeEqual(derived, record.codeChallenge) ? null : 'Invalid code verifier.';
}

function refreshGrant(
  form: URLSearchParams,
  client: ClientRecord,
  core: StandInCore,
  jkt: string | undefined,
): Reply {
  const token = form.get('refresh_token');
  if (!token)
    return oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
  const found = core.oauth.findRefreshToken(token, client.clientId);
  if (!found.ok) {
    return found.reason === 'other_client'
      ? oauthError(401, 'unauthorized_client', 'Unauthorized')
      : oauthError(400, 'invalid_grant', EXPIRED_OR_REVOKED);
  }
  const record = found.record;
  // Before reauth: a thief without the key must not use up the one-shot requirement.
  if (record.jkt !== undefined && jkt === undefined)
    return oauthError(400, 'invalid_grant', 'DPoP proof required');
  if (record.jkt !== undefined && jkt !== record.jkt)
    return oauthError(400, 'invalid_grant', 'DPoP proof key does not match the bound key.');
  if (core.oauth.takeReauthRequirement(record.grant.email)) {
    return oauthError(400, 'invalid_grant', 'reauth related error (invalid_rapt)', {
      error_uri: RAPT_ERROR_URI,
      error_subtype: 'invalid_rapt',
    });
  }
  core.oauth.touchRefreshToken(record);
  const access = core.oauth.mintAccessToken(record.grant, record.scopes, 'offline');
  // No refresh_token in the response: Google does not rotate refresh tokens.
  const body: Record<string, string | number> = {
    access_token: access.token,
    expires_in: core.oauth.tokenShape.accessTokenLifetimeS,
  };
  const remaining = remainingRefreshLifetime(record, core.clock.now());
  if (remaining !== null) body['refresh_token_expires_in'] = remaining;
  finishTokenBody(body, core, {
    clientId: client.clientId,
    email: record.grant.email,
    scopes: record.scopes,
    accessToken: access.token,
  });
  return oauthJson(200, body);
}

function remainingRefreshLifetime(record: RefreshTokenRecord, now: number): number | null {
  if (record.expiresAt === null) return null;
  return Math.max(0, Math.floor((record.expiresAt - now) / 1000) - 1);
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
