// npm run demo [-- --users 25] [--jobs drive-export,sheets-read,drive-list]: the main job, end to
// end, on local defaults. Starts the emulators, the Google stand-in and every function; connects
// demo users through the real authorize and callback functions (scripted consent, no browser);
// has a few of them remove access at "Google" and one uncheck the permission; triggers a run
// through Pub/Sub as Cloud Scheduler would and prints its report and where the exports landed.
// Then (by default) the app enables sheets-read: a redeploy with a new JOBS. The next run keeps
// everyone's export going while sheets-read waits for consent; a few users give the incremental
// consent and the app picks their spreadsheet through the settings API, and the run after that
// reads it for them. One user unsubscribes through the signed link; everything started is
// stopped. Exits non-zero if the outcome is not what the story says.
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
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserAgent } from '../support/user-agent.ts';
import { LOCAL_SERVICE_CALLER, ROOT, startLocalStack, type LocalStack } from './stack.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '25' },
    'removed-at-google': { type: 'string', default: '3' },
    jobs: { type: 'string', default: 'drive-export' },
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
  console.error('usage: npm run demo [-- --users 3..5000] [--removed-at-google N] [--jobs a,b,…]');
  process.exit(2);
}

const startJobs = values.jobs.split(',').map((name) => name.trim());
/** The default story enables sheets-read after the first run; with it from the start, no redeploy. */
const addsSheetsLater = !startJobs.includes('sheets-read');
const SHEETS_READERS = 3;

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
    env: { JOBS: startJobs.join(',') },
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
  // Google's Cross-Account Protection pushes tokens-revoked to the risc function at once.
  for (const email of leavers) {
    const sub = standIn.control.grants(email)[0]?.sub ?? '';
    const removedAt = Date.now();
    standIn.control.revokeUserGrant(email);
    const delivery = (await standIn.control.riscSettled()).at(-1);
    const state = (await db.doc(`connections/${sub}`).get()).get('state') as string | undefined;
    console.log(
      `  ${email}: Google sent tokens-revoked → risc answered ${delivery?.status}; connection ${state} after ${Date.now() - removedAt} ms`,
    );
    if (state !== 'needs-reconnect')
      problems.push(`${email} was not disconnected by the security event`);
  }

  const publisher = pubsubPublisher({
    projectId: stack.env.GOOGLE_CLOUD_PROJECT ?? '',
    pubsubEmulatorHost: stack.pubsub?.hostPort,
  });
  const day = 86400e3;
  const firstDay = Date.now();
  /** A tick as Cloud Scheduler publishes it, for the given day; its report once it finished. */
  const runDay = async (at: number): Promise<RunReport | undefined> => {
    const { runId } = await publishTick(
      publisher,
      stack!.env.TICK_TOPIC ?? 'consent-vault-tick',
      at,
      Number(stack!.env.RUN_PERIOD_SECONDS ?? 86400),
    );
    console.log(`  run ${runId}`);
    const started = Date.now();
    let report: RunReport | undefined;
    let lastLine = '';
    for (;;) {
      report = await readRunReport(db, runId);
      const line = `  progress: ${report?.status ?? 'waiting'} · ${report?.recorded ?? 0}/${report?.users ?? '?'} users · ${report?.batches ?? '?'} batches`;
      // A terminal gets one updating line; a log gets a line per change.
      if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
      else if (line !== lastLine) console.log(line);
      lastLine = line;
      if (report && isRunFinished(report)) break;
      if (Date.now() - started > 300_000) {
        problems.push(`run ${runId} did not finish within 5 minutes`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    if (process.stdout.isTTY) process.stdout.write('\n');
    if (report) console.log(formatRunReport(report).replace(/^/gm, '  '));
    return report;
  };
  const jobCount = (report: RunReport | undefined, job: string, outcome: string) =>
    report?.jobs[job]?.[outcome] ?? 0;

  step('Cloud Scheduler tick → Pub/Sub → dispatcher → work batches → worker');
  const first = await runDay(firstDay);
  const active = users - 1 - removed;
  if (jobCount(first, 'drive-export', 'ok') !== active)
    problems.push(
      `expected ${active} exports in the first run, got ${jobCount(first, 'drive-export', 'ok')}`,
    );

  step("Where the exports landed (the stand-in's Drive)");
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

  const needsReconnect = await db
    .collection('connections')
    .where('state', '==', 'needs-reconnect')
    .get();
  console.log(
    `  ${needsReconnect.size} connections need a reconnect (their access was removed at Google): their dead tokens are destroyed`,
  );
  if (needsReconnect.size !== removed)
    problems.push(`expected ${removed} needs-reconnect, got ${needsReconnect.size}`);

  const jobsNow = addsSheetsLater ? [...startJobs, 'sheets-read'] : startJobs;
  if (addsSheetsLater) {
    step('The app enables sheets-read (a redeploy with JOBS=' + jobsNow.join(',') + ')');
    await stack.reconfigure({ JOBS: jobsNow.join(',') });
    const second = await runDay(firstDay + day);
    console.log(
      `  exports went on for everyone (${jobCount(second, 'drive-export', 'ok')}); sheets-read waits for consent (${jobCount(second, 'sheets-read', 'needs-consent')})`,
    );
    if (jobCount(second, 'drive-export', 'ok') !== active)
      problems.push('a new job with a new scope stopped some exports');
    if (jobCount(second, 'sheets-read', 'needs-consent') !== active)
      problems.push(`expected ${active} users waiting for the sheets-read consent`);
  }

  const readers = emails.slice(removed, removed + SHEETS_READERS);
  step(
    `${readers.length} users ${addsSheetsLater ? 'give the incremental consent (authorize?jobs=sheets-read) and ' : ''}pick a spreadsheet; the app sets it (POST …/settings)`,
  );
  const callerToken = standIn.control.mintServiceAccountIdToken({
    email: LOCAL_SERVICE_CALLER,
    audience: stack.env.REVOKE_URL ?? '',
  });
  for (const email of readers) {
    if (addsSheetsLater) {
      const consent = new URL(urls.authorize ?? '');
      consent.searchParams.set('jobs', 'sheets-read');
      const hops = await new UserAgent().connect(consent.toString(), { email });
      if (hops.at(-1)?.status !== 303) problems.push(`${email}: incremental consent failed`);
    }
    const { spreadsheetId } = standIn.control.seedSpreadsheet({
      email,
      title: 'Demo budget',
      sheets: {
        Sheet1: [
          ['month', 'amount'],
          ['jan', '120'],
          ['feb', '95'],
          ['mar', '143'],
        ],
      },
    });
    const sub = standIn.control.grants(email)[0]?.sub ?? '';
    const set = await fetch(new URL('settings', urls.revoke ?? ''), {
      method: 'POST',
      headers: { authorization: `Bearer ${callerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sub,
        job: 'sheets-read',
        settings: { spreadsheetId, range: 'Sheet1!A1:B10' },
      }),
    });
    if (set.status !== 200) problems.push(`${email}: settings refused (${set.status})`);
  }
  const grantsOfReader = standIn.control.grants(readers[0] ?? '')[0];
  console.log(
    `  ${readers[0]}: granted ${grantsOfReader?.scopes.map((scope) => scope.replace(/.*\//, '')).join(' ')}; live refresh tokens at Google: ${grantsOfReader?.liveRefreshTokens}`,
  );
  if (grantsOfReader?.liveRefreshTokens !== 1)
    problems.push('the incremental consent minted a refresh token');

  step('The next run: both jobs for them, the export for everyone');
  const third = await runDay(firstDay + 2 * day);
  if (jobCount(third, 'sheets-read', 'ok') !== readers.length)
    problems.push(
      `expected sheets-read to run for ${readers.length} users, got ${jobCount(third, 'sheets-read', 'ok')}`,
    );
  if (jobCount(third, 'drive-export', 'ok') !== active)
    problems.push('some exports stopped in the last run');
  const reader = (
    await db.doc(`connections/${standIn.control.grants(readers[0] ?? '')[0]?.sub}`).get()
  ).data() as StoredConnection | undefined;
  console.log(
    `  ${readers[0]}'s jobs: ${JSON.stringify(Object.fromEntries(Object.entries(reader?.jobs ?? {}).map(([job, state]) => [job, `${state.status} ${state.effect ?? ''} ${JSON.stringify(state.details ?? {})}`])))}`,
  );
  for (const email of emails) {
    const exports = standIn.control
      .driveFiles(email)
      .filter((file) => !file.mimeType.includes('folder'));
    if (new Set(exports.map((file) => file.name)).size !== exports.length)
      problems.push(`${email} has two export files for one day`);
  }
  await publisher.close();

  step('The operator rotates the token keys (npm run rotate-keys), then drops the old key');
  const keysetFile = stack.env.TOKEN_KEYSET_FILE ?? '';
  const rotateKeys = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/rotate-keys.ts', ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, TOKEN_KEYSET_FILE: keysetFile },
      },
    );
  const keysBefore = parseKeyset(await readFile(keysetFile, 'utf8')).keyIds;
  const rotation = rotateKeys();
  console.log(rotation.stdout.replace(/^/gm, '  ').trimEnd());
  if (rotation.status !== 0) problems.push(`rotate-keys failed: ${rotation.stderr.trim()}`);
  // The functions load the keyset at start-up: a restart (a redeploy) gives them the new key.
  await stack.reconfigure({});
  for (const old of keysBefore) {
    const dropped = rotateKeys('--drop', old);
    if (dropped.status !== 0) problems.push(`could not drop ${old}: ${dropped.stderr.trim()}`);
  }
  const status = rotateKeys('--status');
  console.log(status.stdout.replace(/^/gm, '  ').trimEnd());
  for (const old of keysBefore)
    if (new RegExp(`^${old} `, 'm').test(status.stdout))
      problems.push(`values are still sealed under ${old}`);

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
  '\nDone: every connected user got one export a day, adding sheets-read stopped no one, the users who consented got it, dead grants were caught, and the unsubscribe left nothing behind.',
);
process.exit(0);
