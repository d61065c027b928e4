// Token and identifier formats, shaped like Google's so that format checks in product code see
// realistic values: codes `4/0A…` (contain a '/'), access tokens `ya29.…`, refresh tokens `1//0…`.
import { createHash, randomBytes } from 'node:crypto';

const random = (bytes: number): string => randomBytes(bytes).toString('base64url');

export const newAuthCode = (): string => `4/0A${random(54)}`;
export const newAccessToken = (): string => `ya29.a0${random(150)}`;
export const newRefreshToken = (): string => `1//0${random(75)}`;
/** Drive ids are 33 characters of [A-Za-z0-9_-]. */
export const newFileId = (): string => `1${random(24)}`;
/** Spreadsheet ids are 44 characters of [A-Za-z0-9_-]. */
export const newSpreadsheetId = (): string => `1${random(32)}`;
export const newKeyId = (): string => randomBytes(20).toString('hex');

/** A well-formed code, as opposed to a garbled or double-encoded one (`4%2F0A…`). */
export function isWellFormedAuthCode(code: string): boolean {
  return /^4\/[A-Za-z0-9_-]+$/.test(code);
}

/** Stable 21-digit numeric `sub` derived from the email, like Google's account ids. */
export function subjectFor(email: string): string {
  const digest = createHash('sha256').update(email.toLowerCase()).digest('hex');
  const n = BigInt(`0x${digest.slice(0, 32)}`) % 10n ** 20n;
  return `1${n.toString().padStart(20, '0')}`;
}
