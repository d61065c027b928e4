// Key custody: one keyset per purpose, held only where used, and the token keyset wrapped by
// Cloud KMS (a local KMS speaking Cloud KMS's REST API, called through google-auth-library). Unwrapped once
// per instance; a wrong key, a wrong purpose or KMS being down stops the start-up with the setting
// named, never a plaintext fallback and never key material in a message.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  dropKeyJson,
  generateKeysetJson,
  parseKeyset,
  purposeKeysetJson,
  rotateKeysetJson,
} from '../../shared/crypto/keyset.ts';
import { wrapKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { ConfigError, OperationError } from '../../shared/errors.ts';
import { createRuntime, runtimeFromEnvironment } from '../../shared/platform/runtime.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { loadConfig } from '../../shared/settings/config.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';
import { startFakeKms, type FakeKms } from '../fakes/kms-server.ts';

const BASE = {
  GOOGLE_CLOUD_PROJECT: 'demo-keys',
  OAUTH_CLIENT_ID: 'test.apps.googleusercontent.com',
  OAUTH_CLIENT_SECRET: 'GOCSPX-test',
  REDIRECT_URI: 'http://localhost:8080/callback',
  AUTHORIZE_URL: 'http://localhost:8080/authorize',
  REVOKE_URL: 'http://localhost:8080/revoke',
  LOG_LEVEL: 'ERROR',
};
const KEY = 'projects/demo-keys/locations/global/keyRings/consent-vault/cryptoKeys/token-keyset';
const OTHER_KEY = 'projects/demo-keys/locations/global/keyRings/consent-vault/cryptoKeys/other';

let kms: FakeKms;
beforeAll(async () => {
  kms = await startFakeKms();
});
afterAll(() => kms?.close());
afterEach(() => {
  kms.setUnavailable(false);
  vi.restoreAllMocks();
});

function runtimeFor(fn: FunctionName, env: Record<string, string>) {
  return createRuntime({
    config: loadConfig({ ...BASE, KMS_ENDPOINT: kms.url, ...env }, fn),
    services: { kms: kmsKeyWrapper },
    sink: () => {},
  });
}

async function wrapped(keysetJson: string, kmsKey = KEY): Promise<string> {
  return wrapKeyset(await kmsKeyWrapper(kms.url), { keysetJson, kmsKey });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('purpose keysets', () => {
  it('splitting a master keeps every purpose key it derives, so sealed values stay readable', () => {
    const master = rotateKeysetJson(generateKeysetJson('k1'), 'k2');
    for (const purpose of ['token', 'cookie', 'link', 'connect'] as const) {
      const split = parseKeyset(purposeKeysetJson(master, purpose));
      expect(split.purpose).toBe(purpose);
      expect(split.forPurpose(purpose)).toEqual(parseKeyset(master).forPurpose(purpose));
    }
  });

  it('a purpose keyset gives no other purpose its keys', () => {
    const cookie = parseKeyset(generateKeysetJson('k1', 'cookie'));
    expect(() => cookie.forPurpose('token')).toThrow('holds cookie keys only, not token keys');
    expect(() => parseKeyset('{"purpose":"everything","primary":"k1","keys":{}}')).toThrow(
      OperationError,
    );
  });

  it('drops a key only when it is not the primary', () => {
    const rotated = rotateKeysetJson(generateKeysetJson('k1', 'token'), 'k2');
    expect(parseKeyset(dropKeyJson(rotated, 'k1')).keyIds).toEqual(['k2']);
    expect(() => dropKeyJson(rotated, 'k2')).toThrow('is the primary');
  });

  it('authorize holds the cookie and connect keys, never a token key', async () => {
    const runtime = runtimeFor('authorize', {
      COOKIE_KEYSET: generateKeysetJson('k1', 'cookie'),
      CONNECT_KEYSET: generateKeysetJson('k1', 'connect'),
    });
    expect(runtime.config.tokenKeyset).toBeUndefined();
    expect((await runtime.keys('cookie')).primaryId).toBe('k1');
    const error = await failure(runtime.keys('token'));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['TOKEN_KEYSET: is required']);
  });

  it('a purpose TOKEN_KEYSET does not stand in for the cookie keyset', async () => {
    const runtime = createRuntime({
      config: loadConfig({ ...BASE, TOKEN_KEYSET: generateKeysetJson('k1', 'token') }, {}),
      sink: () => {},
    });
    const error = await failure(runtime.keys('cookie'));
    expect((error as ConfigError).problems).toEqual([
      'COOKIE_KEYSET: is required (TOKEN_KEYSET holds token keys only)',
    ]);
  });
});

describe('a token keyset wrapped by Cloud KMS', () => {
  it('is unwrapped once per instance, whatever the number of uses', async () => {
    const keyset = generateKeysetJson('k1', 'token');
    const runtime = runtimeFor('worker', { TOKEN_KEYSET: await wrapped(keyset) });
    const before = kms.calls('decrypt');
    const [a, b] = await Promise.all([runtime.keys('token'), runtime.keys('token')]);
    await runtime.keys('token');
    expect(a).toBe(b);
    expect(a.keys).toEqual(parseKeyset(keyset).forPurpose('token').keys);
    expect(kms.calls('decrypt') - before).toBe(1);
    expect(runtime.kmsCalls()).toEqual({ unwrap: 1, publicKey: 0, sign: 0 });
  });

  it('under another KMS key, or as another purpose, it does not open', async () => {
    const token = generateKeysetJson('k1', 'token');
    // The wrapper names a key the ciphertext was not made with: KMS refuses to decrypt.
    const moved = JSON.parse(await wrapped(token)) as { wrapped: { kmsKey: string } };
    moved.wrapped.kmsKey = OTHER_KEY;
    await wrapped(generateKeysetJson('k1', 'token'), OTHER_KEY); // OTHER_KEY exists
    const wrongKey = await failure(
      runtimeFor('worker', { TOKEN_KEYSET: JSON.stringify(moved) }).keys('token'),
    );
    expect(String((wrongKey as Error).message)).toContain(`Cloud KMS decrypt with ${OTHER_KEY}`);
    // The wrapper claims another purpose: the associated data differs, KMS refuses.
    const relabelled = JSON.parse(await wrapped(token)) as { wrapped: { purpose: string } };
    relabelled.wrapped.purpose = 'cookie';
    const wrongPurpose = await failure(
      runtimeFor('callback', {
        TOKEN_KEYSET: generateKeysetJson('k1', 'token'),
        COOKIE_KEYSET: JSON.stringify(relabelled),
      }).keys('cookie'),
    );
    expect(String((wrongPurpose as Error).message)).toContain('Cloud KMS decrypt');
    // A cookie keyset wrapped as it should be, but given as the token keyset.
    const cookieAsToken = await failure(
      runtimeFor('worker', {
        TOKEN_KEYSET: await wrapped(generateKeysetJson('k1', 'cookie')),
      }).keys('token'),
    );
    expect((cookieAsToken as ConfigError).problems).toEqual([
      'TOKEN_KEYSET: this keyset holds cookie keys only, not token keys',
    ]);
  });

  it('KMS down at start-up stops the instance with the setting named; no plaintext fallback', async () => {
    const stored = await wrapped(generateKeysetJson('k1', 'token'));
    kms.setUnavailable(true);
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as never);
    runtimeFromEnvironment({ ...BASE, KMS_ENDPOINT: kms.url, TOKEN_KEYSET: stored }, 'worker', {
      kms: kmsKeyWrapper,
    });
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(78), { timeout: 25_000 });
    const text = lines.join('');
    expect(text).toContain('cannot load a keyset');
    expect(text).toContain('"setting":"TOKEN_KEYSET"');
    expect(text).toContain('Cloud KMS decrypt');
    const { ciphertext } = (JSON.parse(stored) as { wrapped: { ciphertext: string } }).wrapped;
    expect(text).not.toContain(ciphertext.slice(0, 16));
  }, 30_000);

  it('a function without KMS access is told so, not handed raw bytes', async () => {
    const runtime = createRuntime({
      config: loadConfig(
        { ...BASE, TOKEN_KEYSET: await wrapped(generateKeysetJson('k1', 'token')) },
        {},
      ),
      sink: () => {},
    });
    const error = await failure(runtime.keys('token'));
    expect((error as ConfigError).problems[0]).toContain('no KMS access');
  });
});
