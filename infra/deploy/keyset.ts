// What a stored keyset is, without keeping it: observe.ts classifies the token keyset's newest
// version so that the plan can tell the old model's master keyset (split it, docs/deploy.md#keys)
// from a purpose keyset, raw or wrapped by Cloud KMS. The formats are shared/crypto's own
// (keyset.ts, wrapped-keyset.ts); their messages never contain key bytes.
import { parseKeyset } from '../../shared/crypto/keyset.ts';
import { wrappedKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { KEYSET_INVALID, isOperationError } from '../../shared/errors.ts';
import type { StoredKeyset } from './state.ts';

export function classifyKeyset(stored: string): StoredKeyset {
  try {
    const wrapped = wrappedKeyset(stored);
    if (wrapped) return { format: 'wrapped', purpose: wrapped.purpose, kmsKey: wrapped.kmsKey };
    const keyset = parseKeyset(stored);
    return keyset.purpose === null
      ? { format: 'master' }
      : { format: 'purpose', purpose: keyset.purpose };
  } catch (error) {
    if (isOperationError(error, KEYSET_INVALID))
      return { format: 'invalid', reason: error.message };
    throw error;
  }
}
