// Validation of the consent request (GET /o/oauth2/v2/auth), in the order Google applies it.
// Every failure is shown on an error page and never redirected back.
import type { ClientRecord } from './oauth-store.ts';
import { isKnownScopeForm, parseScopes } from './scopes.ts';

export const OOB_REDIRECT_URI = 'urn:ietf:wg:oauth:2.0:oob';
const PROMPTS: ReadonlySet<string> = new Set(['none', 'consent', 'select_account']);

export interface AuthRequest {
  client: ClientRecord;
  redirectUri: string;
  /** Normalised, de-duplicated, in request order. */
  scopes: string[];
  state: string | undefined;
  accessType: 'online' | 'offline';
  includeGrantedScopes: boolean;
  loginHint: string | undefined;
  prompt: ReadonlySet<string>;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
}

export interface AuthPageError {
  /** The number Google prints ("Error 400: redirect_uri_mismatch"). */
  label: 400 | 401;
  error: string;
  description: string;
}

export type AuthRequestResult =
  { ok: true; request: AuthRequest } | { ok: false; error: AuthPageError };

const fail = (error: string, description: string, label: 400 | 401 = 400): AuthRequestResult => ({
  ok: false,
  error: { label, error, description },
});

export function parseAuthRequest(
  params: URLSearchParams,
  clients: ReadonlyMap<string, ClientRecord>,
): AuthRequestResult {
  const clientId = params.get('client_id');
  if (!clientId) return fail('invalid_request', 'Missing required parameter: client_id');
  const client = clients.get(clientId);
  if (!client) return fail('invalid_client', 'The OAuth client was not found.', 401);
  if (client.deleted) return fail('deleted_client', 'The OAuth client was deleted.', 401);

  const redirectUri = params.get('redirect_uri');
  if (!redirectUri) return fail('invalid_request', 'Missing required parameter: redirect_uri');
  if (redirectUri === OOB_REDIRECT_URI) {
    return fail(
      'invalid_request',
      'The out-of-band (OOB) flow has been blocked in order to keep users secure.',
    );
  }
  if (!client.redirectUris.includes(redirectUri)) {
    return fail(
      'redirect_uri_mismatch',
      `You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri=${redirectUri}`,
    );
  }

  const approvalPrompt = params.get('approval_prompt');
  const promptParam = params.get('prompt');
  if (approvalPrompt !== null && promptParam !== null) {
    return fail('invalid_request', 'Conflict params: approval_prompt and prompt');
  }
  if (approvalPrompt !== null && approvalPrompt !== 'force') {
    return fail(
      'invalid_request',
      `Invalid parameter value for approval_prompt: ${approvalPrompt}`,
    );
  }

  const responseType = params.get('response_type');
  if (!responseType) return fail('invalid_request', 'Required parameter is missing: response_type');
  if (responseType !== 'code') {
    return fail('unsupported_response_type', `Invalid response_type: ${responseType}`);
  }

  const rawScopes = (params.get('scope') ?? '').split(/\s+/).filter(Boolean);
  if (rawScopes.length === 0) return fail('invalid_request', 'Missing required parameter: scope');
  const invalid = rawScopes.filter((s) => !isKnownScopeForm(s));
  if (invalid.length > 0) {
    return fail(
      'invalid_scope',
      `Some requested scopes were invalid. {invalid=[${invalid.join(', ')}]}`,
    );
  }

  const prompt = new Set((promptParam ?? '').split(/\s+/).filter(Boolean));
  if (approvalPrompt === 'force') prompt.add('consent');
  for (const p of prompt)
    if (!PROMPTS.has(p)) return fail('invalid_request', `Invalid prompt: ${p}`);
  if (prompt.has('none') && prompt.size > 1) {
    return fail('invalid_request', 'prompt=none may not be combined with other prompt values');
  }

  const accessType = params.get('access_type') ?? 'online';
  if (accessType !== 'online' && accessType !== 'offline') {
    return fail('invalid_request', `Invalid access_type: ${accessType}`);
  }

  const codeChallenge = params.get('code_challenge') ?? undefined;
  const method = params.get('code_challenge_method') ?? undefined;
  if (method !== undefined && method !== 'S256' && method !== 'plain') {
    return fail('invalid_request', `Invalid code_challenge_method: ${method}`);
  }
  if (method !== undefined && codeChallenge === undefined) {
    return fail('invalid_request', 'Missing code_challenge');
  }
  if (codeChallenge !== undefined && !/^[A-Za-z0-9._~-]{43,128}$/.test(codeChallenge)) {
    return fail('invalid_request', 'Invalid code_challenge');
  }

  return {
    ok: true,
    request: {
      client,
      redirectUri,
      scopes: parseScopes(rawScopes.join(' ')),
      state: params.get('state') ?? undefined,
      accessType,
      includeGrantedScopes: params.get('include_granted_scopes') === 'true',
      loginHint: params.get('login_hint') ?? undefined,
      prompt,
      nonce: params.get('nonce') ?? undefined,
      codeChallenge,
      // RFC 7636 §4.3: a challenge without a method is "plain".
      codeChallengeMethod: codeChallenge === undefined ? undefined : (method ?? 'plain'),
    },
  };
}
