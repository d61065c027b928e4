// Reads secrets from their source, once per instance. The Secret Manager client, slow to load and
// construct (docs/google-behaviours.md#secrets-at-start-up), is injected
// (shared/secrets/secret-manager.ts) and loaded only when a `_VERSION` setting asks for it; the
// recommended production path is `--set-secrets`, which costs nothing at cold start.
import { readFile } from 'node:fs/promises';
import type { SecretSource } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import { registerSecretValue } from '../log.ts';

export interface SecretStore {
  read(source: SecretSource): Promise<string>;
  /** How many times a secret backend (Secret Manager or file) was actually read. */
  readonly backendReads: number;
}

/** Reads one Secret Manager version's payload as text. */
export type SecretAccessor = (name: string) => Promise<string>;

export interface SecretStoreOptions {
  /** Secret Manager API endpoint override (e.g. http://127.0.0.1:PORT for a local server). */
  readonly secretManagerEndpoint?: string | undefined;
  /**
   * Loads the Secret Manager client. Functions that must stay free of Google client libraries
   * (authorize) pass none and accept secrets only through --set-secrets.
   */
  readonly loadSecretManager?:
    ((endpoint: string | undefined) => Promise<SecretAccessor>) | undefined;
}

export function createSecretStore(options: SecretStoreOptions = {}): SecretStore {
  const cache = new Map<string, Promise<string>>();
  let backendReads = 0;
  let accessor: Promise<SecretAccessor> | undefined;

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
        const load = options.loadSecretManager;
        if (load === undefined)
          throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
            detail: `${source.setting}: this function reads secrets only from --set-secrets environment variables`,
          });
        accessor ??= load(options.secretManagerEndpoint);
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
