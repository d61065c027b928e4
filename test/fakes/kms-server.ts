// A local Cloud KMS speaking Cloud KMS's REST API (what shared/secrets/kms.ts calls, and what
// @google-cloud/kms sends in its REST fallback mode):
//   POST /v1/projects/P/locations/L/keyRings/R/cryptoKeys/K:encrypt {plaintext, additionalAuthenticatedData}
//   POST /v1/…/cryptoKeys/K:decrypt {ciphertext, additionalAuthenticatedData}
//   GET  /v1/…/cryptoKeys/K/cryptoKeyVersions/N/publicKey
//   POST /v1/…/cryptoKeys/K/cryptoKeyVersions/N:asymmetricSign {digest: {sha256}, digestCrc32c}
// (bytes as base64), answering with Google's fields and CRC-32C checksums. Each symmetric key is a
// real AES-256-GCM key, and the associated data is bound: a ciphertext opens only under its own
// key and AAD, otherwise Google's `400 INVALID_ARGUMENT "Decryption failed"`. Each key version is
// a real EC_SIGN_P256_SHA256 key that signs the digest it is given, as KMS does (Node's crypto
// always hashes what it signs, so the ECDSA of a given digest comes from @noble/curves). Keys are
// created on first use; a key (or one version) can be made to refuse (403 PERMISSION_DENIED), a
// version to be disabled (400 FAILED_PRECONDITION), and the whole service to be down (503
// UNAVAILABLE). Every call is counted, and each can take a modelled latency.
import { p256 } from '@noble/curves/nist.js';
import {
  createCipheriv,
  createDecipheriv,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../../shared/crypto/crc32c.ts';

type Operation = 'encrypt' | 'decrypt' | 'publicKey' | 'asymmetricSign';

export interface FakeKms {
  /** e.g. http://127.0.0.1:PORT, for KMS_ENDPOINT. */
  readonly url: string;
  /** Calls so far, by operation. */
  calls(operation?: Operation): number;
  /**
   * Refuse calls on this key or key version with PERMISSION_DENIED (the IAM binding is missing):
   * every call, or one operation's (a signer role without the public-key viewer, or the reverse).
   */
  deny(resource: string, denied?: boolean, operation?: Operation): void;
  /** A key version that is disabled: it neither signs nor shows its public key. */
  disable(version: string, disabled?: boolean): void;
  /** The public key of a signing key version (as a verifier would fetch it). */
  publicKeyOf(version: string): KeyObject;
  /** The whole service answers 503 UNAVAILABLE. */
  setUnavailable(unavailable: boolean): void;
  close(): Promise<void>;
}

const KEY = 'projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+';
const CALL = new RegExp(`^/v1/(${KEY}):(encrypt|decrypt)$`);
const VERSION_CALL = new RegExp(
  `^/v1/(${KEY}/cryptoKeyVersions/[1-9][0-9]*)(?:/(publicKey)|:(asymmetricSign))$`,
);

interface SigningKey {
  readonly secret: Uint8Array;
  readonly publicKey: KeyObject;
}

export async function startFakeKms(options: { latencyMs?: number } = {}): Promise<FakeKms> {
  const keys = new Map<string, Buffer>();
  const signingKeys = new Map<string, SigningKey>();
  /** `resource` (all operations) or `resource|operation`. */
  const denied = new Set<string>();
  const disabled = new Set<string>();
  const counts: Record<Operation, number> = {
    encrypt: 0,
    decrypt: 0,
    publicKey: 0,
    asymmetricSign: 0,
  };
  let unavailable = false;
  const signingKey = (version: string): SigningKey => {
    let key = signingKeys.get(version);
    if (!key) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const d = privateKey.export({ format: 'jwk' }).d!;
      key = { secret: Buffer.from(d, 'base64url'), publicKey };
      signingKeys.set(version, key);
    }
    return key;
  };
  const isDenied = (name: string, operation: Operation) =>
    [name, name.replace(/\/cryptoKeyVersions\/\d+$/, '')].some(
      (resource) => denied.has(resource) || denied.has(`${resource}|${operation}`),
    );

  const authenticated = (req: IncomingMessage) =>
    /^Bearer \S+$/.test(req.headers.authorization ?? '');

  /** getPublicKey and asymmetricSign of an EC_SIGN_P256_SHA256 key version. */
  const versionCall = (
    res: ServerResponse,
    name: string,
    operation: 'publicKey' | 'asymmetricSign',
    body: Record<string, unknown>,
  ): void => {
    if (isDenied(name, operation))
      return googleError(
        res,
        403,
        'PERMISSION_DENIED',
        `Permission 'cloudkms.cryptoKeyVersions.${operation === 'publicKey' ? 'viewPublicKey' : 'useToSign'}' denied on resource '${name}' (or it may not exist).`,
      );
    if (disabled.has(name))
      return googleError(
        res,
        400,
        'FAILED_PRECONDITION',
        `${name} is not enabled, current state is: DISABLED.`,
      );
    const key = signingKey(name);
    if (operation === 'publicKey') {
      const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
      return json(res, 200, {
        pem,
        algorithm: 'EC_SIGN_P256_SHA256',
        pemCrc32c: String(crc32c(Buffer.from(pem))),
        name,
        protectionLevel: 'SOFTWARE',
      });
    }
    const sha256 = (body.digest as { sha256?: unknown } | undefined)?.sha256;
    const digest = Buffer.from(typeof sha256 === 'string' ? sha256 : '', 'base64');
    if (digest.length !== 32)
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Digest must be a SHA-256 digest.');
    if (body.digestCrc32c !== undefined && body.digestCrc32c !== String(crc32c(digest)))
      return googleError(
        res,
        400,
        'INVALID_ARGUMENT',
        'The checksum in field digest_crc32c did not match the data in field digest.',
      );
    const signature = Buffer.from(p256.sign(digest, key.secret, { prehash: false, format: 'der' }));
    return json(res, 200, {
      signature: signature.toString('base64'),
      signatureCrc32c: String(crc32c(signature)),
      verifiedDigestCrc32c: body.digestCrc32c !== undefined,
      name,
      protectionLevel: 'SOFTWARE',
    });
  };

  /** encrypt and decrypt with a symmetric key. */
  const keyCall = (
    res: ServerResponse,
    name: string,
    operation: 'encrypt' | 'decrypt',
    body: Record<string, string | undefined>,
  ): void => {
    if (isDenied(name, operation))
      return googleError(
        res,
        403,
        'PERMISSION_DENIED',
        `Permission 'cloudkms.cryptoKeyVersions.useTo${operation === 'encrypt' ? 'Encrypt' : 'Decrypt'}' denied on resource '${name}' (or it may not exist).`,
      );
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
      const plaintext = Buffer.concat([decipher.update(ciphertext.subarray(28)), decipher.final()]);
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
  };

  const answer = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://kms.invalid').pathname);
    const onVersion = VERSION_CALL.exec(path);
    const onKey = CALL.exec(path);
    const route: [string, Operation] | undefined = onVersion?.[1]
      ? [onVersion[1], onVersion[2] ? 'publicKey' : 'asymmetricSign']
      : onKey?.[1]
        ? [onKey[1], onKey[2] as Operation]
        : undefined;
    if (!route || req.method !== (route[1] === 'publicKey' ? 'GET' : 'POST'))
      return googleError(res, 404, 'NOT_FOUND', 'The requested URL was not found on this server.');
    if (!authenticated(req))
      return googleError(
        res,
        401,
        'UNAUTHENTICATED',
        'Request is missing required authentication credential.',
      );
    const [name, operation] = route;
    counts[operation] += 1;
    if (unavailable)
      return googleError(res, 503, 'UNAVAILABLE', 'The service is currently unavailable.');
    let body: Record<string, string | undefined>;
    try {
      body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, string>;
    } catch {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (operation === 'publicKey' || operation === 'asymmetricSign')
      return versionCall(res, name, operation, body);
    return keyCall(res, name, operation, body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = () => answer(req, res, Buffer.concat(chunks));
      if (options.latencyMs) setTimeout(reply, options.latencyMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: (operation) =>
      operation ? counts[operation] : Object.values(counts).reduce((a, b) => a + b, 0),
    deny: (resource, on = true, operation) => {
      const entry = operation ? `${resource}|${operation}` : resource;
      if (on) denied.add(entry);
      else denied.delete(entry);
    },
    disable: (version, on = true) => void (on ? disabled.add(version) : disabled.delete(version)),
    publicKeyOf: (version) => signingKey(version).publicKey,
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
