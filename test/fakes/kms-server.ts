// A local Cloud KMS speaking Cloud KMS's REST API (what shared/secrets/kms.ts calls, and what
// @google-cloud/kms sends in its REST fallback mode):
//   POST /v1/projects/P/locations/L/keyRings/R/cryptoKeys/K:encrypt {plaintext, additionalAuthenticatedData}
//   POST /v1/…/cryptoKeys/K:decrypt {ciphertext, additionalAuthenticatedData}
// (bytes as base64), answering with Google's fields and CRC-32C checksums. Each key is a real
// AES-256-GCM key, and the associated data is bound: a ciphertext opens only under its own key and
// AAD, otherwise Google's `400 INVALID_ARGUMENT "Decryption failed"`. Keys are created on first
// encrypt; a key can be made to refuse (403 PERMISSION_DENIED) and the whole service to be down
// (503 UNAVAILABLE). Every call is counted.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../../shared/crypto/crc32c.ts';

export interface FakeKms {
  /** e.g. http://127.0.0.1:PORT, for KMS_ENDPOINT. */
  readonly url: string;
  /** Calls so far, by operation (`encrypt`, `decrypt`). */
  calls(operation?: 'encrypt' | 'decrypt'): number;
  /** Refuse every call on this key with PERMISSION_DENIED (the IAM binding is missing). */
  deny(kmsKey: string, denied?: boolean): void;
  /** The whole service answers 503 UNAVAILABLE. */
  setUnavailable(unavailable: boolean): void;
  close(): Promise<void>;
}

const CALL =
  /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/:]+):(encrypt|decrypt)$/;

export async function startFakeKms(): Promise<FakeKms> {
  const keys = new Map<string, Buffer>();
  const denied = new Set<string>();
  const counts = { encrypt: 0, decrypt: 0 };
  let unavailable = false;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://kms.invalid');
      const match = CALL.exec(decodeURIComponent(url.pathname));
      if (req.method !== 'POST' || !match?.[1] || !match[2])
        return googleError(
          res,
          404,
          'NOT_FOUND',
          'The requested URL was not found on this server.',
        );
      if (!/^Bearer \S+$/.test(req.headers.authorization ?? ''))
        return googleError(
          res,
          401,
          'UNAUTHENTICATED',
          'Request is missing required authentication credential.',
        );
      const [, name, operation] = match as unknown as [string, string, 'encrypt' | 'decrypt'];
      counts[operation] += 1;
      if (unavailable)
        return googleError(res, 503, 'UNAVAILABLE', 'The service is currently unavailable.');
      if (denied.has(name))
        return googleError(
          res,
          403,
          'PERMISSION_DENIED',
          `Permission 'cloudkms.cryptoKeyVersions.useTo${operation === 'encrypt' ? 'Encrypt' : 'Decrypt'}' denied on resource '${name}' (or it may not exist).`,
        );
      let body: Record<string, string | undefined>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string>;
      } catch {
        return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      }
      const aad = Buffer.from(body.additionalAuthenticatedData ?? '', 'base64');
      if (operation === 'encrypt') {
        const plaintext = Buffer.from(body.plaintext ?? '', 'base64');
        let key = keys.get(name);
        if (!key) keys.set(name, (key = randomBytes(32)));
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        cipher.setAAD(aad);
        const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        const ciphertext = Buffer.concat([iv, cipher.getAuthTag(), sealed]);
        return json(res, 200, {
          name: `${name}/cryptoKeyVersions/1`,
          ciphertext: ciphertext.toString('base64'),
          ciphertextCrc32c: String(crc32c(ciphertext)),
          verifiedPlaintextCrc32c: body.plaintextCrc32c !== undefined,
          verifiedAdditionalAuthenticatedDataCrc32c:
            body.additionalAuthenticatedDataCrc32c !== undefined,
          protectionLevel: 1,
        });
      }
      const ciphertext = Buffer.from(body.ciphertext ?? '', 'base64');
      const key = keys.get(name);
      try {
        if (!key || ciphertext.length < 28) throw new Error('no key');
        const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(0, 12));
        decipher.setAuthTag(ciphertext.subarray(12, 28));
        decipher.setAAD(aad);
        const plaintext = Buffer.concat([
          decipher.update(ciphertext.subarray(28)),
          decipher.final(),
        ]);
        return json(res, 200, {
          plaintext: plaintext.toString('base64'),
          plaintextCrc32c: String(crc32c(plaintext)),
          usedPrimary: true,
          protectionLevel: 1,
        });
      } catch {
        return googleError(
          res,
          400,
          'INVALID_ARGUMENT',
          'Decryption failed: the ciphertext is invalid.',
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: (operation) => (operation ? counts[operation] : counts.encrypt + counts.decrypt),
    deny: (kmsKey, on = true) => void (on ? denied.add(kmsKey) : denied.delete(kmsKey)),
    setUnavailable: (on) => void (unavailable = on),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  json(res, code, { error: { code, message, status } });
}
