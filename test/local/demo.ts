// npm run demo [-- --users 25]: the main job, end to end, on local defaults. Starts the emulators,
// the Google stand-in and every function; connects demo users through the real authorize and
// callback functions (scripted consent, no browser); has a few of them remove access at "Google"
// and one uncheck the Drive permission; triggers a run through Pub/Sub as Cloud Scheduler would;
// shows progress; prints the run report and where the exports landed; unsubscribes one user
// through the signed link; then stops everything it started. Exits non-zero if the outcome is
// not what the story says.
import { parseArgs } from 'node:util';
import { parseKeyset } from '../../shared/crypto/keyset.ts';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import {
  formatRunReport,
  isRunFinished,
  readRunReport,
  type RunReport,
} from '../../shared/runs/report.ts';
import { publishTick } from '../../shared/runs/trigger.ts';
import { createFirestore } from '../../shared/store/firestore.ts';
import type { StoredConnection } from '../../shared/store/connection/document.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { readFile } from 'node:fs/promises';
import { UserAgent } from '../support/user-agent.ts';
import { startLocalStack, type LocalStack } from './stack.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '25' },
    'removed-at-google': { type: 'string', default: '3' },
    verbose: { type: 'boolean', default: false },
  },
});
const users = Number(values.users);
const removed = Number(values['removed-at-google']);
if (
  !Number.isInteger(users) ||
  users < 3 ||
  users > 5000 ||
  !Number.isInteger(removed) ||
  removed < 0 ||
  removed > users - 2
) {
  console.error('usage: npm run demo [-- --users 3..5000] [--removed-at-google N]');
  process.exit(2);
}

const problems: string[] = [];
const events: Array<Record<string, unknown>> = [];
const errorLines: string[] = [];
const step = (text: string) => console.log(`\n▶ ${text}`);

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index] as T);
      }
    }),
  );
  return results;
}

let stack: LocalStack | undefined;
const interrupt = () => void (stack?.stop() ?? Promise.resolve()).then(() => process.exit(130));
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

try {
  step('Starting the Firestore and Pub/Sub emulators, the Google stand-in and the functions');
  stack = await startLocalStack({
    appName: 'Consent Vault demo',
    onLog: (fn, line) => {
      if (values.verbose) console.log(`  [${fn}] ${line}`);
      else if (/"severity":"ERROR"/.test(line)) errorLines.push(`[${fn}] ${line}`);
    },
    onEvent: (event) => events.push(event),
  });
  const { standIn, urls } = stack;
  console.log(`  functions: ${stack.functions.map((fn) => `${fn} ${urls[fn]}`).join(', ')}`);
  console.log(`  Google stand-in: ${urls.standIn}`);

  step(`Connecting ${users} demo users through authorize → Google consent → callback`);
  const emails = Array.from(
    { length: users },
    (_, i) => `demo-user-${String(i + 1).padStart(3, '0')}@example.com`,
  );
  const unchecker = emails[emails.length - 1] as string;
  const outcomes = await mapLimit(emails, 8, async (email) => {
    const grant = email === unchecker ? ['openid', 'email'] : undefined;
    const hops = await new UserAgent().connect(urls.authorize ?? '', {
      email,
      ...(grant ? { grant } : {}),
    });
    return hops.at(-1)?.status ?? 0;
  });
  const connected = outcomes.filter((status) => status === 303).length;
  console.log(
    `  ${connected} connected; ${unchecker} unchecked the Drive permission and got: ${outcomes.at(-1)} "A permission is missing"`,
  );
  if (connected !== users - 1) problems.push(`expected ${users - 1} connections, got ${connected}`);

  const db = await createFirestore({
    projectId: stack.env.GOOGLE_CLOUD_PROJECT ?? '',
    firestoreDatabase: '(default)',
    firestoreEmulatorHost: stack.firestore.hostPort,
  });
  const stored = await db.collection('connections').where('state', '==', 'active').get();
  console.log(
    `  Firestore: ${stored.size} active connections, refresh tokens sealed (e.g. ${String((stored.docs[0]?.data() as StoredConnection | undefined)?.refreshToken).slice(0, 24)}…)`,
  );

  const leavers = emails.slice(0, removed);
  step(`${removed} users remove the app's access in their Google Account`);
  for (const email of leavers) standIn.control.revokeUserGrant(email);
  console.log(`  ${leavers.join(', ')}`);

  step('Cloud Scheduler tick → Pub/Sub → dispatcher → work batches → worker');
  const publisher = pubsubPublisher({
    projectId: stack.env.GOOGLE_CLOUD_PROJECT ?? '',
    pubsubEmulatorHost: stack.pubsub?.hostPort,
  });
  const { runId } = await publishTick(
    publisher,
    stack.env.TICK_TOPIC ?? 'consent-vault-tick',
    Date.now(),
    Number(stack.env.RUN_PERIOD_SECONDS ?? 86400),
  );
  await publisher.close();
  console.log(`  run ${runId}`);
  const started = Date.now();
  let report: RunReport | undefined;
  let lastLine = '';
  for (;;) {
    report = await readRunReport(db, runId);
    const done = report ? Object.values(report.outcomes).reduce((sum, n) => sum + n, 0) : 0;
    const line = `  progress: ${report?.status ?? 'waiting'} · ${done}/${report?.users ?? '?'} users · ${report?.batchesDone ?? 0}/${report?.batches ?? '?'} batches`;
    // A terminal gets one updating line; a log gets a line per change.
    if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
    else if (line !== lastLine) console.log(line);
    lastLine = line;
    if (report && isRunFinished(report)) break;
    if (Date.now() - started > 300_000) {
      problems.push('the run did not finish within 5 minutes');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  if (report) console.log(formatRunReport(report).replace(/^/gm, '  '));

  step("Where the exports landed (the stand-in's Drive)");
  let exported = 0;
  for (const email of emails) {
    const files = standIn.control
      .driveFiles(email)
      .filter((file) => !file.mimeType.includes('folder'));
    exported += files.length;
    if (files.length > 1) problems.push(`${email} has ${files.length} export files for one period`);
  }
  const sample = emails[removed] as string;
  for (const file of standIn.control.driveFiles(sample))
    console.log(`  ${sample}: ${file.path} (${file.mimeType}, ${file.size} bytes)`);
  const firstExport = standIn.control
    .driveFiles(sample)
    .find((file) => !file.mimeType.includes('folder'));
  if (firstExport)
    console.log(
      firstExport.content
        .split('\n')
        .slice(0, 4)
        .map((line) => `    | ${line}`)
        .join('\n'),
    );
  console.log(`  ${exported} export files in all`);
  const expectedExports = users - 1 - removed;
  if (exported !== expectedExports)
    problems.push(`expected ${expectedExports} exports, found ${exported}`);

  const needsReconnect = await db
    .collection('connections')
    .where('state', '==', 'needs-reconnect')
    .get();
  console.log(
    `  ${needsReconnect.size} connections need a reconnect (their access was removed at Google): their dead tokens are destroyed`,
  );
  if (needsReconnect.size !== removed)
    problems.push(`expected ${removed} needs-reconnect, got ${needsReconnect.size}`);

  step('One user unsubscribes through the signed link in an email');
  const keyset = parseKeyset(await readFile(stack.env.TOKEN_KEYSET_FILE ?? '', 'utf8'));
  const unsubscriber = standIn.control.grants(sample)[0]?.sub ?? '';
  const link = createUnsubscribeLink(
    keyset.forPurpose('link'),
    urls.revoke ?? '',
    unsubscriber,
    Date.now() + 86400e3,
  );
  console.log(`  link: ${link.replace(/s=[^&]+/, 's=…')}`);
  const agent = new UserAgent();
  const confirm = await agent.request(link);
  console.log(
    `  GET  → ${confirm.status} "Disconnect your Google account?" (a link scanner prefetching it changes nothing)`,
  );
  const form = new URLSearchParams(new URL(link).searchParams);
  const done = await agent.request(urls.revoke ?? '', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const after = (await db.doc(`connections/${unsubscriber}`).get()).data();
  console.log(
    `  POST → ${done.status} "You are unsubscribed"; stored: ${JSON.stringify(Object.keys(after ?? {}).sort())}, state ${String(after?.state)}`,
  );
  console.log(`  at Google: ${standIn.control.grants(sample).length} grants left for ${sample}`);
  if (after?.state !== 'revoked' || 'refreshToken' in (after ?? {}))
    problems.push('the unsubscribed user still has stored tokens');

  await new Promise((resolve) => setTimeout(resolve, 500));
  step('Connection events published for the app (events topic)');
  const byType = new Map<string, number>();
  for (const event of events)
    byType.set(String(event.type), (byType.get(String(event.type)) ?? 0) + 1);
  console.log(`  ${[...byType].map(([type, count]) => `${type}: ${count}`).join(', ') || 'none'}`);
  await db.terminate();
  if (errorLines.length > 0) {
    console.log(`\n  ${errorLines.length} ERROR log lines from the functions:`);
    for (const line of errorLines.slice(0, 5)) console.log(`  ${line.slice(0, 300)}`);
  }
} catch (error) {
  problems.push(error instanceof Error ? error.message : String(error));
} finally {
  step('Stopping everything the demo started');
  await stack?.stop();
}

if (problems.length > 0) {
  console.error(`\nThe demo did not go as expected:\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}
console.log(
  '\nDone: every connected user has exactly one export for today, dead grants were caught, and the unsubscribe left nothing behind.',
);
process.exit(0);
