import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  DRIVE_FILE_SCOPE,
  GMAIL_SCOPE,
  OTHER_CLIENT,
  REDIRECT_URI,
  TESTING_CLIENT,
  decodeJwtPayload,
  exchangeCode,
  obtainCode,
  pkcePair,
  postForm,
  refresh,
  signIn,
  startTestStandIn,
  str,
} from './test-helpers.ts';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn({ codeTtlSeconds: 60 });
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe('code exchange success', () => {
  it('returns Google-shaped tokens with no-store JSON', async () => {
    const { code } = await obtainCode(standIn, { nonce: 'n-1' });
    const answer = await exchangeCode(standIn, code);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const body = answer.json;
    expect(str(body['access_token'])).toMatch(/^ya29\./);
    expect(str(body['refresh_token'])).toMatch(/^1\/\/0/);
    expect(body['expires_in']).toBe(3599);
    expect(body['token_type']).toBe('Bearer');
    expect(body['refresh_token_expires_in']).toBeUndefined();
    expect(str(body['scope']).split(' ').sort()).toEqual(
      ['openid', 'https://www.googleapis.com/auth/userinfo.email', DRIVE_FILE_SCOPE].sort(),
    );
    const claims = decodeJwtPayload(str(body['id_token']));
    expect(claims).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: CLIENT.clientId,
      azp: CLIENT.clientId,
      email: 'user@example.com',
      email_verified: true,
      nonce: 'n-1',
    });
    expect(str(claims['sub'])).toMatch(/^\d{21}$/);
    const header = JSON.parse(
      Buffer.from(str(body['id_token']).split('.')[0] ?? '', 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(header['alg']).toBe('RS256');
    expect(typeof header['kid']).toBe('string');
  });

  it('gives the same user the same sub every time, and different users different subs', async () => {
    const a1 = decodeJwtPayload(str((await signIn(standIn))['id_token']));
    const a2 = decodeJwtPayload(str((await signIn(standIn, { prompt: 'consent' }))['id_token']));
    const b = decodeJwtPayload(
      str((await signIn(standIn, { standin_user: 'b@example.com' }))['id_token']),
    );
    expect(a1['sub']).toBe(a2['sub']);
    expect(b['sub']).not.toBe(a1['sub']);
  });

  it('omits id_token when openid was not asked', async () => {
    const body = await signIn(standIn, { scope: DRIVE_FILE_SCOPE });
    expect(body['id_token']).toBeUndefined();
  });

  it('accepts HTTP Basic client authentication', async () => {
    const { code } = await obtainCode(standIn);
    const basic = Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64');
    const answer = await postForm(
      standIn.endpoints.tokenUrl,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI },
      { authorization: `Basic ${basic}` },
    );
    expect(answer.status).toBe(200);
  });
});

describe('when a refresh token is issued', () => {
  it('first offline consent: yes; later consent without prompt=consent: no; with prompt=consent: a new one', async () => {
    const first = await signIn(standIn);
    expect(first['refresh_token']).toBeDefined();
    const second = await signIn(standIn);
    expect(second['refresh_token']).toBeUndefined();
    const third = await signIn(standIn, { prompt: 'consent' });
    expect(third['refresh_token']).toBeDefined();
    expect(third['refresh_token']).not.toBe(first['refresh_token']);
    expect(standIn.control.grants('user@example.com')[0]?.liveRefreshTokens).toBe(2);
  });

  it('online access never gets one, even on first consent', async () => {
    const body = await signIn(standIn, { access_type: 'online' });
    expect(body['refresh_token']).toBeUndefined();
    const again = await signIn(standIn, { access_type: 'online', prompt: 'consent' });
    expect(again['refresh_token']).toBeUndefined();
  });

  it('after the user revoked access, the next consent is a first consent again', async () => {
    await signIn(standIn);
    standIn.control.revokeUserGrant('user@example.com');
    expect((await signIn(standIn))['refresh_token']).toBeDefined();
  });

  it('Testing-mode clients get refresh_token_expires_in 604799 and tokens that die after 7 days', async () => {
    const body = await signIn(standIn, { client_id: TESTING_CLIENT.clientId });
    expect(body['refresh_token_expires_in']).toBe(604799);
    const token = str(body['refresh_token']);
    standIn.control.advanceClock(6 * DAY_MS);
    const ok = await refresh(standIn, token, TESTING_CLIENT);
    expect(ok.status).toBe(200);
    expect(ok.json['refresh_token_expires_in']).toBeLessThan(604799);
    standIn.control.advanceClock(DAY_MS);
    const dead = await refresh(standIn, token, TESTING_CLIENT);
    expect(dead.status).toBe(400);
    expect(dead.json).toEqual({
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });
  });
});

describe('token endpoint error table', () => {
  it('code reused → invalid_grant "Bad Request", and tokens minted from it are revoked', async () => {
    const { code } = await obtainCode(standIn);
    const first = await exchangeCode(standIn, code);
    expect(first.status).toBe(200);
    const again = await exchangeCode(standIn, code);
    expect(again.status).toBe(400);
    expect(again.json).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
    const dead = await refresh(standIn, str(first.json['refresh_token']));
    expect(dead.json['error']).toBe('invalid_grant');
    const info = await fetch(
      `${standIn.endpoints.tokenInfoUrl}?access_token=${str(first.json['access_token'])}`,
    );
    expect(info.status).toBe(400);
  });

  it('unknown code → invalid_grant "Bad Request"', async () => {
    const answer = await exchangeCode(standIn, '4/0AUnknownCodeThatWasNeverIssued');
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
  });

  it('expired code (controllable clock) → invalid_grant "Bad Request"', async () => {
    const { code } = await obtainCode(standIn);
    standIn.control.advanceClock(61_000);
    const answer = await exchangeCode(standIn, code);
    expect(answer.json).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
  });

  it('double-encoded code → invalid_grant "Malformed auth code."', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchangeCode(standIn, encodeURIComponent(code));
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: 'invalid_grant',
      error_description: 'Malformed auth code.',
    });
    // The good code is still usable afterwards.
    expect((await exchangeCode(standIn, code)).status).toBe(200);
  });

  it('garbled code → invalid_grant "Malformed auth code."', async () => {
    const answer = await exchangeCode(standIn, 'not a code');
    expect(answer.json).toEqual({
      error: 'invalid_grant',
      error_description: 'Malformed auth code.',
    });
  });

  it('redirect_uri differs from the consent request → redirect_uri_mismatch', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchangeCode(standIn, code, {
      redirect_uri: 'https://app.example.com/oauth/callback',
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: 'redirect_uri_mismatch',
      error_description: 'Bad Request',
    });
  });

  it('code of another client → invalid_grant', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await postForm(standIn.endpoints.tokenUrl, {
      grant_type: 'authorization_code',
      code,
      client_id: OTHER_CLIENT.clientId,
      client_secret: OTHER_CLIENT.clientSecret,
      redirect_uri: REDIRECT_URI,
    });
    expect(answer.json['error']).toBe('invalid_grant');
  });

  describe('PKCE', () => {
    it.each(['S256', 'plain'] as const)('%s: correct verifier succeeds', async (method) => {
      const { verifier, challenge } = pkcePair();
      const { code } = await obtainCode(standIn, {
        code_challenge: method === 'S256' ? challenge : verifier,
        code_challenge_method: method,
      });
      expect((await exchangeCode(standIn, code, { code_verifier: verifier })).status).toBe(200);
    });

    it('challenge without method is plain (RFC 7636 §4.3)', async () => {
      const { verifier } = pkcePair();
      const { code } = await obtainCode(standIn, { code_challenge: verifier });
      expect((await exchangeCode(standIn, code, { code_verifier: verifier })).status).toBe(200);
    });

    it('challenge sent, verifier missing → "Missing code verifier."', async () => {
      const { challenge } = pkcePair();
      const { code } = await obtainCode(standIn, {
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const answer = await exchangeCode(standIn, code);
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({
        error: 'invalid_grant',
        error_description: 'Missing code verifier.',
      });
    });

    it('wrong verifier → "Invalid code verifier."', async () => {
      const { challenge } = pkcePair();
      const { code } = await obtainCode(standIn, {
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const answer = await exchangeCode(standIn, code, { code_verifier: pkcePair().verifier });
      expect(answer.json).toEqual({
        error: 'invalid_grant',
        error_description: 'Invalid code verifier.',
      });
    });

    it('verifier sent but no challenge was → "code_verifier or verifier is not needed."', async () => {
      const { code } = await obtainCode(standIn);
      const answer = await exchangeCode(standIn, code, { code_verifier: pkcePair().verifier });
      expect(answer.json).toEqual({
        error: 'invalid_grant',
        error_description: 'code_verifier or verifier is not needed.',
      });
    });
  });

  it('missing client secret, even with PKCE → invalid_request "client_secret is missing."', async () => {
    const { verifier, challenge } = pkcePair();
    const { code } = await obtainCode(standIn, {
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const answer = await postForm(standIn.endpoints.tokenUrl, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: CLIENT.clientId,
      redirect_uri: REDIRECT_URI,
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: 'invalid_request',
      error_description: 'client_secret is missing.',
    });
  });

  it('unknown client → 401 invalid_client "The OAuth client was not found."', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchangeCode(standIn, code, {
      client_id: 'ghost.apps.googleusercontent.com',
    });
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({
      error: 'invalid_client',
      error_description: 'The OAuth client was not found.',
    });
  });

  it('wrong secret → 401 invalid_client "Unauthorized"', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchangeCode(standIn, code, { client_secret: 'GOCSPX-wrong' });
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({ error: 'invalid_client', error_description: 'Unauthorized' });
  });

  it('deleted client → 401 deleted_client, for code exchange and refresh', async () => {
    const body = await signIn(standIn);
    const { code } = await obtainCode(standIn);
    standIn.control.deleteClient(CLIENT.clientId);
    const exchange = await exchangeCode(standIn, code);
    expect(exchange.status).toBe(401);
    expect(exchange.json['error']).toBe('deleted_client');
    const refreshed = await refresh(standIn, str(body['refresh_token']));
    expect(refreshed.status).toBe(401);
    expect(refreshed.json['error']).toBe('deleted_client');
    const info = await fetch(
      `${standIn.endpoints.tokenInfoUrl}?access_token=${str(body['access_token'])}`,
    );
    expect(info.status).toBe(400);
  });

  it('missing or unsupported grant_type → unsupported_grant_type', async () => {
    const answer = await postForm(standIn.endpoints.tokenUrl, {
      grant_type: 'password',
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
    });
    expect(answer.status).toBe(400);
    expect(answer.json['error']).toBe('unsupported_grant_type');
  });
});

describe('refresh_token grant', () => {
  it('returns a new access token, the grant scope, no refresh_token (no rotation), and an id_token', async () => {
    const body = await signIn(standIn);
    const answer = await refresh(standIn, str(body['refresh_token']));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.json['refresh_token']).toBeUndefined();
    expect(answer.json['access_token']).not.toBe(body['access_token']);
    expect(answer.json['scope']).toBe(body['scope']);
    expect(answer.json['expires_in']).toBe(3599);
    expect(answer.json['token_type']).toBe('Bearer');
    expect(decodeJwtPayload(str(answer.json['id_token']))['nonce']).toBeUndefined();
  });

  it('reports the scopes actually granted, not those requested', async () => {
    const body = await signIn(standIn, {
      scope: `openid ${DRIVE_FILE_SCOPE} ${GMAIL_SCOPE}`,
      standin_grant: '',
    });
    const answer = await refresh(standIn, str(body['refresh_token']));
    expect(answer.json['scope']).toBe('openid');
  });

  it('revoked refresh token → 400 invalid_grant "Token has been expired or revoked."', async () => {
    const body = await signIn(standIn);
    standIn.control.revokeUserGrant('user@example.com', CLIENT.clientId);
    const answer = await refresh(standIn, str(body['refresh_token']));
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });
  });

  it('unknown refresh token → invalid_grant', async () => {
    const answer = await refresh(standIn, '1//0never-issued');
    expect(answer.json['error']).toBe('invalid_grant');
  });

  it('refresh token unused for six months → invalid_grant', async () => {
    const body = await signIn(standIn);
    standIn.control.advanceClock(184 * DAY_MS);
    expect((await refresh(standIn, str(body['refresh_token']))).json['error']).toBe(
      'invalid_grant',
    );
  });

  it('refresh token of another client → 401 unauthorized_client "Unauthorized"', async () => {
    const body = await signIn(standIn);
    const answer = await refresh(standIn, str(body['refresh_token']), OTHER_CLIENT);
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({
      error: 'unauthorized_client',
      error_description: 'Unauthorized',
    });
  });

  it('wrong secret on refresh → 401 invalid_client', async () => {
    const body = await signIn(standIn);
    const answer = await refresh(standIn, str(body['refresh_token']), {
      ...CLIENT,
      clientSecret: 'nope',
    });
    expect(answer.status).toBe(401);
    expect(answer.json['error']).toBe('invalid_client');
  });

  it('reauth (invalid_rapt) fails the next refresh once, with error_subtype and error_uri', async () => {
    const body = await signIn(standIn);
    standIn.control.requireReauth('user@example.com');
    const answer = await refresh(standIn, str(body['refresh_token']));
    expect(answer.status).toBe(400);
    expect(answer.json['error']).toBe('invalid_grant');
    expect(answer.json['error_subtype']).toBe('invalid_rapt');
    expect(str(answer.json['error_uri'])).toMatch(/^https:\/\//);
    expect((await refresh(standIn, str(body['refresh_token']))).status).toBe(200);
  });

  it('password change kills refresh tokens only of grants holding Gmail scopes', async () => {
    const gmail = await signIn(standIn, { scope: `openid ${GMAIL_SCOPE}` });
    const sameUserDriveOnly = await signIn(standIn, { client_id: OTHER_CLIENT.clientId });
    const otherUser = await signIn(standIn, {
      scope: `openid ${GMAIL_SCOPE}`,
      standin_user: 'x@example.com',
    });
    expect(standIn.control.changePassword('user@example.com')).toBe(1);
    expect((await refresh(standIn, str(gmail['refresh_token']))).json['error']).toBe(
      'invalid_grant',
    );
    const stillAlive = await refresh(
      standIn,
      str(sameUserDriveOnly['refresh_token']),
      OTHER_CLIENT,
    );
    expect(stillAlive.status).toBe(200);
    expect((await refresh(standIn, str(otherUser['refresh_token']))).status).toBe(200);
  });

  it('the 101st live refresh token silently invalidates the oldest', async () => {
    const first = str((await signIn(standIn))['refresh_token']);
    const second = str((await signIn(standIn, { prompt: 'consent' }))['refresh_token']);
    for (let i = 0; i < 98; i += 1) await signIn(standIn, { prompt: 'consent' });
    expect(standIn.control.grants('user@example.com')[0]?.liveRefreshTokens).toBe(100);
    expect((await refresh(standIn, first)).status).toBe(200);
    await signIn(standIn, { prompt: 'consent' });
    expect(standIn.control.grants('user@example.com')[0]?.liveRefreshTokens).toBe(100);
    expect((await refresh(standIn, first)).json['error']).toBe('invalid_grant');
    expect((await refresh(standIn, second)).status).toBe(200);
  });

  it('access tokens expire after 3599 s of the controllable clock', async () => {
    const body = await signIn(standIn);
    const url = `${standIn.endpoints.tokenInfoUrl}?access_token=${str(body['access_token'])}`;
    standIn.control.advanceClock(3598_000);
    expect((await fetch(url)).status).toBe(200);
    standIn.control.advanceClock(2_000);
    expect((await fetch(url)).status).toBe(400);
  });
});
