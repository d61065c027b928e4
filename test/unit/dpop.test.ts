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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDpopKeys, parseDpopKeys } from '../../shared/oauth/dpop.ts';
import { KMS_ERROR, OperationError, ServiceError } from '../../shared/errors.ts';
import { classifyError } from '../../shared/retry/classify.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { startFakeKms, type FakeKms } from '../fakes/kms-server.ts';

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
    ).rejects.toThrow('in neither DPOP_KMS_KEYS nor DPOP_KEYS');
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

describe('DPoP proofs signed by Cloud KMS', () => {
  const version = (n: number) =>
    `projects/demo-consent-vault/locations/europe-west1/keyRings/consent-vault/cryptoKeys/consent-vault-dpop/cryptoKeyVersions/${n}`;
  const htu = 'https://oauth2.googleapis.com/token';
  let kms: FakeKms;
  beforeAll(async () => {
    kms = await startFakeKms();
  });
  afterAll(() => kms?.close());

  const kmsKeys = async (versions: readonly string[]) =>
    loadDpopKeys({ kms: { signer: await kmsKeyWrapper(kms.url), versions } });

  it('verify under the KMS version that signed them, converted from DER to JOSE', async () => {
    const keys = await kmsKeys([version(1)]);
    for (let i = 0; i < 20; i += 1) {
      // r or s with a leading zero byte is shorter in DER: the conversion must pad it.
      const proof = await keys.proof(keys.primaryJkt, { htm: 'POST', htu });
      expect(Buffer.from(proof.split('.')[2]!, 'base64url')).toHaveLength(64);
      await jwtVerify(proof, kms.publicKeyOf(version(1)));
    }
  });

  it('name what KMS refused, classified so that a run halts on a refusal and retries an outage', async () => {
    const keys = await kmsKeys([version(2)]);
    const refusal = async () => {
      try {
        await keys.proof(keys.primaryJkt, { htm: 'POST', htu });
      } catch (error) {
        return error;
      }
      throw new Error('signed');
    };
    kms.deny(version(2), true, 'asymmetricSign');
    const denied = await refusal();
    kms.deny(version(2), false, 'asymmetricSign');
    expect(denied).toBeInstanceOf(ServiceError);
    expect((denied as ServiceError).code).toBe(KMS_ERROR);
    expect(classifyError(denied)).toMatchObject({
      failure: 'signing_key',
      reason: 'PERMISSION_DENIED',
    });
    kms.disable(version(2));
    expect(classifyError(await refusal())).toMatchObject({
      failure: 'signing_key',
      reason: 'FAILED_PRECONDITION',
    });
    kms.disable(version(2), false);
    kms.setUnavailable(true);
    const outage = await refusal();
    kms.setUnavailable(false);
    expect(classifyError(outage).failure).toBe('transient');
    await expect(keys.proof(keys.primaryJkt, { htm: 'POST', htu })).resolves.toMatch(/\./);
  });

  it('a key version KMS will not show cannot be loaded', async () => {
    kms.deny(version(3), true, 'publicKey');
    await expect(kmsKeys([version(3)])).rejects.toMatchObject({
      code: KMS_ERROR,
      status: 'PERMISSION_DENIED',
    });
  });
});
