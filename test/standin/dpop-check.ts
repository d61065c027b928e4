// The token endpoint's side of DPoP (RFC 9449): the checks of §4.3 on the `DPoP` header, the
// replay cache of proof ids (§11.1) and the server nonce (§8). iat and the replay window are
// judged on the controllable clock.
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Clock } from './clock.ts';
import { jwkThumbprint, type EcPublicJwk } from './dpop.ts';
import { oauthError, type Reply, type RequestContext } from './http.ts';

/** How far a proof's iat may be from the clock, either way. */
export const DPOP_IAT_WINDOW_S = 300;

/** The proof of a token request: none, a valid one (its key's thumbprint), or the answer. */
export type DpopCheck = { ok: true; jkt: string | undefined } | { ok: false; reply: Reply };

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class DpopState {
  /** While true, a proof must carry the current nonce (`use_dpop_nonce` otherwise). */
  nonceRequired = false;
  #nonce = newNonce();
  /** jti → clock time after which its proof is too old anyway, so the jti may be forgotten. */
  readonly #seenJtis = new Map<string, number>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get nonce(): string {
    return this.#nonce;
  }

  /** A new nonce; the previous one is refused from now on. */
  rotateNonce(): string {
    this.#nonce = newNonce();
    return this.#nonce;
  }

  reset(): void {
    this.nonceRequired = false;
    this.#nonce = newNonce();
    this.#seenJtis.clear();
  }

  /** Adds the current nonce as `DPoP-Nonce` while nonces are required (errors and successes). */
  withNonce(reply: Reply): Reply {
    if (!this.nonceRequired) return reply;
    return { ...reply, headers: { ...reply.headers, 'dpop-nonce': this.#nonce } };
  }

  /**
   * Checks the request's DPoP proof for `htu` (the URL the request was sent to). A valid proof's
   * jti is remembered, so the same proof is refused next time.
   */
  check(ctx: RequestContext, htu: string): DpopCheck {
    const value = ctx.headers['dpop'];
    if (value === undefined) return { ok: true, jkt: undefined };
    // Node joins repeated headers with ", "; a compact JWS has no comma.
    if (Array.isArray(value) || value.includes(','))
      return invalidProof('Exactly one DPoP header is allowed.');
    const parts = value.trim().split('.');
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)))
      return invalidProof('DPoP proof is not a compact JWS.');
    const [encodedHeader = '', encodedClaims = '', encodedSignature = ''] = parts;
    const header = decodeJson(encodedHeader);
    if (!header) return invalidProof('DPoP proof header is not a JSON object.');
    if (header['typ'] !== 'dpop+jwt') return invalidProof('DPoP proof typ must be dpop+jwt.');
    if (header['alg'] !== 'ES256')
      return invalidProof(`Unsupported DPoP proof alg: ${String(header['alg'])} (ES256 only).`);
    const jwk = publicJwk(header['jwk']);
    if (!jwk) return invalidProof('DPoP proof jwk must be a public EC P-256 key.');
    const signature = Buffer.from(encodedSignature, 'base64url');
    const signed = Buffer.from(`${encodedHeader}.${encodedClaims}`);
    // Canonical base64url only: the decoder ignores the last character's spare bits.
    if (
      signature.length !== 64 ||
      signature.toString('base64url') !== encodedSignature ||
      !verify('sha256', signed, { key: jwk.key, dsaEncoding: 'ieee-p1363' }, signature)
    )
      return invalidProof('DPoP proof signature is invalid.');
    const claims = decodeJson(encodedClaims);
    if (!claims) return invalidProof('DPoP proof claims are not a JSON object.');
    const { jti, htm, iat } = claims;
    if (typeof jti !== 'string' || jti === '') return invalidProof('DPoP proof lacks jti.');
    if (typeof iat !== 'number' || !Number.isFinite(iat))
      return invalidProof('DPoP proof lacks iat.');
    if (htm !== ctx.method) return invalidProof('DPoP proof htm does not match the request.');
    const expected = comparableUri(htu);
    if (expected === undefined || comparableUri(claims['htu']) !== expected)
      return invalidProof('DPoP proof htu does not match the request.');
    if (this.nonceRequired && claims['nonce'] !== this.#nonce) {
      return {
        ok: false,
        reply: this.withNonce(
          oauthError(400, 'use_dpop_nonce', 'Authorization server requires nonce in DPoP proof'),
        ),
      };
    }
    const now = this.#clock.now();
    if (Math.abs(iat * 1000 - now) > DPOP_IAT_WINDOW_S * 1000)
      return invalidProof('DPoP proof iat is not within the acceptable window.');
    this.#forgetOldJtis(now);
    if (this.#seenJtis.has(jti)) return invalidProof('DPoP proof jti has been used before.');
    this.#seenJtis.set(jti, iat * 1000 + DPOP_IAT_WINDOW_S * 1000);
    return { ok: true, jkt: jwk.jkt };
  }

  #forgetOldJtis(now: number): void {
    for (const [jti, until] of this.#seenJtis) if (until < now) this.#seenJtis.delete(jti);
  }
}

function invalidProof(description: string): DpopCheck {
  return { ok: false, reply: oauthError(400, 'invalid_dpop_proof', description) };
}

function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The key of a public EC P-256 JWK (no private members, a point on the curve) and its jkt. */
function publicJwk(value: unknown): { key: KeyObject; jkt: string } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const jwk = value as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((name) => name in jwk)) return undefined;
  const { kty, crv, x, y } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string')
    return undefined;
  if (!BASE64URL.test(x) || !BASE64URL.test(y)) return undefined;
  if (Buffer.from(x, 'base64url').length !== 32 || Buffer.from(y, 'base64url').length !== 32)
    return undefined;
  const canonical: EcPublicJwk = { kty, crv, x, y };
  try {
    return {
      key: createPublicKey({ key: { ...canonical }, format: 'jwk' }),
      jkt: jwkThumbprint(canonical),
    };
  } catch {
    return undefined;
  }
}

/**
 * Scheme, authority and path of an absolute http(s) URI after WHATWG URL parsing, which does the
 * syntax- and scheme-based normalisation RFC 9449 §4.3 asks for (case, default port, dot
 * segments). Query and fragment are dropped.
 */
function comparableUri(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}
