// A versioned keyset: named 256-bit master keys, one of them primary. New values are always
// written with the primary key; the key id travels with every ciphertext, so adding a new primary
// never breaks old values (rotate by adding a key and switching `primary`; drop the old key only
// after every value was re-encrypted, see docs/operations.md#rotate-the-keys).
//
// Every purpose gets its own keys (docs/security.md#key-hierarchy), so a cookie-sealing key can
// never decrypt a refresh token and a link-signing key is never an encryption key. Two stored
// formats (a Secret Manager secret or a local file):
//   purpose keyset  {"purpose":"token","primary":"k2","keys":{"k1":"<b64 32 bytes>","k2":…}}
//                   the keys of one purpose, used as they are: each function is given only the
//                   purposes it uses (COOKIE_KEYSET, LINK_KEYSET, CONNECT_KEYSET, TOKEN_KEYSET);
//   master keyset   {"primary":"k2","keys":{…}}
//                   every purpose's keys derived with HKDF-SHA256 (RFC 5869): one secret opens
//                   all purposes, the weaker choice kept for a single local file.
// A purpose keyset made from a master (purposeKeysetJson) holds exactly the keys the master
// derives, so splitting a master keeps every sealed value readable.
import { hkdfSync, randomBytes } from 'node:crypto';
import { KEYSET_INVALID, OperationError } from '../errors.ts';

export const KEY_PURPOSES = ['token', 'cookie', 'link', 'connect'] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

export interface PurposeKeys {
  readonly primaryId: string;
  /** Derived 32-byte keys by key id. */
  readonly keys: ReadonlyMap<string, Buffer>;
}

export interface Keyset {
  readonly primaryId: string;
  /** The one purpose of a purpose keyset; null for a master keyset. */
  readonly purpose: KeyPurpose | null;
  /** Every key id, primary first. */
  readonly keyIds: readonly string[];
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
  const { primary, keys, purpose } = parsed as {
    primary?: unknown;
    keys?: unknown;
    purpose?: unknown;
  };
  if (purpose !== undefined && !(KEY_PURPOSES as readonly unknown[]).includes(purpose))
    throw keysetError(`keyset "purpose" must be one of ${KEY_PURPOSES.join(', ')}`);
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

  const keyIds = [primary, ...[...masters.keys()].filter((id) => id !== primary)];
  if (purpose !== undefined) {
    const own: PurposeKeys = { primaryId: primary, keys: masters };
    return {
      primaryId: primary,
      purpose: purpose as KeyPurpose,
      keyIds,
      forPurpose(wanted) {
        if (wanted !== purpose)
          throw keysetError(
            `this keyset holds ${purpose as KeyPurpose} keys only, not ${wanted} keys`,
          );
        return own;
      },
    };
  }
  const derived = new Map<KeyPurpose, PurposeKeys>();
  return {
    primaryId: primary,
    purpose: null,
    keyIds,
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

/** One purpose's keys of a master keyset, as a purpose keyset (what the deploy stores). */
export function purposeKeysetJson(masterJson: string, purpose: KeyPurpose): string {
  const keyset = parseKeyset(masterJson);
  if (keyset.purpose !== null) throw keysetError('only a master keyset can be split by purpose');
  const { keys } = keyset.forPurpose(purpose);
  return JSON.stringify({
    purpose,
    primary: keyset.primaryId,
    keys: Object.fromEntries([...keys].map(([id, key]) => [id, key.toString('base64')])),
  });
}

/** A fresh keyset with one key, as JSON: a master keyset, or one purpose's. */
export function generateKeysetJson(keyId = 'k1', purpose?: KeyPurpose): string {
  return JSON.stringify({
    ...(purpose ? { purpose } : {}),
    primary: keyId,
    keys: { [keyId]: randomBytes(32).toString('base64') },
  });
}

type StoredKeyset = { purpose?: KeyPurpose; primary: string; keys: Record<string, string> };

/** Adds a new primary key to an existing keyset, keeping the old keys for decryption. */
export function rotateKeysetJson(json: string, newKeyId: string): string {
  parseKeyset(json);
  const parsed = JSON.parse(json) as StoredKeyset;
  if (parsed.keys[newKeyId] !== undefined) throw keysetError(`key id "${newKeyId}" exists already`);
  return JSON.stringify({
    ...parsed,
    primary: newKeyId,
    keys: { ...parsed.keys, [newKeyId]: randomBytes(32).toString('base64') },
  });
}

/** The keyset without `keyId` (never the primary): after no stored value uses it any more. */
export function dropKeyJson(json: string, keyId: string): string {
  parseKeyset(json);
  const parsed = JSON.parse(json) as StoredKeyset;
  if (parsed.primary === keyId) throw keysetError(`key "${keyId}" is the primary: rotate first`);
  if (parsed.keys[keyId] === undefined) throw keysetError(`the keyset has no key "${keyId}"`);
  const kept = Object.fromEntries(Object.entries(parsed.keys).filter(([id]) => id !== keyId));
  return JSON.stringify({ ...parsed, keys: kept });
}
