import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  DRIVE_FILE_SCOPE,
  OTHER_CLIENT,
  decodeJwtPayload,
  postForm,
  refresh,
  signIn,
  startTestStandIn,
  str,
} from './test-helpers.ts';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

const DEAD = { error: 'invalid_token', error_description: 'Token expired or revoked' };

async function tokenInfo(
  query: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${standIn.endpoints.tokenInfoUrl}?${query}`);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('revoke', () => {
  it('revoking the refresh token (form body) kills the whole grant: every refresh and access token', async () => {
    const first = await signIn(standIn);
    const second = await signIn(standIn, { prompt: 'consent' });
    const answer = await postForm(standIn.endpoints.revokeUrl, {
      token: str(first['refresh_token']),
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({});
    expect((await refresh(standIn, str(second['refresh_token']))).json['error']).toBe(
      'invalid_grant',
    );
    expect((await tokenInfo(`access_token=${str(second['access_token'])}`)).status).toBe(400);
    expect(standIn.control.grants('user@example.com')).toEqual([]);
  });

  it('accepts an access token in the query string, and leaves other clients alone', async () => {
    const mine = await signIn(standIn);
    const other = await signIn(standIn, { client_id: OTHER_CLIENT.clientId });
    const res = await fetch(
      `${standIn.endpoints.revokeUrl}?token=${encodeURIComponent(str(mine['access_token']))}`,
      {
        method: 'POST',
      },
    );
    expect(res.status).toBe(200);
    expect((await refresh(standIn, str(mine['refresh_token']))).json['error']).toBe(
      'invalid_grant',
    );
    expect((await refresh(standIn, str(other['refresh_token']), OTHER_CLIENT)).status).toBe(200);
  });

  it('already revoked or unknown token → 400 invalid_token "Token expired or revoked"', async () => {
    const body = await signIn(standIn);
    await postForm(standIn.endpoints.revokeUrl, { token: str(body['refresh_token']) });
    const again = await postForm(standIn.endpoints.revokeUrl, {
      token: str(body['refresh_token']),
    });
    expect(again.status).toBe(400);
    expect(again.json).toEqual(DEAD);
    expect((await postForm(standIn.endpoints.revokeUrl, { token: 'ya29.unknown' })).json).toEqual(
      DEAD,
    );
  });

  it('an expired access token cannot revoke anything', async () => {
    const body = await signIn(standIn);
    standIn.control.advanceClock(3600_000);
    expect(
      (await postForm(standIn.endpoints.revokeUrl, { token: str(body['access_token']) })).status,
    ).toBe(400);
    expect((await refresh(standIn, str(body['refresh_token']))).status).toBe(200);
  });
});

describe('tokeninfo', () => {
  it('describes an access token with string-typed fields', async () => {
    const body = await signIn(standIn);
    const { status, json } = await tokenInfo(`access_token=${str(body['access_token'])}`);
    expect(status).toBe(200);
    expect(json).toMatchObject({
      aud: CLIENT.clientId,
      azp: CLIENT.clientId,
      email: 'user@example.com',
      email_verified: 'true',
      scope: body['scope'],
      access_type: 'offline',
    });
    expect(str(json['exp'])).toMatch(/^\d+$/);
    expect(Number(str(json['expires_in']))).toBeGreaterThan(3500);
    expect(str(json['sub'])).toMatch(/^\d{21}$/);
  });

  it('omits email when the email scope was not granted', async () => {
    const body = await signIn(standIn, { scope: `openid ${DRIVE_FILE_SCOPE}` });
    const { json } = await tokenInfo(`access_token=${str(body['access_token'])}`);
    expect(json['email']).toBeUndefined();
  });

  it('accepts POST with the token in an Authorization header (google-auth-library getTokenInfo)', async () => {
    const body = await signIn(standIn);
    const res = await fetch(standIn.endpoints.tokenInfoUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${str(body['access_token'])}` },
    });
    expect(res.status).toBe(200);
  });

  it('describes an ID token with string-typed claims', async () => {
    const body = await signIn(standIn, { nonce: 'abc' });
    const { status, json } = await tokenInfo(`id_token=${str(body['id_token'])}`);
    expect(status).toBe(200);
    expect(json).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: CLIENT.clientId,
      email_verified: 'true',
      nonce: 'abc',
      alg: 'RS256',
    });
    expect(typeof json['exp']).toBe('string');
    expect(typeof json['iat']).toBe('string');
  });

  it('invalid tokens → 400 invalid_token "Invalid Value"', async () => {
    const body = await signIn(standIn);
    const tampered = `${str(body['id_token']).slice(0, -4)}AAAA`;
    for (const query of ['access_token=ya29.nope', `id_token=${tampered}`, 'id_token=not.a.jwt']) {
      const { status, json } = await tokenInfo(query);
      expect(status).toBe(400);
      expect(json).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
    }
  });
});

describe('userinfo', () => {
  it('returns sub and email for a live token, 401 otherwise', async () => {
    const body = await signIn(standIn);
    const ok = await fetch(standIn.endpoints.userInfoUrl, {
      headers: { authorization: `Bearer ${str(body['access_token'])}` },
    });
    expect(await ok.json()).toMatchObject({ email: 'user@example.com', email_verified: true });
    const bad = await fetch(standIn.endpoints.userInfoUrl, {
      headers: { authorization: 'Bearer ya29.nope' },
    });
    expect(bad.status).toBe(401);
  });
});

describe('certificates and discovery', () => {
  it('serves X.509 certificates keyed by kid, cacheable with max-age', async () => {
    const res = await fetch(standIn.endpoints.certsPemUrl);
    expect(res.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
    const certs = (await res.json()) as Record<string, string>;
    expect(Object.keys(certs)).toHaveLength(2);
    const body = await signIn(standIn);
    const header = JSON.parse(
      Buffer.from(str(body['id_token']).split('.')[0] ?? '', 'base64url').toString(),
    ) as { kid: string };
    const pem = certs[header.kid];
    expect(pem).toContain('-----BEGIN CERTIFICATE-----');
    const cert = new X509Certificate(pem ?? '');
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('serves the same keys as a JWKS', async () => {
    const res = await fetch(standIn.endpoints.certsJwksUrl);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const jwks = (await res.json()) as { keys: Array<Record<string, string>> };
    const pem = (await (await fetch(standIn.endpoints.certsPemUrl)).json()) as Record<
      string,
      string
    >;
    expect(jwks.keys.map((k) => k['kid']).sort()).toEqual(Object.keys(pem).sort());
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
  });

  it('publishes a discovery document pointing at the stand-in', async () => {
    const doc = (await (await fetch(standIn.endpoints.discoveryUrl)).json()) as Record<
      string,
      unknown
    >;
    expect(doc).toMatchObject({
      issuer: 'https://accounts.google.com',
      authorization_endpoint: standIn.endpoints.authUrl,
      token_endpoint: standIn.endpoints.tokenUrl,
      revocation_endpoint: standIn.endpoints.revokeUrl,
      jwks_uri: standIn.endpoints.certsJwksUrl,
    });
  });

  it('ID tokens use real wall time, unaffected by the controllable clock', async () => {
    standIn.control.advanceClock(30 * 86_400_000);
    const claims = decodeJwtPayload(str((await signIn(standIn))['id_token']));
    expect(Math.abs(Number(claims['iat']) - Date.now() / 1000)).toBeLessThan(120);
  });
});
