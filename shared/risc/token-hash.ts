// How Google's Cross-Account Protection names one refresh token in a `token-revoked` event:
// `hash_base64_sha512_sha512`, the base64 of SHA-512 applied twice (the second over the raw
// bytes of the first) (https://developers.google.com/identity/protocols/risc#token-revoked).
import { createHash } from 'node:crypto';

export function riscTokenHash(refreshToken: string): string {
  const once = createHash('sha512').update(refreshToken, 'utf8').digest();
  return createHash('sha512').update(once).digest('base64');
}
