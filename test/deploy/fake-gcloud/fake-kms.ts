// The fake Cloud KMS's cipher: AES-256-GCM under a key derived from the CryptoKey's name, with the
// additional authenticated data bound in, as Cloud KMS binds it. Tests decrypt what the deploy
// stored with the same function, so a keyset wrapped with the wrong key or the wrong AAD fails.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

function keyOf(keyName: string): Buffer {
  return createHash('sha256').update(`fake-kms/${keyName}`).digest();
}

export function fakeKmsEncrypt(keyName: string, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(keyName), iv).setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Throws when the key or the AAD differ from the encryption's. */
export function fakeKmsDecrypt(keyName: string, ciphertext: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', keyOf(keyName), ciphertext.subarray(0, 12))
    .setAAD(aad)
    .setAuthTag(ciphertext.subarray(12, 28));
  return Buffer.concat([decipher.update(ciphertext.subarray(28)), decipher.final()]);
}
