// Cloud KMS over its REST API, with google-auth-library's authenticated request: the functions a
// person waits on (callback, revoke) have loaded it already for the code exchange and Firestore.
// @google-cloud/kms and its gRPC stack would cost them about 270 ms of every cold start (measured
// with `npm run bench:coldstart`: callback 2.0x → 3.0x the empty function) for a few calls per
// instance. Two uses:
// - encrypt / decrypt: wrapped keysets (docs/security.md#key-hierarchy), once per instance;
//   https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/decrypt
// - getPublicKey / asymmetricSign: DPoP proofs signed by a key that never leaves KMS
//   (docs/security.md#dpop); https://cloud.google.com/kms/docs/create-validate-signatures
// Every checksum is sent and every answer's CRC-32C checked, as Google's data-integrity
// guidelines ask (https://cloud.google.com/kms/docs/data-integrity-guidelines). Locally the KMS
// stand-in (test/fakes/kms-server.ts) serves the same REST API.
import { crc32c } from '../crypto/crc32c.ts';
import type { KeyWrapper } from '../crypto/wrapped-keyset.ts';
import { AppError, KMS_ERROR, ServiceError } from '../errors.ts';
import type { KmsSigner } from '../oauth/dpop.ts';
import { loadAuthLibrary, staticTokenAuthClient } from '../oauth/google-client.ts';

const KMS_ROOT = 'https://cloudkms.googleapis.com/';
const KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';

export type KmsClient = KeyWrapper & KmsSigner;

interface Requester {
  request<T>(options: {
    url: string;
    method: 'GET' | 'POST';
    data?: unknown;
    timeout: number;
  }): Promise<{ data: T }>;
}

export async function kmsKeyWrapper(endpoint: string | undefined): Promise<KmsClient> {
  const root = endpoint === undefined ? KMS_ROOT : `${endpoint.replace(/\/$/, '')}/`;
  const auth: Requester =
    endpoint === undefined
      ? new (await loadAuthLibrary()).GoogleAuth({ scopes: [KMS_SCOPE] })
      : await staticTokenAuthClient('local');
  /**
   * One call, retried once on a transient answer (at start-up a KMS outage must stop the
   * instance within seconds; in a run, the user's backoff retries further). Failures are a
   * ServiceError with Google's status, never the gaxios error (it holds our bearer token).
   */
  const call = async <T>(resource: string, operation: string, data?: object): Promise<T> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return (
          await auth.request<T>({
            url: `${root}v1/${resource}${operation}`,
            method: data === undefined ? 'GET' : 'POST',
            ...(data === undefined ? {} : { data }),
            timeout: 10_000,
          })
        ).data;
      } catch (error) {
        const response = (error as { response?: { status?: number; data?: unknown } }).response;
        const status = response?.status;
        const transient = status === undefined || status === 429 || status >= 500;
        if (!transient || attempt >= 2)
          throw new ServiceError(
            KMS_ERROR,
            `Cloud KMS ${operation.replace(/^\W+/, '')} with ${resource} failed${status ? ` (HTTP ${status})` : ''}`,
            { httpStatus: status, status: googleStatusOf(response?.data) },
          );
      }
    }
  };
  /** Unwrapping runs at start-up: any failure is the instance's configuration failing. */
  const misconfigured = (error: unknown, detail?: string) =>
    new AppError('secret_unavailable', 500, 'Service misconfigured.', {
      cause: error,
      detail: detail ?? (error instanceof Error ? error.message : String(error)),
    });
  return {
    async encrypt(kmsKey, plaintext, aad) {
      const answer = await call<{ ciphertext?: string }>(kmsKey, ':encrypt', {
        plaintext: plaintext.toString('base64'),
        additionalAuthenticatedData: aad.toString('base64'),
        plaintextCrc32c: String(crc32c(plaintext)),
        additionalAuthenticatedDataCrc32c: String(crc32c(aad)),
      }).catch((error: unknown) => {
        throw misconfigured(error);
      });
      if (!answer.ciphertext)
        throw misconfigured(undefined, `Cloud KMS encrypt with ${kmsKey} gave no ciphertext`);
      return Buffer.from(answer.ciphertext, 'base64');
    },
    async decrypt(kmsKey, ciphertext, aad) {
      const answer = await call<{ plaintext?: string; plaintextCrc32c?: string }>(
        kmsKey,
        ':decrypt',
        {
          ciphertext: ciphertext.toString('base64'),
          additionalAuthenticatedData: aad.toString('base64'),
          ciphertextCrc32c: String(crc32c(ciphertext)),
          additionalAuthenticatedDataCrc32c: String(crc32c(aad)),
        },
      ).catch((error: unknown) => {
        throw misconfigured(error);
      });
      const plaintext = Buffer.from(answer.plaintext ?? '', 'base64');
      if (answer.plaintext === undefined || !crcMatches(answer.plaintextCrc32c, plaintext))
        throw misconfigured(
          undefined,
          `Cloud KMS decrypt with ${kmsKey} gave no plaintext or a wrong CRC-32C`,
        );
      return plaintext;
    },
    async publicKeyPem(version) {
      const answer = await call<{ pem?: string; pemCrc32c?: string; algorithm?: string }>(
        version,
        '/publicKey',
      );
      if (
        answer.pem === undefined ||
        !crcMatches(answer.pemCrc32c, Buffer.from(answer.pem)) ||
        answer.algorithm !== 'EC_SIGN_P256_SHA256'
      )
        throw new ServiceError(
          KMS_ERROR,
          `Cloud KMS key ${version} is not an EC_SIGN_P256_SHA256 key (got ${answer.algorithm ?? 'no key'})`,
          { httpStatus: 400, status: 'FAILED_PRECONDITION' },
        );
      return answer.pem;
    },
    async signDigest(version, digest) {
      const answer = await call<{
        signature?: string;
        signatureCrc32c?: string;
        verifiedDigestCrc32c?: boolean;
        name?: string;
      }>(version, ':asymmetricSign', {
        digest: { sha256: digest.toString('base64') },
        digestCrc32c: String(crc32c(digest)),
      });
      const signature = Buffer.from(answer.signature ?? '', 'base64');
      // The integrity checks Google lists for asymmetricSign: our digest arrived intact, the
      // signature too, and the key version that signed is the one we asked for.
      if (
        answer.signature === undefined ||
        answer.verifiedDigestCrc32c !== true ||
        answer.name !== version ||
        !crcMatches(answer.signatureCrc32c, signature)
      )
        throw new ServiceError(
          KMS_ERROR,
          `Cloud KMS asymmetricSign with ${version} failed its integrity checks`,
          { httpStatus: 502 },
        );
      return signature;
    },
  };
}

function crcMatches(expected: string | undefined, bytes: Buffer): boolean {
  return expected === undefined || expected === String(crc32c(bytes));
}

/** Google's canonical status of an error answer (PERMISSION_DENIED, FAILED_PRECONDITION…). */
function googleStatusOf(data: unknown): string | undefined {
  const status = (data as { error?: { status?: unknown } } | null | undefined)?.error?.status;
  return typeof status === 'string' ? status : undefined;
}
