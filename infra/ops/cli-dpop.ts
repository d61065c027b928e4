// The DPoP keys for the operator CLIs, read like the functions read them: DPOP_KMS_KEYS (Cloud
// KMS key versions, KMS_ENDPOINT for a local KMS) and DPOP_KEYS, DPOP_KEYS_VERSION or
// DPOP_KEYS_FILE. Only public keys and where they live are used; nothing is signed.
import { loadDpopKeys, type DpopKeys } from '../../shared/oauth/dpop.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { cliSecrets, sourceOf, type Env } from './cli-keyset.ts';

/** The configured DPoP keys, or undefined when DPoP is off. */
export async function cliDpopKeys(env: Env): Promise<DpopKeys | undefined> {
  const versions = (env.DPOP_KMS_KEYS ?? '').split(',').filter((version) => version !== '');
  const source = sourceOf(env, 'DPOP_KEYS');
  if (versions.length === 0 && source === undefined) return undefined;
  return loadDpopKeys({
    secretJson: source ? await cliSecrets(env).read(source) : undefined,
    kms:
      versions.length === 0
        ? undefined
        : { signer: await kmsKeyWrapper(env.KMS_ENDPOINT), versions },
  });
}
