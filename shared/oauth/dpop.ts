// DPoP-bound refresh tokens (RFC 9449; Google's DPoP Adoption Guide): the code exchange and every
// refresh carry a proof signed by our key pair, so the refresh token Google issues works only with
// a proof of that key. A refresh token copied out of the database, even with the token keyset,
// cannot be refreshed without the signing key (docs/security.md#dpop). Opt-in, from two sources:
// - DPOP_KMS_KEYS (the stronger choice): Cloud KMS EC_SIGN_P256_SHA256 key versions, primary
//   first. The private key never leaves KMS; each proof is one asymmetricSign call.
// - DPOP_KEYS: a secret holding ES256 private JWKs by id, one primary:
//     {"primary":"d2","keys":{"d1":{"kty":"EC","crv":"P-256","x":…,"y":…,"d":…},"d2":{…}}}
// With both, the KMS primary binds new tokens and the secret's keys still serve those bound to
// them. Each connection records the thumbprint (`jkt`, RFC 7638) its refresh token is bound to,
// so old keys stay while tokens bound to them live.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import { derToJose } from 'ecdsa-sig-formatter';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { DPOP_KEY_MISSING, DPOP_KEYS_INVALID, OperationError } from '../errors.ts';
import type { FetchLike } from './refresh.ts';

/** What signing with Cloud KMS needs (shared/secrets/kms.ts; a stand-in in tests). */
export interface KmsSigner {
  /** The PEM public key of an asymmetric key version (getPublicKey). */
  publicKeyPem(version: string): Promise<string>;
  /** A DER ECDSA signature of a SHA-256 digest (asymmetricSign). */
  signDigest(version: string, digest: Buffer): Promise<Buffer>;
}

interface DpopSigner {
  /** Where the key lives, for operators: `DPOP_KMS_KEYS <version>` or `DPOP_KEYS <id>`. */
  readonly label: string;
  readonly publicJwk: JWK;
  /** The JWS signature (RFC 7518 §3.4: r || s) of the signing input. */
  sign(signingInput: Buffer): Promise<Buffer>;
}

export interface DpopKeys {
  /** The thumbprint new refresh tokens are bound to. */
  readonly primaryJkt: string;
  readonly jkts: readonly string[];
  /** Where the key of `jkt` lives (no key material). */
  labelOf(jkt: string): string | undefined;
  /** A proof for one request, by the key of `jkt`, with the server's last nonce if it gave one. */
  proof(jkt: string, request: { readonly htm: string; readonly htu: string }): Promise<string>;
  /** Remembers the server's DPoP-Nonce (RFC 9449 §8). */
  noteNonce(nonce: string | null): void;
}

export interface DpopSources {
  /** DPOP_KEYS's value. */
  readonly secretJson?: string | undefined;
  /** DPOP_KMS_KEYS: key versions, primary first, and the KMS client that signs with them. */
  readonly kms?: { readonly signer: KmsSigner; readonly versions: readonly string[] } | undefined;
}

/** The DPoP keys of both sources; the primary is the first KMS version, else the secret's. */
export async function loadDpopKeys(sources: DpopSources): Promise<DpopKeys> {
  const signers = [
    ...(sources.kms && sources.kms.versions.length > 0
      ? await Promise.all(
          sources.kms.versions.map((version) => kmsDpopSigner(sources.kms!.signer, version)),
        )
      : []),
    ...(sources.secretJson === undefined ? [] : secretDpopSigners(sources.secretJson)),
  ];
  if (signers.length === 0)
    throw new OperationError(DPOP_KEYS_INVALID, 'no DPoP key is configured');
  return dpopKeySet(signers);
}

/** DPOP_KEYS alone (the deploy checks what it generates with this too). */
export function parseDpopKeys(json: string): Promise<DpopKeys> {
  return loadDpopKeys({ secretJson: json });
}

/** The secret's keys, its primary first. */
function secretDpopSigners(json: string): DpopSigner[] {
  const invalid = (why: string) => new OperationError(DPOP_KEYS_INVALID, why);
  let parsed: { primary?: unknown; keys?: unknown };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    throw invalid('not JSON');
  }
  if (typeof parsed.primary !== 'string' || typeof parsed.keys !== 'object' || parsed.keys === null)
    throw invalid('needs "primary" and "keys"');
  const entries = Object.entries(parsed.keys as Record<string, JWK>);
  const primary = entries.findIndex(([id]) => id === parsed.primary);
  if (primary < 0) throw invalid('the primary is not among the keys');
  entries.unshift(...entries.splice(primary, 1));
  return entries.map(([id, value]) => {
    if (value?.kty !== 'EC' || value.crv !== 'P-256' || typeof value.d !== 'string')
      throw invalid(`key "${id}" must be a private EC P-256 JWK`);
    let privateKey;
    try {
      privateKey = createPrivateKey({ key: value, format: 'jwk' });
    } catch {
      throw invalid(`key "${id}" is not a valid P-256 key`);
    }
    return {
      label: `DPOP_KEYS ${id}`,
      publicJwk: { kty: 'EC', crv: 'P-256', x: value.x, y: value.y },
      sign: (input) =>
        Promise.resolve(sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    };
  });
}

/** One KMS key version: its public key read once, each signature an asymmetricSign call. */
async function kmsDpopSigner(kms: KmsSigner, version: string): Promise<DpopSigner> {
  const jwk = createPublicKey(await kms.publicKeyPem(version)).export({ format: 'jwk' });
  return {
    label: `DPOP_KMS_KEYS ${version}`,
    publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y },
    async sign(input) {
      const digest = createHash('sha256').update(input).digest();
      // KMS answers DER (X.690); a JWS carries the fixed-size r || s.
      return Buffer.from(derToJose(await kms.signDigest(version, digest), 'ES256'), 'base64url');
    },
  };
}

async function dpopKeySet(signers: readonly DpopSigner[]): Promise<DpopKeys> {
  const byJkt = new Map<string, DpopSigner>();
  for (const signer of signers)
    byJkt.set(await calculateJwkThumbprint(signer.publicJwk, 'sha256'), signer);
  const jkts = [...byJkt.keys()];
  let nonce: string | undefined;
  return {
    primaryJkt: jkts[0]!,
    jkts,
    labelOf: (jkt) => byJkt.get(jkt)?.label,
    async proof(jkt, request) {
      const signer = byJkt.get(jkt);
      if (!signer)
        throw new OperationError(
          DPOP_KEY_MISSING,
          'the DPoP key this refresh token is bound to is in neither DPOP_KMS_KEYS nor DPOP_KEYS',
        );
      // RFC 9449 §4.2: a JWS with typ dpop+jwt and the public key in its header.
      const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: signer.publicJwk };
      const claims = {
        htm: request.htm,
        htu: request.htu,
        iat: Math.floor(Date.now() / 1000),
        jti: randomBytes(16).toString('base64url'),
        ...(nonce ? { nonce } : {}),
      };
      const input = `${base64urlJson(header)}.${base64urlJson(claims)}`;
      const signature = await signer.sign(Buffer.from(input));
      return `${input}.${signature.toString('base64url')}`;
    },
    noteNonce(value) {
      if (value) nonce = value;
    },
  };
}

function base64urlJson(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * A fetch for the token endpoint that sends a DPoP proof by the key of `jkt`, and retries once
 * with the server's nonce when it answers `use_dpop_nonce` (RFC 9449 §8).
 */
export function dpopFetch(fetchFn: FetchLike, keys: DpopKeys, jkt: string): FetchLike {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const htu = `${url.origin}${url.pathname}`;
    const send = async () => {
      const headers = new Headers(init?.headers);
      headers.set('dpop', await keys.proof(jkt, { htm: init?.method ?? 'GET', htu }));
      const answer = await fetchFn(input, { ...init, headers });
      keys.noteNonce(answer.headers.get('dpop-nonce'));
      return answer;
    };
    const first = await send();
    if (first.status !== 400 || !first.headers.get('dpop-nonce')) return first;
    const body = (await first
      .clone()
      .json()
      .catch(() => ({}))) as { error?: unknown };
    return body.error === 'use_dpop_nonce' ? send() : first;
  };
}
