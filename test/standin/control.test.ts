import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  exchangeCode,
  obtainCode,
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

async function control(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${standIn.url}/__control/${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('fault injection', () => {
  it('status: the next N calls of that endpoint answer 5xx, then normal service resumes', async () => {
    const body = await signIn(standIn);
    standIn.control.injectFault('token', { kind: 'status', status: 503, count: 2 });
    const first = await refresh(standIn, str(body['refresh_token']));
    expect(first.status).toBe(503);
    expect(first.json['error']).toBeDefined();
    expect((await refresh(standIn, str(body['refresh_token']))).status).toBe(503);
    expect((await refresh(standIn, str(body['refresh_token']))).status).toBe(200);
  });

  it('rateLimit: 429 with Retry-After', async () => {
    standIn.control.injectFault('revoke', { kind: 'rateLimit', retryAfterSeconds: 7 });
    const answer = await postForm(standIn.endpoints.revokeUrl, { token: 'x' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect((await postForm(standIn.endpoints.revokeUrl, { token: 'x' })).status).toBe(400);
  });

  it('Drive faults use the Google API error shape', async () => {
    const token = str((await signIn(standIn))['access_token']);
    standIn.control.injectFault('drive', { kind: 'rateLimit' });
    standIn.control.injectFault('drive', { kind: 'status', status: 500 });
    const headers = { authorization: `Bearer ${token}` };
    const limited = await fetch(`${standIn.url}/drive/v3/files`, { headers });
    expect(limited.status).toBe(429);
    expect(
      ((await limited.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0]
        ?.reason,
    ).toBe('rateLimitExceeded');
    const failed = await fetch(`${standIn.url}/drive/v3/files`, { headers });
    expect(failed.status).toBe(500);
    expect((await fetch(`${standIn.url}/drive/v3/files`, { headers })).status).toBe(200);
  });

  it('drop destroys the socket', async () => {
    standIn.control.injectFault('certs', { kind: 'drop' });
    await expect(fetch(standIn.endpoints.certsPemUrl)).rejects.toThrow();
    expect((await fetch(standIn.endpoints.certsPemUrl)).status).toBe(200);
    expect(standIn.control.requestLog().map((e) => [e.status, e.fault])).toEqual([
      [0, 'drop'],
      [200, undefined],
    ]);
  });

  it('slow delays the answer but still serves it, and is logged', async () => {
    standIn.control.injectFault('tokeninfo', { kind: 'slow', delayMs: 20 });
    const res = await fetch(`${standIn.endpoints.tokenInfoUrl}?access_token=ya29.x`);
    expect(res.status).toBe(400);
    expect(standIn.control.requestLog()[0]).toMatchObject({
      endpoint: 'tokeninfo',
      fault: 'slow',
      status: 400,
    });
  });

  it('consent page faults answer before any validation', async () => {
    standIn.control.injectFault('auth', { kind: 'status', status: 502 });
    const res = await fetch(standIn.endpoints.authUrl, { redirect: 'manual' });
    expect(res.status).toBe(502);
  });

  it('rejects invalid fault specs', () => {
    expect(() => standIn.control.injectFault('token', { kind: 'status', status: 404 })).toThrow(
      RangeError,
    );
    expect(() => standIn.control.injectFault('token', { kind: 'drop', count: 0 })).toThrow(
      RangeError,
    );
  });

  it('clearFaults removes pending faults', async () => {
    standIn.control.injectFault('certs', { kind: 'status', status: 500, count: 5 });
    expect(standIn.control.pendingFaults()).toHaveLength(1);
    standIn.control.clearFaults('certs');
    expect((await fetch(standIn.endpoints.certsPemUrl)).status).toBe(200);
  });
});

describe('request log, stats and secrets', () => {
  it('logs method, endpoint, path without query, status and grant_type; never a secret', async () => {
    const { code } = await obtainCode(standIn);
    const tokens = (await exchangeCode(standIn, code)).json;
    await refresh(standIn, str(tokens['refresh_token']));
    await fetch(`${standIn.endpoints.tokenInfoUrl}?access_token=${str(tokens['access_token'])}`);
    await fetch(`${standIn.endpoints.tokenInfoUrl}?id_token=${str(tokens['id_token'])}`);
    await fetch(`${standIn.url}/drive/v3/files`, {
      headers: { authorization: `Bearer ${str(tokens['access_token'])}` },
    });
    await fetch(
      `${standIn.endpoints.revokeUrl}?token=${encodeURIComponent(str(tokens['refresh_token']))}`,
      { method: 'POST' },
    );

    const log = standIn.control.requestLog();
    expect(log.map((e) => [e.method, e.endpoint, e.path, e.status, e.grantType])).toEqual([
      ['GET', 'auth', '/o/oauth2/v2/auth', 302, undefined],
      ['POST', 'token', '/token', 200, 'authorization_code'],
      ['POST', 'token', '/token', 200, 'refresh_token'],
      ['GET', 'tokeninfo', '/tokeninfo', 200, undefined],
      ['GET', 'tokeninfo', '/tokeninfo', 200, undefined],
      ['GET', 'drive', '/drive/v3/files', 200, undefined],
      ['POST', 'revoke', '/revoke', 200, undefined],
    ]);
    for (const entry of log) {
      expect(Date.parse(entry.at)).not.toBeNaN();
      expect(Date.parse(entry.clockAt)).not.toBeNaN();
    }

    const secrets = standIn.control.issuedSecrets();
    expect(secrets).toEqual(
      expect.arrayContaining([
        CLIENT.clientSecret,
        code,
        str(tokens['access_token']),
        str(tokens['refresh_token']),
        str(tokens['id_token']),
      ]),
    );
    const serialised = JSON.stringify(log);
    for (const secret of secrets) expect(serialised).not.toContain(secret);
  });

  it('counts requests per endpoint and status', async () => {
    await fetch(standIn.endpoints.certsPemUrl);
    await fetch(standIn.endpoints.certsJwksUrl);
    await postForm(standIn.endpoints.revokeUrl, { token: 'nope' });
    expect(standIn.control.stats()).toEqual({
      certs: { requests: 2, byStatus: { '200': 2 } },
      revoke: { requests: 1, byStatus: { '400': 1 } },
    });
  });

  it('does not log control calls', async () => {
    await control('GET', 'clock');
    expect(standIn.control.requestLog()).toEqual([]);
  });
});

describe('latency, clock and reset', () => {
  it('latency can be changed and is restored by reset', () => {
    standIn.control.setLatency(5);
    expect(standIn.control.latencyMs()).toBe(5);
    standIn.control.reset();
    expect(standIn.control.latencyMs()).toBe(0);
    expect(() => standIn.control.setLatency(-1)).toThrow(RangeError);
  });

  it('requests still succeed with latency', async () => {
    standIn.control.setLatency(10);
    expect((await fetch(standIn.endpoints.discoveryUrl)).status).toBe(200);
  });

  it('clock offset: get, advance, set', () => {
    expect(standIn.control.clockOffsetMs()).toBe(0);
    standIn.control.advanceClock(1000);
    standIn.control.advanceClock(500);
    expect(standIn.control.clockOffsetMs()).toBe(1500);
    standIn.control.setClockOffset(-200);
    expect(standIn.control.clockOffsetMs()).toBe(-200);
    expect(() => standIn.control.advanceClock(Number.NaN)).toThrow(RangeError);
  });

  it('reset forgets grants, tokens, files, faults, log and clock offset; clients come back', async () => {
    const body = await signIn(standIn);
    standIn.control.deleteClient(CLIENT.clientId);
    standIn.control.advanceClock(10_000);
    standIn.control.injectFault('token', { kind: 'status', status: 500 });
    standIn.control.reset();
    expect(standIn.control.grants('user@example.com')).toEqual([]);
    expect(standIn.control.clockOffsetMs()).toBe(0);
    expect(standIn.control.pendingFaults()).toEqual([]);
    expect(standIn.control.requestLog()).toEqual([]);
    expect(standIn.control.issuedSecrets()).not.toContain(str(body['refresh_token']));
    expect((await refresh(standIn, str(body['refresh_token']))).json['error']).toBe(
      'invalid_grant',
    );
  });
});

describe('HTTP control API', () => {
  it('clock routes', async () => {
    expect((await control('POST', 'clock/advance', { seconds: 2 })).json['offsetMs']).toBe(2000);
    expect((await control('POST', 'clock/advance', { ms: 500 })).json['offsetMs']).toBe(2500);
    expect((await control('POST', 'clock/offset', { offsetMs: 0 })).json['offsetMs']).toBe(0);
    const clock = await control('GET', 'clock');
    expect(typeof clock.json['now']).toBe('number');
  });

  it('user, client and decision routes', async () => {
    await control('POST', 'decision', { decision: 'approve', user: 'http@example.com' });
    const res = await fetch(
      `${standIn.endpoints.authUrl}?client_id=${CLIENT.clientId}&redirect_uri=${encodeURIComponent(CLIENT.redirectUris[0] ?? '')}&response_type=code&scope=openid&access_type=offline`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(302);
    const grants = await control('GET', 'users/grants?email=http@example.com');
    expect(grants.json['grants']).toHaveLength(1);
    await control('POST', 'users/reauth', { email: 'http@example.com' });
    expect((await control('POST', 'users/password', { email: 'http@example.com' })).json).toEqual({
      killedRefreshTokens: 0,
    });
    expect((await control('POST', 'users/revoke', { email: 'http@example.com' })).json).toEqual({
      revokedGrants: 1,
    });
    await control('POST', 'clients', {
      clientId: 'new-client',
      clientSecret: 'new-secret',
      redirectUris: ['http://localhost/cb'],
    });
    expect((await control('POST', 'clients/delete', { clientId: 'new-client' })).json).toEqual({
      deleted: true,
    });
    await control('POST', 'decision', { decision: null });
  });

  it('fault, latency, log, stats, secrets, service-account and drive routes', async () => {
    expect(
      (await control('POST', 'faults', { endpoint: 'certs', kind: 'status', status: 503 })).status,
    ).toBe(200);
    expect((await control('GET', 'faults')).json['faults']).toHaveLength(1);
    expect((await fetch(standIn.endpoints.certsPemUrl)).status).toBe(503);
    await control('POST', 'faults', { endpoint: 'certs', kind: 'drop' });
    expect((await control('DELETE', 'faults?endpoint=certs')).status).toBe(200);
    expect((await control('POST', 'latency', { latencyMs: 0 })).json).toEqual({ latencyMs: 0 });
    expect((await control('GET', 'log')).json['entries']).toHaveLength(1);
    expect((await control('GET', 'stats')).json['stats']).toEqual({
      certs: { requests: 1, byStatus: { '503': 1 } },
    });
    expect((await control('GET', 'secrets')).json['secrets']).toContain(CLIENT.clientSecret);
    const minted = await control('POST', 'service-account-id-token', {
      email: 'sa@p.iam.gserviceaccount.com',
      audience: 'https://x',
    });
    expect(str(minted.json['idToken']).split('.')).toHaveLength(3);
    expect((await control('GET', 'drive/files?email=nobody@example.com')).json).toEqual({
      files: [],
    });
    expect((await control('DELETE', 'log')).status).toBe(200);
    expect((await control('POST', 'reset')).status).toBe(200);
  });

  it('rejects bad control input with 400 and unknown routes with 404', async () => {
    expect((await control('POST', 'faults', { endpoint: 'nope', kind: 'drop' })).status).toBe(400);
    expect((await control('POST', 'faults', { endpoint: 'token', kind: 'boom' })).status).toBe(400);
    expect((await control('POST', 'clock/advance', { ms: 'soon' })).status).toBe(400);
    expect((await control('POST', 'latency', { latencyMs: -5 })).status).toBe(400);
    expect((await control('GET', 'nothing-here')).status).toBe(404);
  });
});
