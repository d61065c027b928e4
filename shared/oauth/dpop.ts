// DPoP-bound refresh tokens (RFC 9449; Google's DPoP Adoption Guide): the code exchange and every
// refresh carry a proof signed by our key pair, so the refresh token Google issues works only with
// a proof of that key. A refresh token copied out of the database, even with the token keyset,
// cannot be refreshed without the signing key (docs/security.md#dpop). Opt-in: DPOP_KEYS, a set
// of ES256 private JWKs by id, one primary; old keys stay while tokens bound to them live (each
// connection records the thumbprint, `jkt` (RFC 7638), its refresh token is bound to).
//   {"primary":"d2","keys":{"d1":{"kty":"EC","crv":"P-256","x":…,"y":…,"d":…},"d2":{…}}}
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, SignJWT, type JWK, type CryptoKey } from 'jose';
import { DPOP_KEY_MISSING, DPOP_KEYS_INVALID, OperationError } from '../errors.ts';
import type { FetchLike } from './refresh.ts';

interface DpopKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface DpopKeys {
  /** The thumbprint new refresh tokens are bound to. */
  readonly primaryJkt: string;
  readonly jkts: readonly string[];
  /** A proof for one request, by the key of `jkt`, with the server's last nonce if it gave one. */
  proof(jkt: string, request: { readonly htm: string; readonly htu: string }): Promise<string>;
  /** Remembers the server's DPoP-Nonce (RFC 9449 §8). */
  noteNonce(nonce: string | null): void;
}

export async function parseDpopKeys(json: string): Promise<DpopKeys> {
  const invalid = (why: string) => new OperationError(DPOP_KEYS_INVALID, why);
  let parsed: { primary?: unknown; keys?: unknown };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    throw invalid('not JSON');
  }
  if (typeof parsed.primary !== 'string' || typeof parsed.keys !== 'object' || parsed.keys === null)
    throw invalid('needs "primary" and "keys"');
  const byJkt = new Map<string, DpopKey>();
  let primaryJkt: string | undefined;
  for (const [id, value] of Object.entries(parsed.keys as Record<string, JWK>)) {
    if (value?.kty !== 'EC' || value.crv !== 'P-256' || typeof value.d !== 'string')
      throw invalid(`key "${id}" must be a private EC P-256 JWK`);
    const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: value.x, y: value.y };
    const jkt = await calculateJwkThumbprint(publicJwk, 'sha256');
    byJkt.set(jkt, { privateKey: (await importJWK(value, 'ES256')) as CryptoKey, publicJwk });
    if (id === parsed.primary) primaryJkt = jkt;
  }
  if (primaryJkt === undefined) throw invalid('the primary is not among the keys');
  let nonce: string | undefined;
  return {
    primaryJkt,
    jkts: [...byJkt.keys()],
    async proof(jkt, request) {
      const key = byJkt.get(jkt);
      if (!key)
        throw new OperationError(
          DPOP_KEY_MISSING,
          'the DPoP key this refresh token is bound to is not in DPOP_KEYS',
        );
      return new SignJWT({
        htm: request.htm,
        htu: request.htu,
        jti: randomBytes(16).toString('base64url'),
        ...(nonce ? { nonce } : {}),
      })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
        .setIssuedAt()
        .sign(key.privateKey);
    },
    noteNonce(value) {
      if (value) nonce = value;
    },
  };
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
