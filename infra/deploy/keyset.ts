// The token keyset stored in Secret Manager when the secret does not exist yet:
// {"primary":"k1","keys":{"k1":"<base64 of 32 random bytes>"}} (AES-256-GCM key material).
import { randomBytes } from 'node:crypto';

export function generateKeyset(random: (size: number) => Buffer = randomBytes): Buffer {
  const key = random(32);
  if (key.length !== 32) throw new Error('the keyset needs 32 random bytes');
  return Buffer.from(
    JSON.stringify({ primary: 'k1', keys: { k1: key.toString('base64') } }),
    'utf8',
  );
}
