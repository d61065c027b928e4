// GET|POST /tokeninfo and GET /v1/userinfo. tokeninfo returns numbers and booleans as strings,
// like Google's.
import type { StandInCore } from './core.ts';
import {
  bearerToken,
  formParams,
  jsonReply,
  oauthError,
  type Reply,
  type RequestContext,
} from './http.ts';
import { verifyJwt } from './keys.ts';
import { USERINFO_EMAIL, USERINFO_PROFILE } from './scopes.ts';

export const TOKENINFO_PATH = '/tokeninfo';
export const USERINFO_PATH = '/v1/userinfo';

const invalidValue = (): Reply => oauthError(400, 'invalid_token', 'Invalid Value');

export function handleTokenInfo(ctx: RequestContext, core: StandInCore): Reply {
  const form = formParams(ctx);
  const query = ctx.url.searchParams;
  const idToken = query.get('id_token') ?? form.get('id_token');
  if (idToken) return idTokenInfo(idToken, core);
  // google-auth-library's getTokenInfo() POSTs with the token in an Authorization header.
  const accessToken = query.get('access_token') ?? form.get('access_token') ?? bearerToken(ctx);
  if (!accessToken) return oauthError(400, 'invalid_request', 'Bad Request');
  const record = core.oauth.findAccessToken(accessToken);
  if (!record) return invalidValue();
  const now = core.clock.now();
  const info: Record<string, string> = {
    azp: record.grant.clientId,
    aud: record.grant.clientId,
    sub: record.grant.sub,
    scope: record.scopes.join(' '),
    exp: String(Math.floor(record.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((record.expiresAt - now) / 1000))),
  };
  if (record.scopes.includes(USERINFO_EMAIL)) {
    info['email'] = record.grant.email;
    info['email_verified'] = 'true';
  }
  info['access_type'] = record.accessType;
  return jsonReply(200, info, { 'cache-control': 'no-store' });
}

/** ID tokens carry real wall-clock iat/exp, so they are judged on Date.now(). */
function idTokenInfo(idToken: string, core: StandInCore): Reply {
  const verified = verifyJwt(core.keys, idToken);
  if (!verified) return invalidValue();
  const exp = Number(verified.payload['exp']);
  if (!Number.isFinite(exp) || exp * 1000 <= Date.now()) return invalidValue();
  const info: Record<string, string> = {};
  for (const [k, v] of Object.entries(verified.payload)) info[k] = String(v);
  info['alg'] = 'RS256';
  info['kid'] = String(verified.header['kid']);
  info['typ'] = 'JWT';
  return jsonReply(200, info, { 'cache-control': 'no-store' });
}

export function handleUserInfo(ctx: RequestContext, core: StandInCore): Reply {
  const token = bearerToken(ctx);
  const record = token ? core.oauth.findAccessToken(token) : undefined;
  if (!record) {
    return jsonReply(
      401,
      { error: 'invalid_request', error_description: 'Invalid Credentials' },
      { 'www-authenticate': 'Bearer error="invalid_token"' },
    );
  }
  const info: Record<string, string | boolean> = { sub: record.grant.sub };
  if (record.scopes.includes(USERINFO_PROFILE))
    info['name'] = record.grant.email.split('@')[0] ?? '';
  if (record.scopes.includes(USERINFO_EMAIL)) {
    info['email'] = record.grant.email;
    info['email_verified'] = true;
  }
  return jsonReply(200, info, { 'cache-control': 'no-store' });
}
