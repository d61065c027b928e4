// Our DPoP proofs (shared/oauth/dpop.ts) are what RFC 9449 §4.2 asks: typ dpop+jwt, ES256, the
// public JWK in the header (no private part), htm, htu, iat and a unique jti, and the server's
// nonce once it gave one; keys are found by their RFC 7638 thumbprint.
import { generateKeyPairSync } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
} from 'jose';
import { describe, expect, it } from 'vitest';
import { parseDpopKeys } from '../../shared/oauth/dpop.ts';
import { OperationError } from '../../shared/errors.ts';

function privateJwk() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
}

describe('DPoP proofs', () => {
  it('carry what RFC 9449 asks, signed by the key of the thumbprint', async () => {
    const [old, current] = [privateJwk(), privateJwk()];
    const keys = await parseDpopKeys(
      JSON.stringify({ primary: 'd2', keys: { d1: old, d2: current } }),
    );
    const currentJkt = await calculateJwkThumbprint({
      kty: 'EC',
      crv: 'P-256',
      x: current.x!,
      y: current.y!,
    });
    expect(keys.primaryJkt).toBe(currentJkt);
    expect(keys.jkts).toHaveLength(2);
    const htu = 'https://oauth2.googleapis.com/token';
    const proof = await keys.proof(keys.primaryJkt, { htm: 'POST', htu });
    const header = decodeProtectedHeader(proof);
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
    expect(header.jwk).toEqual({ kty: 'EC', crv: 'P-256', x: current.x, y: current.y });
    await jwtVerify(proof, await importJWK(header.jwk!, 'ES256'));
    const claims = decodeJwt(proof);
    expect(claims).toMatchObject({ htm: 'POST', htu });
    expect(typeof claims.iat).toBe('number');
    expect(claims.nonce).toBeUndefined();
    const again = decodeJwt(await keys.proof(keys.primaryJkt, { htm: 'POST', htu }));
    expect(again.jti).not.toBe(claims.jti);
    keys.noteNonce('server-nonce-1');
    expect(decodeJwt(await keys.proof(keys.primaryJkt, { htm: 'POST', htu })).nonce).toBe(
      'server-nonce-1',
    );
    // An old key still signs for the tokens bound to it.
    const oldJkt = keys.jkts.find((jkt) => jkt !== keys.primaryJkt)!;
    expect(decodeProtectedHeader(await keys.proof(oldJkt, { htm: 'POST', htu })).jwk?.x).toBe(
      old.x,
    );
  });

  it('refuse a key that is gone, and malformed key sets', async () => {
    const keys = await parseDpopKeys(JSON.stringify({ primary: 'd1', keys: { d1: privateJwk() } }));
    await expect(
      keys.proof('not-a-known-thumbprint', { htm: 'POST', htu: 'https://x/token' }),
    ).rejects.toThrow('not in DPOP_KEYS');
    const pub = privateJwk();
    delete (pub as { d?: string }).d;
    for (const json of [
      'nope',
      '{"primary":"d1"}',
      JSON.stringify({ primary: 'd1', keys: { d1: pub } }),
    ])
      await expect(parseDpopKeys(json)).rejects.toBeInstanceOf(OperationError);
  });
});
