// Signing keys and compact RS256 JWTs. Two keys are published, like Google's rotating pair; the
// first one signs.
import { createPublicKey, generateKeyPair, sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { newKeyId } from './ids.ts';
import { selfSignedCertificatePem } from './x509.ts';

const generateRsa = promisify(generateKeyPair);

export interface PublicJwk {
  kty: string;
  n: string;
  e: string;
  alg: 'RS256';
  use: 'sig';
  kid: string;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificatePem: string;
  jwk: PublicJwk;
}

export interface KeySet {
  signing: SigningKey;
  all: readonly SigningKey[];
}

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
  const publicKey = createPublicKey(privateKey);
  const kid = newKeyId();
  const now = Date.now();
  const certificatePem = selfSignedCertificatePem({
    privateKey,
    publicKey,
    commonName: 'federated-signon.system.gserviceaccount.com',
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 14 * 86_400_000),
  });
  const exported = publicKey.export({ format: 'jwk' });
  const jwk: PublicJwk = {
    kty: exported.kty ?? 'RSA',
    n: exported.n ?? '',
    e: exported.e ?? '',
    alg: 'RS256',
    use: 'sig',
    kid,
  };
  return { kid, privateKey, publicKey, certificatePem, jwk };
}

export async function createKeySet(): Promise<KeySet> {
  const [signing, next] = await Promise.all([createSigningKey(), createSigningKey()]);
  return { signing, all: [signing, next] };
}

const encodeJson = (value: unknown): string =>
  Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** `typ` is `JWT` for ID tokens; Security Event Tokens say `secevent+jwt` (RFC 8417 §2.3). */
export function signJwt(
  key: Pick<SigningKey, 'kid' | 'privateKey'>,
  payload: Record<string, unknown>,
  typ = 'JWT',
): string {
  const signed = `${encodeJson({ alg: 'RS256', kid: key.kid, typ })}.${encodeJson(payload)}`;
  const signature = sign('sha256', Buffer.from(signed), key.privateKey).toString('base64url');
  return `${signed}.${signature}`;
}

export interface VerifiedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Signature check only (tokeninfo judges exp itself). Returns null for anything not ours. */
export function verifyJwt(keys: KeySet, token: string): VerifiedJwt | null {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) return null;
  try {
    const header = parseJsonObject(Buffer.from(h, 'base64url').toString('utf8'));
    const key = keys.all.find((k) => k.kid === header?.['kid']);
    if (!header || !key || header['alg'] !== 'RS256') return null;
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      key.publicKey,
      Buffer.from(s, 'base64url'),
    );
    const payload = parseJsonObject(Buffer.from(p, 'base64url').toString('utf8'));
    return ok && payload ? { header, payload } : null;
  } catch {
    return null;
  }
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}
