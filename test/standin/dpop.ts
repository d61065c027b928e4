// DPoP (RFC 9449) for tests: a client's key pair, its proofs, and the JWK thumbprint (RFC 7638)
// a refresh token is bound to. Product tests import these from index.ts; the stand-in checks the
// proofs in dpop-check.ts. ES256 only, like the keys Google's DPoP Adoption Guide recommends.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/** A public EC P-256 JWK, as a DPoP proof's `jwk` header carries it. */
export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

export interface DpopKey {
  privateKey: KeyObject;
  publicJwk: EcPublicJwk;
}

export interface DpopProofInput extends DpopKey {
  /** The token endpoint URL (query and fragment are not part of it). */
  htu: string;
  /** Default POST. */
  htm?: string;
  /** The server's DPoP-Nonce, when it asked for one. */
  nonce?: string;
  /** Seconds since the epoch; default now (wall time; pass the stand-in's clock if you moved it). */
  iat?: number;
  /** Default a fresh random value. */
  jti?: string;
  /** Merged over the JOSE header `{typ, alg, jwk}` (to forge bad proofs). */
  header?: Record<string, unknown>;
  /** Merged over the claims (to forge bad proofs). */
  claims?: Record<string, unknown>;
}

/** A new EC P-256 key pair for DPoP. */
export function newDpopKey(): DpopKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    privateKey,
    publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x ?? '', y: jwk.y ?? '' },
  };
}

/** A compact DPoP proof JWT for the `DPoP` request header, signed ES256 (JOSE r||s signature). */
export function dpopProof(input: DpopProofInput): string {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: input.publicJwk, ...input.header };
  const claims = {
    jti: input.jti ?? randomBytes(16).toString('base64url'),
    htm: input.htm ?? 'POST',
    htu: input.htu,
    iat: input.iat ?? Math.floor(Date.now() / 1000),
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ...input.claims,
  };
  const signingInput = `${encodeJson(header)}.${encodeJson(claims)}`;
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: input.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${signature.toString('base64url')}`;
}

/**
 * The JWK SHA-256 thumbprint (RFC 7638 §3): base64url of SHA-256 over the JSON of the key's
 * required members in lexicographic order, without whitespace. EC, RSA and OKP keys.
 */
export function jwkThumbprint(jwk: object): string {
  const members: Readonly<Record<string, unknown>> = { ...jwk };
  const kty = String(members['kty']);
  const required = REQUIRED_MEMBERS[kty];
  if (!required) throw new RangeError(`jwkThumbprint: unsupported kty ${kty}`);
  const canonical: Record<string, string> = {};
  for (const name of required) {
    const value = members[name];
    if (typeof value !== 'string' || value === '')
      throw new RangeError(`jwkThumbprint: ${name} must be a non-empty string`);
    canonical[name] = value;
  }
  // JSON.stringify keeps insertion order, and the lists below are sorted.
  return createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('base64url');
}

const REQUIRED_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
