// Envelope encryption of a keyset with Cloud KMS (docs/security.md#key-hierarchy): the stored
// secret holds the purpose keyset encrypted by a KMS key-encryption key, with the purpose as
// additional authenticated data, so a leaked secret version alone opens nothing, and a keyset
// wrapped for one purpose cannot be unwrapped as another's. A function unwraps it once per
// instance (one KMS call, whatever the number of users).
//   {"wrapped":{"kmsKey":"projects/P/locations/L/keyRings/R/cryptoKeys/K","purpose":"token","ciphertext":"<b64>"}}
import { KEYSET_INVALID, OperationError } from '../errors.ts';
import { KEY_PURPOSES, parseKeyset, type KeyPurpose } from './keyset.ts';

const KMS_KEY = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

/** What unwrapping needs from Cloud KMS (shared/secrets/kms.ts; a stand-in in tests). */
export interface KeyWrapper {
  encrypt(kmsKey: string, plaintext: Buffer, aad: Buffer): Promise<Buffer>;
  decrypt(kmsKey: string, ciphertext: Buffer, aad: Buffer): Promise<Buffer>;
}

interface Wrapped {
  readonly kmsKey: string;
  readonly purpose: KeyPurpose;
  readonly ciphertext: string;
}

export function keysetAad(purpose: KeyPurpose): Buffer {
  return Buffer.from(`consent-vault/keyset/${purpose}`);
}

/** The wrapper of a stored keyset, or undefined for a plain one. */
export function wrappedKeyset(stored: string): Wrapped | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return undefined;
  }
  const wrapped = (parsed as { wrapped?: unknown } | null)?.wrapped;
  if (wrapped === undefined) return undefined;
  const { kmsKey, purpose, ciphertext } = (wrapped ?? {}) as Record<string, unknown>;
  if (
    typeof kmsKey !== 'string' ||
    !KMS_KEY.test(kmsKey) ||
    !(KEY_PURPOSES as readonly unknown[]).includes(purpose) ||
    typeof ciphertext !== 'string' ||
    ciphertext === ''
  )
    throw new OperationError(
      KEYSET_INVALID,
      'a wrapped keyset needs "kmsKey" (projects/…/cryptoKeys/…), "purpose" and "ciphertext"',
    );
  return { kmsKey, purpose: purpose as KeyPurpose, ciphertext };
}

export async function wrapKeyset(
  wrapper: KeyWrapper,
  input: { readonly keysetJson: string; readonly kmsKey: string },
): Promise<string> {
  const keyset = parseKeyset(input.keysetJson);
  if (keyset.purpose === null)
    throw new OperationError(KEYSET_INVALID, 'only a purpose keyset is wrapped (one per purpose)');
  const ciphertext = await wrapper.encrypt(
    input.kmsKey,
    Buffer.from(input.keysetJson),
    keysetAad(keyset.purpose),
  );
  return JSON.stringify({
    wrapped: {
      kmsKey: input.kmsKey,
      purpose: keyset.purpose,
      ciphertext: ciphertext.toString('base64'),
    },
  });
}

/** The purpose keyset inside, checked to be that purpose's. KMS refusals pass through as they are. */
export async function unwrapKeyset(wrapper: KeyWrapper, wrapped: Wrapped): Promise<string> {
  const plaintext = await wrapper.decrypt(
    wrapped.kmsKey,
    Buffer.from(wrapped.ciphertext, 'base64'),
    keysetAad(wrapped.purpose),
  );
  const json = plaintext.toString('utf8');
  if (parseKeyset(json).purpose !== wrapped.purpose)
    throw new OperationError(
      KEYSET_INVALID,
      `the wrapped keyset is not a ${wrapped.purpose} keyset`,
    );
  return json;
}
