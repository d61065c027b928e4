import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from './clock.ts';
import { DpopState } from './dpop-check.ts';
import { dpopProof, jwkThumbprint, newDpopKey, type DpopKey } from './dpop.ts';
import type { RequestContext } from './http.ts';
import type { GoogleStandIn } from './index.ts';
import {
  CLIENT,
  REDIRECT_URI,
  obtainCode,
  postForm,
  startTestStandIn,
  str,
  type JsonAnswer,
} from './test-helpers.ts';

let standIn: GoogleStandIn;
beforeAll(async () => {
  standIn = await startTestStandIn();
});
afterAll(() => standIn.close());
beforeEach(() => standIn.control.reset());

const EMAIL = 'user@example.com';
const key = newDpopKey();
const otherKey = newDpopKey();

/** A proof for the stand-in's token endpoint, iat on the stand-in's clock. */
function proof(k: DpopKey, extra: Partial<Parameters<typeof dpopProof>[0]> = {}): string {
  return dpopProof({
    ...k,
    htu: standIn.endpoints.tokenUrl,
    iat: Math.floor(standIn.control.now() / 1000),
    ...extra,
  });
}

function exchange(code: string, dpop?: string | string[]): Promise<JsonAnswer> {
  return postForm(
    standIn.endpoints.tokenUrl,
    {
      grant_type: 'authorization_code',
      code,
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      redirect_uri: REDIRECT_URI,
    },
    dpopHeaders(dpop),
  );
}

function refreshWith(refreshToken: string, dpop?: string): Promise<JsonAnswer> {
  return postForm(
    standIn.endpoints.tokenUrl,
    {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
    },
    dpopHeaders(dpop),
  );
}

function dpopHeaders(dpop: string | string[] | undefined): Record<string, string> {
  if (dpop === undefined) return {};
  // fetch joins repeated values of one header with ", " on the wire, as a proxy might.
  return { dpop: Array.isArray(dpop) ? dpop.join(', ') : dpop };
}

/** Consent, then a code exchange with a proof of `k`: the bound refresh token. */
async function boundRefreshToken(k: DpopKey = key): Promise<string> {
  const { code } = await obtainCode(standIn);
  const answer = await exchange(code, proof(k));
  expect(answer.status).toBe(200);
  return str(answer.json['refresh_token']);
}

function expectInvalidProof(answer: JsonAnswer, description?: RegExp): void {
  expect(answer.status).toBe(400);
  expect(answer.json['error']).toBe('invalid_dpop_proof');
  expect(str(answer.json['error_description'])).toMatch(description ?? /DPoP/);
}

describe('JWK thumbprint (RFC 7638)', () => {
  it('gives the RFC 7638 §3.1 value for its example RSA key', () => {
    const rfcKey = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('gives the RFC 9449 §6.1 jkt for its example EC key, whatever the member order', () => {
    const x = 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs';
    const y = '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA';
    expect(jwkThumbprint({ y, x, kty: 'EC', crv: 'P-256', use: 'sig' })).toBe(
      '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
    );
  });
});

describe('proof checks against RFC 9449 §4.2 (Figure 5 proof)', () => {
  const rfcProof = [
    'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19',
    'eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ',
    '2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg',
  ].join('.');
  const at = (ms: number): Clock => ({
    now: () => ms,
    offsetMs: () => 0,
    advance: () => undefined,
    setOffset: () => undefined,
  });
  const ctx = (dpop: string): RequestContext => ({
    method: 'POST',
    url: new URL('http://stand-in.invalid/token'),
    headers: { dpop },
    body: Buffer.alloc(0),
    meta: {},
  });

  it('accepts the RFC example proof at its iat (another signer, ieee-p1363 signature)', () => {
    const state = new DpopState(at(1_562_262_616_000));
    expect(state.check(ctx(rfcProof), 'https://server.example.com/token')).toEqual({
      ok: true,
      jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
    });
    // The same proof again is a replay.
    expect(state.check(ctx(rfcProof), 'https://server.example.com/token').ok).toBe(false);
  });

  it('refuses it 301 s later, for another htu, or with one signature bit flipped', () => {
    const later = new DpopState(at(1_562_262_917_000));
    expect(later.check(ctx(rfcProof), 'https://server.example.com/token').ok).toBe(false);
    const state = new DpopState(at(1_562_262_616_000));
    expect(state.check(ctx(rfcProof), 'https://server.example.com/other').ok).toBe(false);
    const at60 = rfcProof.length - 20;
    const flipped = `${rfcProof.slice(0, at60)}${rfcProof[at60] === 'A' ? 'B' : 'A'}${rfcProof.slice(at60 + 1)}`;
    expect(state.check(ctx(flipped), 'https://server.example.com/token').ok).toBe(false);
    // The decoder ignores the last character's two spare bits: such a twin is refused too.
    const twin = `${rfcProof.slice(0, -1)}${rfcProof.endsWith('g') ? 'h' : 'g'}`;
    expect(state.check(ctx(twin), 'https://server.example.com/token').ok).toBe(false);
    expect(state.check(ctx(rfcProof), 'https://server.example.com/token').ok).toBe(true);
  });
});

describe('binding at the code exchange', () => {
  it('binds the refresh token to the proof key; the same key refreshes, token_type stays Bearer', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchange(code, proof(key));
    expect(answer.status).toBe(200);
    expect(answer.json['token_type']).toBe('Bearer');
    expect(answer.headers.get('dpop-nonce')).toBeNull();
    expect(standIn.control.grants(EMAIL)[0]?.boundJkts).toEqual([jwkThumbprint(key.publicJwk)]);
    const refreshed = await refreshWith(str(answer.json['refresh_token']), proof(key));
    expect(refreshed.status).toBe(200);
    expect(str(refreshed.json['access_token'])).toMatch(/^ya29\./);
    expect(refreshed.json['token_type']).toBe('Bearer');
  });

  it('refuses a bound token without a proof or with another key, and the token survives', async () => {
    const token = await boundRefreshToken();
    const bare = await refreshWith(token);
    expect(bare.status).toBe(400);
    expect(bare.json).toEqual({ error: 'invalid_grant', error_description: 'DPoP proof required' });
    const other = await refreshWith(token, proof(otherKey));
    expect(other.status).toBe(400);
    expect(other.json['error']).toBe('invalid_grant');
    expect(str(other.json['error_description'])).toMatch(/DPoP/);
    expect((await refreshWith(token, proof(key))).status).toBe(200);
  });

  it('a refused proof does not use up a reauth requirement (the thief has no key)', async () => {
    const token = await boundRefreshToken();
    standIn.control.requireReauth(EMAIL);
    expect((await refreshWith(token)).json['error_description']).toBe('DPoP proof required');
    expect((await refreshWith(token, proof(key))).json['error_subtype']).toBe('invalid_rapt');
  });

  it('an exchange without a proof gives an unbound token; refreshing it with a proof binds nothing', async () => {
    const { code } = await obtainCode(standIn);
    const answer = await exchange(code);
    expect(answer.status).toBe(200);
    const token = str(answer.json['refresh_token']);
    expect((await refreshWith(token, proof(otherKey))).status).toBe(200);
    expect(standIn.control.grants(EMAIL)[0]?.boundJkts).toEqual([]);
    expect((await refreshWith(token)).status).toBe(200);
  });

  it('a refused proof does not consume the code', async () => {
    const { code } = await obtainCode(standIn);
    expectInvalidProof(await exchange(code, proof(key, { htm: 'GET' })));
    expect((await exchange(code, proof(key))).status).toBe(200);
  });
});

describe('invalid proofs → 400 invalid_dpop_proof', () => {
  let token: string;
  beforeEach(async () => {
    token = await boundRefreshToken();
  });

  it('a replayed proof, or a new proof with a used jti', async () => {
    const once = proof(key);
    expect((await refreshWith(token, once)).status).toBe(200);
    expectInvalidProof(await refreshWith(token, once), /jti/);
    expect((await refreshWith(token, proof(key, { jti: 'same-jti' }))).status).toBe(200);
    const sameJti = proof(key, {
      jti: 'same-jti',
      iat: Math.floor(standIn.control.now() / 1000) - 1,
    });
    expectInvalidProof(await refreshWith(token, sameJti), /jti/);
  });

  it('wrong htm or htu', async () => {
    expectInvalidProof(await refreshWith(token, proof(key, { htm: 'GET' })), /htm/);
    expectInvalidProof(
      await refreshWith(token, proof(key, { htu: `${standIn.url}/oauth2/v4/token` })),
      /htu/,
    );
    expectInvalidProof(
      await refreshWith(
        token,
        proof(key, { htu: standIn.endpoints.tokenUrl.replace('http:', 'https:') }),
      ),
      /htu/,
    );
  });

  it('htu is compared without query and fragment, after case and port normalisation', async () => {
    const url = new URL(standIn.endpoints.tokenUrl);
    for (const htu of [
      `${url.href}?x=1#f`,
      `HTTP://${url.host.toUpperCase()}/token`,
      `http://${url.host}/./token`,
    ])
      expect((await refreshWith(token, proof(key, { htu }))).status).toBe(200);
  });

  it('wrong typ or alg, or no alg at all', async () => {
    expectInvalidProof(await refreshWith(token, proof(key, { header: { typ: 'JWT' } })), /typ/);
    for (const alg of ['RS256', 'ES384', 'HS256', 'none'])
      expectInvalidProof(await refreshWith(token, proof(key, { header: { alg } })), /alg/);
  });

  it('a jwk with a private member, of another curve, or missing', async () => {
    const { d } = key.privateKey.export({ format: 'jwk' });
    expectInvalidProof(
      await refreshWith(token, proof(key, { header: { jwk: { ...key.publicJwk, d } } })),
      /jwk/,
    );
    expectInvalidProof(
      await refreshWith(token, proof(key, { header: { jwk: { ...key.publicJwk, crv: 'P-384' } } })),
      /jwk/,
    );
    expectInvalidProof(await refreshWith(token, proof(key, { header: { jwk: undefined } })), /jwk/);
  });

  it('a signature by another key than the jwk names', async () => {
    const forged = proof({ privateKey: otherKey.privateKey, publicJwk: key.publicJwk });
    expectInvalidProof(await refreshWith(token, forged), /signature/);
  });

  it('iat more than 300 s before or after the stand-in clock', async () => {
    const now = Math.floor(standIn.control.now() / 1000);
    expectInvalidProof(await refreshWith(token, proof(key, { iat: now - 301 })), /iat/);
    expectInvalidProof(await refreshWith(token, proof(key, { iat: now + 301 })), /iat/);
    expect((await refreshWith(token, proof(key, { iat: now - 290 }))).status).toBe(200);
  });

  it('iat is judged on the controllable clock', async () => {
    standIn.control.advanceClock(3_600_000);
    const wallTime = Math.floor(Date.now() / 1000);
    expectInvalidProof(await refreshWith(token, proof(key, { iat: wallTime })), /iat/);
    expect((await refreshWith(token, proof(key))).status).toBe(200);
  });

  it('missing claims, garbage, and two DPoP headers', async () => {
    expectInvalidProof(await refreshWith(token, proof(key, { claims: { jti: undefined } })), /jti/);
    expectInvalidProof(await refreshWith(token, proof(key, { claims: { iat: '1' } })), /iat/);
    expectInvalidProof(await refreshWith(token, 'not-a-jwt'), /compact/);
    expectInvalidProof(await refreshWith(token, ''), /compact/);
    expectInvalidProof(
      await postForm(
        standIn.endpoints.tokenUrl,
        {
          grant_type: 'refresh_token',
          refresh_token: token,
          client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret,
        },
        dpopHeaders([proof(key), proof(key)]),
      ),
      /one DPoP header/,
    );
  });
});

describe('server nonce', () => {
  it('asks for the nonce with use_dpop_nonce and DPoP-Nonce, then accepts the retry', async () => {
    standIn.control.setDpopNonceRequired(true);
    const { code } = await obtainCode(standIn);
    const challenge = await exchange(code, proof(key));
    expect(challenge.status).toBe(400);
    expect(challenge.json).toEqual({
      error: 'use_dpop_nonce',
      error_description: 'Authorization server requires nonce in DPoP proof',
    });
    const nonce = challenge.headers.get('dpop-nonce');
    expect(nonce).toBe(standIn.control.dpopNonce());
    const retry = await exchange(code, proof(key, { nonce: nonce ?? '' }));
    expect(retry.status).toBe(200);
    expect(retry.headers.get('dpop-nonce')).toBe(nonce);
    expect(standIn.control.grants(EMAIL)[0]?.boundJkts).toEqual([jwkThumbprint(key.publicJwk)]);
  });

  it('refuses the old nonce after a rotation, the same way, and takes the new one', async () => {
    standIn.control.setDpopNonceRequired(true);
    const old = standIn.control.dpopNonce();
    const { code } = await obtainCode(standIn);
    const token = str((await exchange(code, proof(key, { nonce: old }))).json['refresh_token']);
    const fresh = standIn.control.rotateDpopNonce();
    expect(fresh).not.toBe(old);
    const refused = await refreshWith(token, proof(key, { nonce: old }));
    expect(refused.status).toBe(400);
    expect(refused.json['error']).toBe('use_dpop_nonce');
    expect(refused.headers.get('dpop-nonce')).toBe(fresh);
    expect((await refreshWith(token, proof(key, { nonce: fresh }))).status).toBe(200);
  });

  it('a bad proof stays invalid_dpop_proof while nonces are required; reset lifts the requirement', async () => {
    standIn.control.setDpopNonceRequired(true);
    const { code } = await obtainCode(standIn);
    const bad = await exchange(code, proof(key, { header: { typ: 'JWT' } }));
    expectInvalidProof(bad, /typ/);
    expect(bad.headers.get('dpop-nonce')).toBeNull();
    standIn.control.reset();
    const again = await obtainCode(standIn);
    expect((await exchange(again.code, proof(key))).status).toBe(200);
  });

  it('HTTP control routes', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${standIn.url}/__control/${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const set = await call('POST', 'dpop/nonce-required', { required: true });
    expect(set.json).toEqual({ required: true, nonce: standIn.control.dpopNonce() });
    const rotated = await call('POST', 'dpop/rotate-nonce');
    expect(rotated.json['nonce']).not.toBe(set.json['nonce']);
    expect((await call('GET', 'dpop/nonce')).json).toEqual({ nonce: rotated.json['nonce'] });
    expect((await call('POST', 'dpop/nonce-required', { required: 'yes' })).status).toBe(400);
    const { code } = await obtainCode(standIn);
    expect((await exchange(code, proof(key))).json['error']).toBe('use_dpop_nonce');
  });
});
