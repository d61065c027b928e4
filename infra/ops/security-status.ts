// npm run security-status: what an operator checks about key custody and Google's security
// signals, in one place (docs/operations.md#security-status):
//   - the token keyset's key ids and how many stored values each still seals (rotation progress);
//   - the DPoP mode, each DPoP key (where it lives) and the connections bound to it;
//   - the Cross-Account Protection stream (its receiver and status), when credentials are given;
//   - the last security events the risc function received, and the users they paused.
// Reads non-secret fields only.
import { keyUsage } from '../../shared/keys/rotation.ts';
import { SECURITY_EVENTS_COLLECTION } from '../../shared/risc/receiver.ts';
import { table } from '../../shared/runs/report.ts';
import { CONNECTIONS } from '../../shared/store/connection/document.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';
import { dpopTable } from './dpop-table.ts';
import { cliKeyset } from './cli-keyset.ts';
import { keyUsageTable } from './key-usage-table.ts';
import { operatorBearer, RISC_API_ROOT, riscApi } from './risc-stream.ts';

const env = cliEnv();
const db = await cliFirestore(env);
try {
  console.log('Token keys (values sealed per key id)');
  const usage = await keyUsage(db);
  const keyset = await cliKeyset(env).catch(() => undefined);
  console.log(keyUsageTable(keyset, usage).replace(/^/gm, '  '));

  console.log('\nDPoP: connections per key their refresh token is bound to');
  console.log((await dpopTable(db, env)).replace(/^/gm, '  '));

  console.log('\nCross-Account Protection stream');
  const bearer = await operatorBearer(env);
  if (bearer === undefined) console.log('  (set RISC_SERVICE_ACCOUNT_KEY_FILE to read it)');
  else {
    const status = await riscApi(env.RISC_API_ROOT ?? RISC_API_ROOT, bearer)
      .status()
      .catch((error: unknown) => ({ error: String(error) }));
    console.log(JSON.stringify(status, null, 2).replace(/^/gm, '  '));
  }

  console.log('\nLast security events received');
  const events = await db
    .collection(SECURITY_EVENTS_COLLECTION)
    .orderBy('receivedAt', 'desc')
    .limit(10)
    .get();
  console.log(
    table(
      ['received', 'event', 'user', 'outcome'],
      events.docs.map((doc) => [
        (doc.get('receivedAt') as { toDate(): Date }).toDate().toISOString(),
        String(doc.get('kind')),
        String(doc.get('sub') ?? '-'),
        String(doc.get('outcome') ?? 'in progress'),
      ]),
    ).replace(/^/gm, '  '),
  );
  const paused = await db.collection(CONNECTIONS).where('paused', '!=', null).count().get();
  console.log(
    `\n  ${paused.data().count} connection(s) paused because Google disabled the account`,
  );
} finally {
  await db.terminate();
}
