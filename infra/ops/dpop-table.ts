// The DPoP part of rotate-keys --status and security-status: the mode, each DPoP key with where
// it lives (a Cloud KMS key version or a DPOP_KEYS id, the primary marked), and the connections
// whose refresh token is bound to it. A bound key that is no longer configured is named: those
// tokens cannot refresh (docs/security.md#dpop). Public keys and thumbprints only.
import type { Firestore } from '@google-cloud/firestore';
import { dpopBindings } from '../../shared/keys/rotation.ts';
import type { DpopKeys } from '../../shared/oauth/dpop.ts';
import { table } from '../../shared/runs/report.ts';
import { cliDpopKeys } from './cli-dpop.ts';
import type { Env } from './cli-keyset.ts';

export async function dpopTable(db: Firestore, env: Env): Promise<string> {
  const bindings = await dpopBindings(db);
  let problem: string | undefined;
  const dpop = await cliDpopKeys(env).catch((error: unknown) => {
    problem = `cannot read the DPoP keys: ${error instanceof Error ? error.message : String(error)}`;
    return undefined;
  });
  const lines = [`mode: ${problem ?? modeOf(dpop)}`];
  const jkts = [...new Set([...(dpop?.jkts ?? []), ...bindings.keys()])];
  lines.push(
    jkts.length === 0
      ? 'no key configured and no connection bound'
      : table(
          ['key thumbprint (jkt)', 'where', 'bound connections'],
          jkts.map((jkt) => [
            jkt,
            dpop === undefined
              ? '? (set DPOP_KMS_KEYS or DPOP_KEYS to name it)'
              : `${dpop.labelOf(jkt) ?? 'not configured: these tokens cannot refresh'}${jkt === dpop.primaryJkt ? ' (primary)' : ''}`,
            String(bindings.get(jkt) ?? 0),
          ]),
        ),
  );
  return lines.join('\n');
}

function modeOf(dpop: DpopKeys | undefined): string {
  if (dpop === undefined) return 'off here (DPOP_KMS_KEYS and DPOP_KEYS unset)';
  return dpop.labelOf(dpop.primaryJkt)?.startsWith('DPOP_KMS_KEYS')
    ? 'Cloud KMS (the private key never leaves KMS)'
    : 'Secret Manager keys (DPOP_KEYS)';
}
