// A versioned keyset: named 256-bit master keys, one of them primary. New values are always
// written with the primary key; the key id travels with every ciphertext, so adding a new primary
// never breaks old values (rotate by adding a key and switching `primary`; drop the old key only
// after every value was re-encrypted, see docs/operations.md#rotate-the-token-keys).
//
// Every purpose gets its own key derived with HKDF-SHA256 (RFC 5869), so a cookie-sealing key can
// never decrypt a refresh token and a link-signing key is never an encryption key.
//
// Stored format (Secret Manager secret or local file):
//   {"primary":"k2","keys":{"k1":"<base64 32 bytes>","k2":"<base64 32 bytes>"}}
import { hkdfSync, randomBytes } from 'node:crypto';
import { KEYSET_INVALID, OperationError } from '../errors.ts';

export type KeyPurpose = 'token' | 'cookie' | 'link';

export interface PurposeKeys {
  readonly primaryId: string;
  /** Derived 32-byte keys by key id. */
  readonly keys: ReadonlyMap<string, Buffer>;
}

export interface Keyset {
  readonly primaryId: string;
  forPurpose(purpose: KeyPurpose): PurposeKeys;
}

function keysetError(message: string): OperationError {
  return new OperationError(KEYSET_INVALID, message);
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses and checks key material. Messages never contain the key bytes. */
export function parseKeyset(json: string): Keyset {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw keysetError('token keyset is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw keysetError('token keyset must be a JSON object');
  const { primary, keys } = parsed as { primary?: unknown; keys?: unknown };
  if (typeof primary !== 'string' || !KEY_ID.test(primary))
    throw keysetError('token keyset needs "primary": a key id of [A-Za-z0-9_-]{1,32}');
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
    throw keysetError('token keyset needs "keys": an object of key id to base64 key');
  const masters = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(keys)) {
    if (!KEY_ID.test(id)) throw keysetError(`token keyset key id "${id}" is malformed`);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (bytes.length !== 32 || bytes.toString('base64') !== value)
      throw keysetError(`token keyset key "${id}" must be 32 bytes in standard base64`);
    masters.set(id, bytes);
  }
  if (!masters.has(primary))
    throw keysetError(`token keyset primary "${primary}" is not among its keys`);

  const derived = new Map<KeyPurpose, PurposeKeys>();
  return {
    primaryId: primary,
    forPurpose(purpose) {
      let keysForPurpose = derived.get(purpose);
      if (!keysForPurpose) {
        const map = new Map<string, Buffer>();
        for (const [id, master] of masters)
          map.set(
            id,
            Buffer.from(
              hkdfSync('sha256', master, Buffer.alloc(0), `consent-vault/${purpose}/v1`, 32),
            ),
          );
        keysForPurpose = { primaryId: primary, keys: map };
        derived.set(purpose, keysForPurpose);
      }
      return keysForPurpose;
    },
  };
}

/** A fresh keyset with one key, as JSON (for `npm start` and the deploy script). */
export function generateKeysetJson(keyId = 'k1'): string {
  return JSON.stringify({ primary: keyId, keys: { [keyId]: randomBytes(32).toString('base64') } });
}

/** Adds a new primary key to an existing keyset, keeping the old keys for decryption. */
export function rotateKeysetJson(json: string, newKeyId: string): string {
  const parsed = JSON.parse(json) as { primary: string; keys: Record<string, string> };
  parseKeyset(json);
  if (parsed.keys[newKeyId] !== undefined) throw keysetError(`key id "${newKeyId}" exists already`);
  return JSON.stringify({
    primary: newKeyId,
    keys: { ...parsed.keys, [newKeyId]: randomBytes(32).toString('base64') },
  });
}
