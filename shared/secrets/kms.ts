// Cloud KMS through Google's client (@google-cloud/kms), loaded lazily: only a function whose
// keyset is wrapped pays for it, once per instance. Pointed at a local endpoint (tests, the local
// stack) it speaks the REST fallback protocol, which test/fakes/kms-server.ts serves. Every
// answer's CRC-32C is checked, as Google's data-integrity guidelines ask
// (https://cloud.google.com/kms/docs/data-integrity-guidelines).
import { crc32c } from '../crypto/crc32c.ts';
import type { KeyWrapper } from '../crypto/wrapped-keyset.ts';
import { AppError } from '../errors.ts';
import { staticTokenAuthClient } from '../oauth/google-client.ts';

export async function kmsKeyWrapper(endpoint: string | undefined): Promise<KeyWrapper> {
  const { KeyManagementServiceClient } = await import('@google-cloud/kms');
  let client: InstanceType<typeof KeyManagementServiceClient>;
  if (endpoint === undefined) client = new KeyManagementServiceClient();
  else {
    const url = new URL(endpoint);
    client = new KeyManagementServiceClient({
      apiEndpoint: url.hostname,
      port: Number(url.port),
      protocol: url.protocol.replace(':', ''),
      fallback: true,
      authClient: await staticTokenAuthClient('local'),
    });
  }
  // Bounded: at start-up a KMS outage must stop the instance within seconds, not after the
  // client's default minute of retries (Cloud Run then starts another instance).
  const call = { timeout: 10_000, maxRetries: 2 };
  const failed = (operation: string, kmsKey: string, error: unknown) =>
    new AppError('secret_unavailable', 500, 'Service misconfigured.', {
      cause: error,
      detail: `Cloud KMS ${operation} with ${kmsKey} failed`,
    });
  return {
    async encrypt(kmsKey, plaintext, aad) {
      try {
        const [answer] = await client.encrypt(
          {
            name: kmsKey,
            plaintext,
            additionalAuthenticatedData: aad,
            plaintextCrc32c: { value: String(crc32c(plaintext)) },
            additionalAuthenticatedDataCrc32c: { value: String(crc32c(aad)) },
          },
          call,
        );
        if (!answer.ciphertext) throw new Error('no ciphertext');
        return Buffer.from(answer.ciphertext as Uint8Array);
      } catch (error) {
        throw failed('encrypt', kmsKey, error);
      }
    },
    async decrypt(kmsKey, ciphertext, aad) {
      let plaintext: Buffer;
      let checksum: string | number | null | undefined;
      try {
        const [answer] = await client.decrypt(
          {
            name: kmsKey,
            ciphertext,
            additionalAuthenticatedData: aad,
            ciphertextCrc32c: { value: String(crc32c(ciphertext)) },
            additionalAuthenticatedDataCrc32c: { value: String(crc32c(aad)) },
          },
          call,
        );
        if (!answer.plaintext) throw new Error('no plaintext');
        plaintext = Buffer.from(answer.plaintext as Uint8Array);
        checksum = answer.plaintextCrc32c?.value as string | number | null | undefined;
      } catch (error) {
        throw failed('decrypt', kmsKey, error);
      }
      if (
        checksum !== undefined &&
        checksum !== null &&
        String(checksum) !== String(crc32c(plaintext))
      )
        throw failed('decrypt', kmsKey, new Error('plaintext CRC-32C mismatch'));
      return plaintext;
    },
  };
}
