// AES-256-GCM with a random 96-bit IV per value (NIST SP 800-38D §8.2.2) and associated data.
// Sealed format, ASCII so it fits in Firestore strings and cookies:
//   v1.<keyId>.<base64url iv>.<base64url ciphertext||tag>
// The associated data always includes the format version and the key id, plus the caller's
// binding (e.g. the document path and field), so a value copied anywhere else fails to open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DECRYPT_FAILED, OperationError } from '../errors.ts';
import type { PurposeKeys } from './keyset.ts';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function decryptError(reason: string): OperationError {
  return new OperationError(DECRYPT_FAILED, `cannot open sealed value: ${reason}`);
}

export function seal(keys: PurposeKeys, plaintext: string | Buffer, binding: string): string {
  const keyId = keys.primaryId;
  const key = keys.keys.get(keyId);
  if (!key) throw decryptError('primary key missing');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associatedData(keyId, binding));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${keyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

export function open(keys: PurposeKeys, sealed: string, binding: string): Buffer {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) throw decryptError('unknown format');
  const [, keyId = '', ivText = '', bodyText = ''] = parts;
  const key = keys.keys.get(keyId);
  if (!key) throw decryptError('unknown key id');
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw decryptError('truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(associatedData(keyId, binding));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw decryptError('authentication failed');
  }
}

/** The key id a sealed value was made with (key rotation counts them), or undefined. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 4 && parts[0] === VERSION ? parts[1] : undefined;
}

function associatedData(keyId: string, binding: string): Buffer {
  return Buffer.from(`${VERSION}|${keyId}|${binding}`, 'utf8');
}
