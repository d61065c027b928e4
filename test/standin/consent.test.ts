import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  DRIVE_FILE_SCOPE,
  GMAIL_SCOPE,
  REDIRECT_URI,
  consentParams,
  getAuth,
  obtainCode,
  startTestStandIn,
} from './test-helpers.ts';

const EMAIL_URL = 'https://www.googleapis.com/auth/userinfo.email';
const PROFILE_URL = 'https://www.googleapis.com/auth/userinfo.profile';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

/** Browser-less page parsing: the hidden request field and the checkbox values. */
function parsePage(html: string): { request: string; scopes: string[]; email: string } {
  const request = /name="request" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const scopes = [...html.matchAll(/type="checkbox"[^>]*name="scope" value="([^"]+)"/g)].map(
    (m) => m[1] ?? '',
  );
  const email = /id="email" name="email" value="([^"]*)"/.exec(html)?.[1] ?? '';
  return { request, scopes, email: email.replace(/&#64;/g, '@') };
}

async function postDecision(form: Record<string, string | string[]>): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const item of [v].flat()) body.append(k, item);
  return fetch(`${standIn.url}/o/oauth2/v2/auth/decision`, {
    method: 'POST',
    body,
    redirect: 'manual',
  });
}

describe('consent request validation (error page, never a redirect)', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['missing client_id', { client_id: '' }, 'invalid_request'],
    ['unknown client', { client_id: 'nobody.apps.googleusercontent.com' }, 'invalid_client'],
    ['missing redirect_uri', { redirect_uri: '' }, 'invalid_request'],
    ['OOB redirect', { redirect_uri: 'urn:ietf:wg:oauth:2.0:oob' }, 'invalid_request'],
    ['redirect with trailing slash', { redirect_uri: `${REDIRECT_URI}/` }, 'redirect_uri_mismatch'],
    [
      'redirect with other case',
      { redirect_uri: REDIRECT_URI.replace('callback', 'Callback') },
      'redirect_uri_mismatch',
    ],
    [
      'redirect with other port',
      { redirect_uri: REDIRECT_URI.replace('3000', '3001') },
      'redirect_uri_mismatch',
    ],
    [
      'redirect with other scheme',
      { redirect_uri: REDIRECT_URI.replace('http:', 'https:') },
      'redirect_uri_mismatch',
    ],
    ['approval_prompt=auto', { approval_prompt: 'auto' }, 'invalid_request'],
    [
      'approval_prompt with prompt',
      { approval_prompt: 'force', prompt: 'consent' },
      'invalid_request',
    ],
    ['prompt none combined', { prompt: 'none consent' }, 'invalid_request'],
    ['unknown prompt', { prompt: 'login' }, 'invalid_request'],
    ['missing response_type', { response_type: '' }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['missing scope', { scope: '' }, 'invalid_request'],
    ['invalid scope', { scope: 'openid drive' }, 'invalid_scope'],
    ['bad access_type', { access_type: 'forever' }, 'invalid_request'],
    [
      'bad code_challenge_method',
      { code_challenge: 'a'.repeat(43), code_challenge_method: 'S512' },
      'invalid_request',
    ],
    ['method without challenge', { code_challenge_method: 'S256' }, 'invalid_request'],
    [
      'short code_challenge',
      { code_challenge: 'short', code_challenge_method: 'S256' },
      'invalid_request',
    ],
  ];

  it.each(cases)('%s → 400 page with %s', async (_name, overrides, error) => {
    const params = consentParams(overrides);
    for (const [k, v] of Object.entries(overrides)) if (v === '') delete params[k];
    const answer = await getAuth(standIn, params);
    expect(answer.status).toBe(400);
    expect(answer.location).toBeNull();
    expect(answer.body).toContain(`data-error="${error}"`);
  });

  it('shows deleted_client once the client is deleted', async () => {
    standIn.control.deleteClient(CLIENT.clientId);
    const answer = await getAuth(standIn, consentParams());
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('data-error="deleted_client"');
  });

  it('accepts approval_prompt=force alone as prompt=consent', async () => {
    await obtainCode(standIn);
    const { params } = await obtainCode(standIn, { approval_prompt: 'force' });
    expect(params.get('prompt')).toBe('consent');
  });

  it('ignores unknown extra parameters', async () => {
    const { code } = await obtainCode(standIn, { hd: 'example.com', authuser: '1', foo: 'bar' });
    expect(code).toMatch(/^4\/0A/);
  });
});

describe('scripted consent', () => {
  it('redirects with state, iss, a code containing "/", normalised scopes, authuser and prompt', async () => {
    const answer = await getAuth(
      standIn,
      consentParams({ scope: `email profile openid ${DRIVE_FILE_SCOPE}` }),
    );
    expect(answer.status).toBe(302);
    const location = answer.location;
    expect(location?.origin + (location?.pathname ?? '')).toBe(REDIRECT_URI);
    const raw = location?.search ?? '';
    expect(raw).toContain('code=4%2F0A');
    const params = location?.searchParams;
    expect([...(params?.keys() ?? [])]).toEqual([
      'state',
      'iss',
      'code',
      'scope',
      'authuser',
      'prompt',
    ]);
    expect(params?.get('state')).toBe('state-123');
    expect(params?.get('iss')).toBe('https://accounts.google.com');
    expect(params?.get('code')).toMatch(/^4\/0A[\w-]+$/);
    expect(params?.get('scope')?.split(' ').sort()).toEqual(
      [DRIVE_FILE_SCOPE, EMAIL_URL, PROFILE_URL, 'openid'].sort(),
    );
    expect(params?.get('authuser')).toBe('0');
    expect(params?.get('prompt')).toBe('consent');
  });

  it('denies with access_denied and the state', async () => {
    const answer = await getAuth(standIn, consentParams({ standin_decision: 'deny' }));
    expect(answer.status).toBe(302);
    expect(answer.location?.searchParams.get('error')).toBe('access_denied');
    expect(answer.location?.searchParams.get('state')).toBe('state-123');
    expect(answer.location?.searchParams.has('code')).toBe(false);
  });

  it('grants only the scripted subset, keeping sign-in scopes', async () => {
    const { params } = await obtainCode(standIn, {
      scope: `openid email ${DRIVE_FILE_SCOPE} ${GMAIL_SCOPE}`,
      standin_grant: GMAIL_SCOPE,
    });
    expect(params.get('scope')?.split(' ').sort()).toEqual(
      [EMAIL_URL, GMAIL_SCOPE, 'openid'].sort(),
    );
  });

  it('signs in the scripted user, else login_hint', async () => {
    await obtainCode(standIn, { standin_user: 'Alice@Example.com' });
    await obtainCode(standIn, { login_hint: 'bob@example.com' });
    expect(standIn.control.grants('alice@example.com')).toHaveLength(1);
    expect(standIn.control.grants('bob@example.com')).toHaveLength(1);
  });

  it('applies a default scripted decision set through control', async () => {
    standIn.control.setScriptedDecision({ decision: 'deny' });
    const params = consentParams();
    delete params['standin_decision'];
    const denied = await getAuth(standIn, params);
    expect(denied.location?.searchParams.get('error')).toBe('access_denied');
    standIn.control.setScriptedDecision({ decision: 'approve', user: 'carol@example.com' });
    const approved = await getAuth(standIn, params);
    expect(approved.location?.searchParams.get('code')).toBeTruthy();
    expect(standIn.control.grants('carol@example.com')).toHaveLength(1);
    standIn.control.setScriptedDecision(null);
    expect((await getAuth(standIn, params)).status).toBe(200);
  });

  it('reports prompt=none in the redirect when no consent screen was needed', async () => {
    await obtainCode(standIn);
    const { params } = await obtainCode(standIn);
    expect(params.get('prompt')).toBe('none');
  });
});

describe('include_granted_scopes', () => {
  it('adds earlier grants of that user to that client', async () => {
    await obtainCode(standIn, { scope: `openid ${GMAIL_SCOPE}` });
    const without = await obtainCode(standIn, { scope: `openid ${DRIVE_FILE_SCOPE}` });
    expect(without.params.get('scope')?.split(' ').sort()).toEqual(
      [DRIVE_FILE_SCOPE, 'openid'].sort(),
    );
    const withEarlier = await obtainCode(standIn, {
      scope: `openid ${DRIVE_FILE_SCOPE}`,
      include_granted_scopes: 'true',
    });
    expect(withEarlier.params.get('scope')?.split(' ').sort()).toEqual(
      [DRIVE_FILE_SCOPE, GMAIL_SCOPE, 'openid'].sort(),
    );
  });

  it('does not add grants of another user', async () => {
    await obtainCode(standIn, {
      scope: `openid ${GMAIL_SCOPE}`,
      standin_user: 'other@example.com',
    });
    const { params } = await obtainCode(standIn, {
      scope: 'openid',
      include_granted_scopes: 'true',
    });
    expect(params.get('scope')).toBe('openid');
  });
});

describe('prompt=none', () => {
  it('answers consent_required without an earlier grant', async () => {
    const answer = await getAuth(standIn, consentParams({ prompt: 'none' }));
    expect(answer.status).toBe(302);
    expect(answer.location?.searchParams.get('error')).toBe('consent_required');
    expect(answer.location?.searchParams.get('state')).toBe('state-123');
  });

  it('issues a code silently when everything was granted before', async () => {
    await obtainCode(standIn);
    const { params } = await obtainCode(standIn, { prompt: 'none' });
    expect(params.get('prompt')).toBe('none');
  });
});

describe('consent page (browser flow)', () => {
  function pageParams(overrides: Record<string, string> = {}): Record<string, string> {
    const params = consentParams({
      scope: `openid email ${DRIVE_FILE_SCOPE} ${GMAIL_SCOPE}`,
      ...overrides,
    });
    delete params['standin_decision'];
    return params;
  }

  it('renders an accessible page: client id, email prefilled, one checkbox per non-sign-in scope', async () => {
    const answer = await getAuth(standIn, pageParams({ login_hint: 'dana@example.com' }));
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('<html lang="en">');
    expect(answer.body).toContain(CLIENT.clientId);
    expect(answer.body).toContain('<label for="email">');
    const page = parsePage(answer.body);
    expect(page.email).toBe('dana@example.com');
    expect(page.scopes).toEqual([DRIVE_FILE_SCOPE, GMAIL_SCOPE]);
    expect(answer.body).toMatch(
      /<button type="submit" name="decision" value="allow">Allow<\/button>/,
    );
    expect(answer.body).toMatch(
      /<button type="submit" name="decision" value="deny">Deny<\/button>/,
    );
  });

  it('defaults the email to user@example.com', async () => {
    const page = parsePage((await getAuth(standIn, pageParams())).body);
    expect(page.email).toBe('user@example.com');
  });

  it('Allow with one box unchecked grants sign-in scopes plus the checked one', async () => {
    const page = parsePage((await getAuth(standIn, pageParams())).body);
    const res = await postDecision({
      request: page.request,
      email: 'erin@example.com',
      scope: [DRIVE_FILE_SCOPE],
      decision: 'allow',
    });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('scope')?.split(' ').sort()).toEqual(
      [DRIVE_FILE_SCOPE, EMAIL_URL, 'openid'].sort(),
    );
    expect(location.searchParams.get('state')).toBe('state-123');
    expect(standIn.control.grants('erin@example.com')[0]?.scopes).not.toContain(GMAIL_SCOPE);
  });

  it('Deny redirects with access_denied', async () => {
    const page = parsePage((await getAuth(standIn, pageParams())).body);
    const res = await postDecision({
      request: page.request,
      email: 'erin@example.com',
      decision: 'deny',
    });
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('access_denied');
  });

  it('rejects a tampered request field', async () => {
    const page = parsePage((await getAuth(standIn, pageParams())).body);
    const [payload, tag] = page.request.split('.');
    const tampered = Buffer.from(
      Buffer.from(payload ?? '', 'base64url')
        .toString('utf8')
        .replace('state-123', 'evil'),
    ).toString('base64url');
    const res = await postDecision({
      request: `${tampered}.${tag}`,
      email: 'x@example.com',
      decision: 'allow',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('rejects an invalid email', async () => {
    const page = parsePage((await getAuth(standIn, pageParams())).body);
    const res = await postDecision({
      request: page.request,
      email: 'not-an-email',
      decision: 'allow',
    });
    expect(res.status).toBe(400);
  });

  it('sends no-store and frame protection headers', async () => {
    const res = await fetch(
      new URL(`${standIn.endpoints.authUrl}?${new URLSearchParams(pageParams()).toString()}`),
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});
