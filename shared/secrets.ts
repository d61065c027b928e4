// Reads secrets from their source, once per instance. The Secret Manager client (~150 ms to load
// and construct, platform-facts.md) is imported only when a `_VERSION` setting asks for it; the
// recommended production path is `--set-secrets`, which costs nothing at cold start.
import { readFile } from 'node:fs/promises';
import type { SecretSource } from './config.ts';
import { AppError } from './errors.ts';
import { registerSecretValue } from './log.ts';

export interface SecretStore {
  read(source: SecretSource): Promise<string>;
  /** How many times a secret backend (Secret Manager or file) was actually read. */
  readonly backendReads: number;
}

export interface SecretStoreOptions {
  /** Secret Manager API endpoint override (e.g. http://127.0.0.1:PORT for a local server). */
  readonly secretManagerEndpoint?: string | undefined;
}

export function createSecretStore(options: SecretStoreOptions = {}): SecretStore {
  const cache = new Map<string, Promise<string>>();
  let backendReads = 0;
  let accessor: Promise<(name: string) => Promise<string>> | undefined;

  const fetchSecret = async (source: SecretSource): Promise<string> => {
    switch (source.kind) {
      case 'value':
        return source.value.reveal();
      case 'file':
        backendReads += 1;
        try {
          return (await readFile(source.path, 'utf8')).trim();
        } catch (error) {
          throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
            cause: error,
            detail: `${source.setting}: cannot read ${source.path}`,
          });
        }
      case 'secret-manager': {
        backendReads += 1;
        accessor ??= secretManagerAccessor(options.secretManagerEndpoint);
        return (await accessor)(source.name);
      }
    }
  };

  return {
    read(source) {
      const key = `${source.kind}:${source.setting}`;
      let pending = cache.get(key);
      if (!pending) {
        pending = fetchSecret(source).then((value) => {
          registerSecretValue(value);
          return value;
        });
        // A failed read is not cached: the next request tries again.
        pending.catch(() => cache.delete(key));
        cache.set(key, pending);
      }
      return pending;
    },
    get backendReads() {
      return backendReads;
    },
  };
}

async function secretManagerAccessor(
  endpoint: string | undefined,
): Promise<(name: string) => Promise<string>> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  let client: InstanceType<typeof SecretManagerServiceClient>;
  if (endpoint === undefined) {
    client = new SecretManagerServiceClient();
  } else {
    // A local server speaking the REST fallback protocol (tests). It needs an auth client
    // that yields headers; an OAuth2Client with a static token does.
    const { OAuth2Client } = await import('google-auth-library');
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'local', expiry_date: Date.now() + 365 * 86400e3 });
    const url = new URL(endpoint);
    client = new SecretManagerServiceClient({
      apiEndpoint: url.hostname,
      port: Number(url.port),
      protocol: url.protocol.replace(':', ''),
      fallback: true,
      authClient,
    } as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
  }
  return async (name) => {
    try {
      const [version] = await client.accessSecretVersion({ name });
      const data = version.payload?.data;
      if (data === undefined || data === null) throw new Error('empty payload');
      return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    } catch (error) {
      throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
        cause: error,
        detail: `cannot access secret version ${name}`,
      });
    }
  };
}
