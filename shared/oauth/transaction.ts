// The authorization transaction: what the callback needs to finish a consent (state, PKCE
// verifier, nonce, return target, expiry), sealed with AES-256-GCM into a `__Host-` cookie. No
// database write on authorize; the cookie binds the flow to the browser that started it, and the
// callback clears it, so it is single use (RFC 9700 §2.1, §4.7).
import { open, seal } from '../crypto/aead.ts';
import type { PurposeKeys } from '../crypto/keyset.ts';

export const TRANSACTION_COOKIE = '__Host-cv-tx';

export interface AuthTransaction {
  readonly state: string;
  readonly codeVerifier: string;
  readonly nonce: string;
  readonly returnTo: string | null;
  /** Epoch ms after which the callback refuses it. */
  readonly expiresAt: number;
  /** This transaction already asked Google for `prompt=consent` (restart at most once). */
  readonly promptedConsent: boolean;
  readonly loginHint: string | null;
}

interface Wire {
  s: string;
  v: string;
  n: string;
  r: string | null;
  e: number;
  p: boolean;
  h: string | null;
}

export function sealTransaction(keys: PurposeKeys, transaction: AuthTransaction): string {
  const wire: Wire = {
    s: transaction.state,
    v: transaction.codeVerifier,
    n: transaction.nonce,
    r: transaction.returnTo,
    e: transaction.expiresAt,
    p: transaction.promptedConsent,
    h: transaction.loginHint,
  };
  return seal(keys, JSON.stringify(wire), TRANSACTION_COOKIE);
}

/** Opens a sealed transaction; undefined when it was tampered with or is not ours. */
export function openTransaction(keys: PurposeKeys, sealed: string): AuthTransaction | undefined {
  let wire: Partial<Wire>;
  try {
    wire = JSON.parse(open(keys, sealed, TRANSACTION_COOKIE).toString('utf8')) as Partial<Wire>;
  } catch {
    return undefined;
  }
  if (
    typeof wire.s !== 'string' ||
    typeof wire.v !== 'string' ||
    typeof wire.n !== 'string' ||
    typeof wire.e !== 'number' ||
    typeof wire.p !== 'boolean'
  )
    return undefined;
  return {
    state: wire.s,
    codeVerifier: wire.v,
    nonce: wire.n,
    returnTo: typeof wire.r === 'string' ? wire.r : null,
    expiresAt: wire.e,
    promptedConsent: wire.p,
    loginHint: typeof wire.h === 'string' ? wire.h : null,
  };
}
