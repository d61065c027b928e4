// Cloud KMS encrypt and decrypt over its REST API (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/decrypt),
// with google-auth-library's authenticated request: the functions a person waits on (callback,
// revoke) have loaded it already for the code exchange and Firestore. @google-cloud/kms and its
// gRPC stack would cost them about 270 ms of every cold start (measured with
// `npm run bench:coldstart`: callback 2.0x → 3.0x the empty function) for one call per instance.
// Every answer's CRC-32C is checked, as Google's data-integrity guidelines ask
// (https://cloud.google.com/kms/docs/data-integrity-guidelines). Locally the KMS stand-in
// (test/fakes/kms-server.ts) serves the same REST API.
import { crc32c } from '../crypto/crc32c.ts';
import type { KeyWrapper } from '../crypto/wrapped-keyset.ts';
import { AppError } from '../errors.ts';
import { loadAuthLibrary, staticTokenAuthClient } from '../oauth/google-client.ts';

const KMS_ROOT = 'https://cloudkms.googleapis.com/';
const KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';

interface Requester {
  request<T>(options: { url: string; method: 'POST'; data: unknown; timeout: number }): Promise<{
    data: T;
  }>;
}

export async function kmsKeyWrapper(endpoint: string | undefined): Promise<KeyWrapper> {
  const root = endpoint === undefined ? KMS_ROOT : `${endpoint.replace(/\/$/, '')}/`;
  const auth: Requester =
    endpoint === undefined
      ? new (await loadAuthLibrary()).GoogleAuth({ scopes: [KMS_SCOPE] })
      : await staticTokenAuthClient('local');
  /** One call, retried once on a transient answer: at start-up a KMS outage must stop the instance within seconds. */
  const call = async <T>(
    kmsKey: string,
    operation: 'encrypt' | 'decrypt',
    data: object,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return (
          await auth.request<T>({
            url: `${root}v1/${kmsKey}:${operation}`,
            method: 'POST',
            data,
            timeout: 10_000,
          })
        ).data;
      } catch (error) {
        const status = (error as { response?: { status?: number } }).response?.status;
        const transient = status === undefined || status === 429 || status >= 500;
        if (!transient || attempt >= 2)
          throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
            cause: error,
            detail: `Cloud KMS ${operation} with ${kmsKey} failed${status ? ` (HTTP ${status})` : ''}`,
          });
      }
    }
  };
  return {
    async encrypt(kmsKey, plaintext, aad) {
      const answer = await call<{ ciphertext?: string }>(kmsKey, 'encrypt', {
        plaintext: plaintext.toString('base64'),
        additionalAuthenticatedData: aad.toString('base64'),
        plaintextCrc32c: String(crc32c(plaintext)),
        additionalAuthenticatedDataCrc32c: String(crc32c(aad)),
      });
      if (!answer.ciphertext)
        throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
          detail: `Cloud KMS encrypt with ${kmsKey} gave no ciphertext`,
        });
      return Buffer.from(answer.ciphertext, 'base64');
    },
    async decrypt(kmsKey, ciphertext, aad) {
      const answer = await call<{ plaintext?: string; plaintextCrc32c?: string }>(
        kmsKey,
        'decrypt',
        {
          ciphertext: ciphertext.toString('base64'),
          additionalAuthenticatedData: aad.toString('base64'),
          ciphertextCrc32c: String(crc32c(ciphertext)),
          additionalAuthenticatedDataCrc32c: String(crc32c(aad)),
        },
      );
      const plaintext = Buffer.from(answer.plaintext ?? '', 'base64');
      if (
        answer.plaintext === undefined ||
        (answer.plaintextCrc32c !== undefined &&
          answer.plaintextCrc32c !== String(crc32c(plaintext)))
      )
        throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
          detail: `Cloud KMS decrypt with ${kmsKey} gave no plaintext or a wrong CRC-32C`,
        });
      return plaintext;
    },
  };
}
