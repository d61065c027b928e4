// npm run connections [-- --state active|needs-reconnect|revoke-pending|revoked] [--limit N]
// Lists connections with state, scopes and last run outcome, paging with a cursor. Only a
// projection of non-secret fields is read: no token ever leaves Firestore.
import { parseArgs } from 'node:util';
import { FieldPath } from '@google-cloud/firestore';
import { table } from '../../shared/runs/report.ts';
import { CONNECTIONS, type StoredConnection } from '../../shared/store/connection/document.ts';
import { cliEnv, cliFirestore } from './cli-env.ts';

const STATES = ['active', 'needs-reconnect', 'revoke-pending', 'revoked'];
const { values } = parseArgs({
  options: { state: { type: 'string' }, limit: { type: 'string', default: '1000' } },
});
const limit = Number(values.limit);
if ((values.state !== undefined && !STATES.includes(values.state)) || !(limit > 0)) {
  console.error(`usage: npm run connections [-- --state ${STATES.join('|')}] [--limit N]`);
  process.exit(2);
}
const FIELDS = ['email', 'state', 'scopes', 'reconnectReason', 'lastRun', 'updatedAt'] as const;
type Row = Pick<StoredConnection, (typeof FIELDS)[number]>;

const db = await cliFirestore(cliEnv());
try {
  const rows: string[][] = [];
  let cursor: string | undefined;
  while (rows.length < limit) {
    let query = db
      .collection(CONNECTIONS)
      .orderBy(FieldPath.documentId())
      .select(...FIELDS);
    if (values.state) query = query.where('state', '==', values.state);
    if (cursor !== undefined) query = query.startAfter(cursor);
    const page = await query.limit(Math.min(500, limit - rows.length)).get();
    for (const doc of page.docs) {
      const data = doc.data() as Row;
      rows.push([
        doc.id,
        data.email ?? '-',
        data.state + (data.reconnectReason ? ` (${data.reconnectReason})` : ''),
        (data.scopes ?? []).map(shortScope).join(' ') || '-',
        data.lastRun ? `${data.lastRun.outcome} @ ${data.lastRun.runId}` : '-',
      ]);
    }
    if (page.size === 0) break;
    cursor = page.docs[page.docs.length - 1]?.id;
  }
  console.log(table(['sub', 'email', 'state', 'scopes', 'last run'], rows));
  console.log(`\n${rows.length} connection(s)`);
} finally {
  await db.terminate();
}

function shortScope(scope: string): string {
  return scope.replace('https://www.googleapis.com/auth/', '');
}
