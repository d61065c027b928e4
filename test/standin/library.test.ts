// The stand-in driven by the real google-auth-library, configured only through endpoints.
import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  REDIRECT_URI,
  obtainCode,
  pkcePair,
  startTestStandIn,
  str,
} from './test-helpers.ts';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

function newClient(): OAuth2Client {
  return new OAuth2Client({
    clientId: CLIENT.clientId,
    clientSecret: CLIENT.clientSecret,
    redirectUri: REDIRECT_URI,
    endpoints: {
      oauth2AuthBaseUrl: standIn.endpoints.authUrl,
      oauth2TokenUrl: standIn.endpoints.tokenUrl,
      oauth2RevokeUrl: standIn.endpoints.revokeUrl,
      tokenInfoUrl: standIn.endpoints.tokenInfoUrl,
      oauth2FederatedSignonPemCertsUrl: standIn.endpoints.certsPemUrl,
      oauth2FederatedSignonJwkCertsUrl: standIn.endpoints.certsJwksUrl,
    },
    issuers: [standIn.endpoints.issuer],
  });
}

describe('google-auth-library OAuth2Client against the stand-in', () => {
  it('generateAuthUrl → consent → getToken with codeVerifier → verifyIdToken (PEM certificates)', async () => {
    const client = newClient();
    const { verifier, challenge } = pkcePair();
    const url = new URL(
      client.generateAuthUrl({
        access_type: 'offline',
        scope: ['openid', 'email', 'https://www.googleapis.com/auth/drive.file'],
        state: 's',
        code_challenge: challenge,
        code_challenge_method: CodeChallengeMethod.S256,
        nonce: 'nonce-1',
      }),
    );
    expect(url.origin + url.pathname).toBe(standIn.endpoints.authUrl);
    const { code } = await obtainCode(standIn, Object.fromEntries(url.searchParams));
    const { tokens } = await client.getToken({ code, codeVerifier: verifier });
    expect(tokens.refresh_token).toMatch(/^1\/\/0/);
    expect(tokens.expiry_date).toBeGreaterThan(Date.now());
    const ticket = await client.verifyIdToken({
      idToken: str(tokens.id_token),
      audience: CLIENT.clientId,
    });
    const payload = ticket.getPayload();
    expect(payload?.email).toBe('user@example.com');
    expect(payload?.nonce).toBe('nonce-1');
    expect(payload?.iss).toBe('https://accounts.google.com');
  });

  it('refreshAccessToken and getAccessToken use the refresh token; no rotation', async () => {
    const client = newClient();
    const { code } = await obtainCode(standIn);
    const { tokens } = await client.getToken(code);
    client.setCredentials({ refresh_token: tokens.refresh_token ?? null });
    const { token } = await client.getAccessToken();
    expect(token).toMatch(/^ya29\./);
    expect(token).not.toBe(tokens.access_token);
    const { credentials } = await client.refreshAccessToken();
    // The library copies the old refresh token into the result; the server sent none.
    expect(credentials.refresh_token).toBe(tokens.refresh_token);
    const info = await client.getTokenInfo(str(credentials.access_token));
    expect(info.aud).toBe(CLIENT.clientId);
    expect(info.scopes).toContain('https://www.googleapis.com/auth/drive.file');
  });

  it('surfaces invalid_grant as a GaxiosError with response data', async () => {
    const client = newClient();
    const { code } = await obtainCode(standIn);
    const { tokens } = await client.getToken(code);
    standIn.control.revokeUserGrant('user@example.com');
    client.setCredentials({ refresh_token: tokens.refresh_token ?? null });
    const err: unknown = await client.refreshAccessToken().then(
      () => null,
      (e: unknown) => e,
    );
    const data = (err as { response?: { data?: { error?: string } } } | null)?.response?.data;
    expect(data?.error).toBe('invalid_grant');
  });

  it('retries token calls 3 times on 503 (1 failure + 3 retries seen), then succeeds', async () => {
    const client = newClient();
    const { code } = await obtainCode(standIn);
    const { tokens } = await client.getToken(code);
    standIn.control.clearRequestLog();
    standIn.control.injectFault('token', { kind: 'status', status: 503, count: 3 });
    client.setCredentials({ refresh_token: tokens.refresh_token ?? null });
    const { credentials } = await client.refreshAccessToken();
    expect(credentials.access_token).toMatch(/^ya29\./);
    const statuses = standIn.control
      .requestLog()
      .filter((e) => e.endpoint === 'token')
      .map((e) => e.status);
    expect(statuses).toEqual([503, 503, 503, 200]);
  }, 15_000);

  it('verifies a service-account ID token minted through control (issuer https://accounts.google.com)', async () => {
    const idToken = standIn.control.mintServiceAccountIdToken({
      email: 'scheduler@project.iam.gserviceaccount.com',
      audience: 'https://app.example.com/jobs/run',
    });
    const ticket = await newClient().verifyIdToken({
      idToken,
      audience: 'https://app.example.com/jobs/run',
    });
    const payload = ticket.getPayload();
    expect(payload?.email).toBe('scheduler@project.iam.gserviceaccount.com');
    expect(payload?.email_verified).toBe(true);
    expect(payload?.sub).toMatch(/^\d{21}$/);
    expect(payload?.azp).toBe(payload?.sub);
    await expect(
      newClient().verifyIdToken({ idToken, audience: 'https://other.example.com' }),
    ).rejects.toThrow();
  });

  it('rejects an ID token when the issuer list does not match', async () => {
    const idToken = standIn.control.mintServiceAccountIdToken({
      email: 'a@p.iam.gserviceaccount.com',
      audience: 'aud',
    });
    const client = new OAuth2Client({
      endpoints: { oauth2FederatedSignonPemCertsUrl: standIn.endpoints.certsPemUrl },
      issuers: ['https://issuer.invalid'],
    });
    await expect(client.verifyIdToken({ idToken, audience: 'aud' })).rejects.toThrow(/issuer/i);
  });
});
