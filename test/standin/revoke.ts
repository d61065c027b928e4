// POST /revoke (RFC 7009): token in the form body or the query string; refresh or access token.
// Revoking removes the whole grant of that user to that client.
import type { StandInCore } from './core.ts';
import { formParams, oauthError, oauthJson, type Reply, type RequestContext } from './http.ts';

export const REVOKE_PATH = '/revoke';

export function handleRevoke(ctx: RequestContext, core: StandInCore): Reply {
  const token = formParams(ctx).get('token') ?? ctx.url.searchParams.get('token');
  if (!token) return oauthError(400, 'invalid_request', 'Bad Request');
  if (!core.oauth.revokeByToken(token)) {
    return oauthError(400, 'invalid_token', 'Token expired or revoked');
  }
  return oauthJson(200, {});
}
