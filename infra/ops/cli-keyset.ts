// The token keyset for the operator CLIs that sign links, read like the functions read it:
// TOKEN_KEYSET, TOKEN_KEYSET_VERSION (Secret Manager) or TOKEN_KEYSET_FILE; without any, the
// local stack's .local/token-keyset.json.
import { parseKeyset, type Keyset } from '../../shared/crypto/keyset.ts';
import { secretManagerAccessor } from '../../shared/secrets/secret-manager.ts';
import { createSecretStore } from '../../shared/secrets/secret-store.ts';
import { Secret } from '../../shared/secrets/secret-value.ts';
import type { SecretSource } from '../../shared/settings/config.ts';

export async function cliKeyset(env: NodeJS.ProcessEnv): Promise<Keyset> {
  const source: SecretSource = env.TOKEN_KEYSET
    ? { kind: 'value', setting: 'TOKEN_KEYSET', value: new Secret(env.TOKEN_KEYSET) }
    : env.TOKEN_KEYSET_VERSION
      ? { kind: 'secret-manager', setting: 'TOKEN_KEYSET_VERSION', name: env.TOKEN_KEYSET_VERSION }
      : {
          kind: 'file',
          setting: 'TOKEN_KEYSET_FILE',
          path: env.TOKEN_KEYSET_FILE ?? '.local/token-keyset.json',
        };
  const secrets = createSecretStore({ loadSecretManager: secretManagerAccessor });
  return parseKeyset(await secrets.read(source));
}
