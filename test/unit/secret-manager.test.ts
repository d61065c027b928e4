// The Secret Manager path: the real @google-cloud/secret-manager client (REST fallback) against a
// local server that speaks its protocol. Secrets are read once per instance; a missing one is a
// clear secret_unavailable error; a malformed keyset stops start-up naming the setting.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type SecretSource } from '../../shared/settings/config.ts';
import { generateKeysetJson } from '../../shared/crypto/keyset.ts';
import { AppError, ConfigError } from '../../shared/errors.ts';
import { createRuntime, runtimeFromEnvironment } from '../../shared/platform/runtime.ts';
import { secretManagerAccessor } from '../../shared/secrets/secret-manager.ts';
import { createSecretStore } from '../../shared/secrets/secret-store.ts';
import { crc32c } from '../../shared/crypto/crc32c.ts';
import { startFakeSecretManager, type FakeSecretManager } from '../fakes/secret-manager-server.ts';

const VERSION = 'projects/p/secrets/s/versions/3';
const BASE = {
  GOOGLE_CLOUD_PROJECT: 'demo-consent-vault',
  OAUTH_CLIENT_ID: 'test.apps.googleusercontent.com',
  REDIRECT_URI: 'http://localhost:8080/callback',
  AUTHORIZE_URL: 'http://localhost:8080/authorize',
  REVOKE_URL: 'http://localhost:8080/revoke',
  LOG_LEVEL: 'ERROR',
};

let server: FakeSecretManager;

beforeAll(async () => {
  server = await startFakeSecretManager();
});
afterAll(async () => {
  await server?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

function keysetSource(version: string): SecretSource {
  const config = loadConfig(
    { ...BASE, TOKEN_KEYSET_VERSION: version, SECRET_MANAGER_ENDPOINT: server.url },
    { tokenKeyset: true },
  );
  expect(config.tokenKeyset?.kind).toBe('secret-manager');
  return config.tokenKeyset!;
}

describe('fake Secret Manager', () => {
  it('computes dataCrc32c like Google (CRC-32C check value)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});

describe('secret store with Secret Manager', () => {
  it('reads TOKEN_KEYSET_VERSION once per instance, however many reads', async () => {
    const keyset = generateKeysetJson('k1');
    server.setVersion(VERSION, keyset);
    const source = keysetSource(VERSION);
    const store = createSecretStore({
      secretManagerEndpoint: server.url,
      loadSecretManager: secretManagerAccessor,
    });
    const before = server.accessCount(VERSION);
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => store.read(source)));
    for (let i = 0; i < 10; i += 1) expect(await store.read(source)).toBe(keyset);
    expect(new Set(concurrent)).toEqual(new Set([keyset]));
    expect(server.accessCount(VERSION) - before).toBe(1);
    expect(store.backendReads).toBe(1);

    // What the real client sent (REST fallback): one GET of the version's :access method.
    const request = server.requests.at(-1)!;
    expect(request.method).toBe('GET');
    expect(request.path).toBe(`/v1/${VERSION}:access`);
    expect(decodeURIComponent(request.query)).toBe('?$alt=json;enum-encoding=int');

    // A new instance reads again (and once).
    const second = createSecretStore({
      secretManagerEndpoint: server.url,
      loadSecretManager: secretManagerAccessor,
    });
    await Promise.all([second.read(source), second.read(source)]);
    expect(server.accessCount(VERSION) - before).toBe(2);
  });

  it('a missing secret version is a clear secret_unavailable error, retried on the next read', async () => {
    const missing = 'projects/p/secrets/absent/versions/7';
    const source = keysetSource(missing);
    const store = createSecretStore({
      secretManagerEndpoint: server.url,
      loadSecretManager: secretManagerAccessor,
    });
    const error = await store.read(source).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('secret_unavailable');
    expect((error as AppError).status).toBe(500);
    expect((error as AppError).message).toBe(`cannot access secret version ${missing}`);
    expect((error as AppError).publicMessage).toBe('Service misconfigured.');
    expect(server.accessCount(missing)).toBe(1);
    // Not cached: once the version exists, the next read succeeds.
    server.setVersion(missing, 'now-here');
    expect(await store.read(source)).toBe('now-here');
    expect(server.accessCount(missing)).toBe(2);
  });

  it('a function without Secret Manager access refuses _VERSION secrets, naming the setting', async () => {
    const store = createSecretStore({});
    await expect(store.read(keysetSource(VERSION))).rejects.toMatchObject({
      code: 'secret_unavailable',
      message: expect.stringContaining('TOKEN_KEYSET_VERSION') as unknown,
    });
  });
});

describe('runtime start-up', () => {
  it('a keyset from Secret Manager loads once and seals', async () => {
    const version = 'projects/p/secrets/good/versions/1';
    server.setVersion(version, generateKeysetJson('k1'));
    const runtime = createRuntime({
      config: loadConfig(
        { ...BASE, TOKEN_KEYSET_VERSION: version, SECRET_MANAGER_ENDPOINT: server.url },
        { tokenKeyset: true },
      ),
      services: { secretManager: secretManagerAccessor },
      sink: () => {},
    });
    const [a, b] = await Promise.all([runtime.keys('token'), runtime.keys('cookie')]);
    expect(a.primaryId).toBe('k1');
    expect(b.primaryId).toBe('k1');
    // One master keyset, read once, derives both purposes' (different) keys.
    expect(a.keys.get('k1')).not.toEqual(b.keys.get('k1'));
    expect(server.accessCount(version)).toBe(1);
  });

  it('a malformed keyset fails with a ConfigError naming TOKEN_KEYSET_VERSION', async () => {
    const version = 'projects/p/secrets/malformed/versions/1';
    const material = 'c2hvcnQta2V5LW1hdGVyaWFs';
    server.setVersion(version, JSON.stringify({ primary: 'k1', keys: { k1: material } }));
    const runtime = createRuntime({
      config: loadConfig(
        { ...BASE, TOKEN_KEYSET_VERSION: version, SECRET_MANAGER_ENDPOINT: server.url },
        { tokenKeyset: true },
      ),
      services: { secretManager: secretManagerAccessor },
      sink: () => {},
    });
    const error = await runtime.keys('token').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(1);
    expect((error as ConfigError).problems[0]).toMatch(
      /^TOKEN_KEYSET_VERSION: token keyset key "k1"/,
    );
    expect((error as ConfigError).message).not.toContain(material);
  });

  it('runtimeFromEnvironment stops the instance (exit 78) and logs the setting, not the key', async () => {
    const version = 'projects/p/secrets/broken/versions/2';
    server.setVersion(version, '{"primary":"k1","keys":{"k1":"bm90LTMyLWJ5dGVz"}}');
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as never);
    runtimeFromEnvironment(
      { ...BASE, TOKEN_KEYSET_VERSION: version, SECRET_MANAGER_ENDPOINT: server.url },
      { tokenKeyset: true },
      { secretManager: secretManagerAccessor },
    );
    await vi.waitFor(() => expect(exit).toHaveBeenCalled(), { timeout: 10_000 });
    expect(exit).toHaveBeenCalledWith(78);
    const text = lines.join('');
    expect(text).toContain('TOKEN_KEYSET_VERSION');
    expect(text).not.toContain('bm90LTMyLWJ5dGVz');
  });

  it('runtimeFromEnvironment stops on a malformed setting before any read', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation(() => {
      throw new Error('exit');
    });
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as never);
    expect(() =>
      runtimeFromEnvironment(
        { ...BASE, TOKEN_KEYSET_VERSION: 'projects/p/secrets/s' },
        { tokenKeyset: true },
      ),
    ).toThrow('exit');
    expect(exit).toHaveBeenCalledWith(78);
    expect(lines.join('')).toContain(
      'TOKEN_KEYSET_VERSION: must be projects/PROJECT/secrets/NAME/versions/NUMBER',
    );
  });
});
