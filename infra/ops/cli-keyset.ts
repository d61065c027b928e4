// A keyset for the operator CLIs, read like the functions read it: NAME, NAME_VERSION (Secret
// Manager) or NAME_FILE for the purpose's own setting (LINK_KEYSET, CONNECT_KEYSET, …), else the
// same forms of TOKEN_KEYSET; without any, the local stack's .local/token-keyset.json. A keyset
// wrapped by Cloud KMS is unwrapped (KMS_ENDPOINT for a local KMS).
import { parseKeyset, type Keyset } from '../../shared/crypto/keyset.ts';
import { unwrapKeyset, wrappedKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { secretManagerAccessor } from '../../shared/secrets/secret-manager.ts';
import { createSecretStore } from '../../shared/secrets/secret-store.ts';
import { Secret } from '../../shared/secrets/secret-value.ts';
import type { SecretSource } from '../../shared/settings/config.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export function sourceOf(env: Env, setting: string): SecretSource | undefined {
  const value = env[setting];
  const version = env[`${setting}_VERSION`];
  const file = env[`${setting}_FILE`];
  if (value) return { kind: 'value', setting, value: new Secret(value) };
  if (version) return { kind: 'secret-manager', setting: `${setting}_VERSION`, name: version };
  if (file) return { kind: 'file', setting: `${setting}_FILE`, path: file };
  return undefined;
}

export async function cliKeyset(env: Env, setting = 'TOKEN_KEYSET'): Promise<Keyset> {
  const source = sourceOf(env, setting) ??
    sourceOf(env, 'TOKEN_KEYSET') ?? {
      kind: 'file',
      setting: 'TOKEN_KEYSET_FILE',
      path: '.local/token-keyset.json',
    };
  const stored = await cliSecrets(env).read(source);
  const wrapped = wrappedKeyset(stored);
  return parseKeyset(
    wrapped ? await unwrapKeyset(await kmsKeyWrapper(env.KMS_ENDPOINT), wrapped) : stored,
  );
}

/** Reads secrets as the functions do (Secret Manager through SECRET_MANAGER_ENDPOINT locally). */
export function cliSecrets(env: Env) {
  return createSecretStore({
    secretManagerEndpoint: env.SECRET_MANAGER_ENDPOINT,
    loadSecretManager: secretManagerAccessor,
  });
}
