// PKCE (RFC 7636) with S256 only, plus the other per-transaction random values.
import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes → 43 base64url characters (RFC 7636 §4.1: 43..128). */
export function generateCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

export function codeChallengeS256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** 256 random bits: state and nonce need at least 128 (RFC 9700 §4.7.1). */
export function generateRandomToken(): string {
  return randomBytes(32).toString('base64url');
}
