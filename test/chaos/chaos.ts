// npm run chaos [-- --users 500 --seed N --kills 3 --fault-rate 0.15 --latency 20]
// One scheduled run with everything going wrong at once, on the real parts: the worker is its own
// process behind the Pub/Sub emulator's push subscription and is SIGKILLed and restarted
// `--kills` times; a share of Google's token and Drive answers are 503/429 for the first part of
// the run; the tick is published twice; 5% of the users remove the app's access at Google, some
// unsubscribe (through the real revoke code) and some reconnect (through the callback's storing
// code) while the run is under way. Then it checks, from Firestore and the stand-in's Drive rather
// than from our own report, that every user ended as their last decision says, and that the
// report agrees with the ledger. Prints its seed; `--seed` replays the same choices and timings
// (the machine's scheduling still varies).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { storeConsent } from '../../shared/flows/consent-storage.ts';
import { revokeHandler } from '../../shared/flows/revoke.ts';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatcherHandler } from '../../shared/runs/handlers.ts';
import { readLedger, type LedgerEntry } from '../../shared/runs/ledger.ts';
import { isRunFinished, readRunReport, type RunReport } from '../../shared/runs/report.ts';
import { publishTick } from '../../shared/runs/trigger.ts';
import { openToken } from '../../shared/store/connection/document.ts';
import {
  expireAccessTokens,
  serveCloudEvent,
  startRunHarness,
  stopOwnEmulators,
  wirePubSub,
  type SeededUser,
} from '../runs/harness.ts';
import { freePort, stopChild } from '../support/emulators.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '500' },
    seed: { type: 'string' },
    kills: { type: 'string', default: '3' },
    'fault-rate': { type: 'string', default: '0.15' },
    latency: { type: 'string', default: '20' },
    'timeout-s': { type: 'string', default: '600' },
  },
});
const USERS = Number(values.users);
const SEED = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const KILLS = Number(values.kills);
const FAULT_RATE = Number(values['fault-rate']);
const CALLER = 'chaos-backend@demo-consent-vault.iam.gserviceaccount.com';
console.log(`chaos: seed ${SEED} (replay with --seed ${SEED}), ${USERS} users, ${KILLS} kills`);

/** mulberry32: a small seeded generator, so a seed replays every choice. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const faultRandom = prng(SEED ^ 0x5bd1e995);

const harness = await startRunHarness('chaos', {
  RUN_BATCH_SIZE: '25',
  WORKER_CONCURRENCY: '16',
  USER_BUDGET_SECONDS: '8',
  REVOKE_CALLERS: CALLER,
  LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'ERROR',
});
const { config } = harness.runtime;
const workerPort = await freePort();
let worker: ChildProcess | undefined;
const front = await startFront(workerPort);
const dispatcher = await serveCloudEvent(dispatcherHandler(() => harness.deps()));
const events: Record<string, unknown>[] = [];
const wiring = await wirePubSub(
  harness,
  { dispatcher: dispatcher.url, worker: front.url },
  { ackDeadlineSeconds: 10, onEvent: (event) => events.push({ ...event, seenAt: Date.now() }) },
);
// Interrupted (Ctrl-C, a timeout): stop the worker and the emulators this run started.
const interrupt = () =>
  void (async () => {
    worker?.kill('SIGKILL');
    await stopOwnEmulators();
    process.exit(130);
  })();
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

async function retried<T>(attempt: () => Promise<T>, times = 8): Promise<T> {
  for (let tries = 1; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= times) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * The worker's front door, as Cloud Run's is: it stays up while instances die and start, holds
 * the pushes that arrive meanwhile until an instance listens, and answers 503 for a request the
 * dying instance took down with it.
 */
const frontStats = { held: 0, failed: 0 };

async function startFront(port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const attempt = (tries: number) => {
        const upstream = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: incoming.method,
            path: incoming.url,
            headers: incoming.headers,
          },
          (answer) => {
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
          },
        );
        // A push Pub/Sub has given up on (past its ack deadline) is redelivered anyway.
        upstream.setTimeout(120_000, () => upstream.destroy(new Error('upstream timeout')));
        upstream.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code === 'ECONNREFUSED' && tries < 300) {
            frontStats.held += tries === 0 ? 1 : 0;
            setTimeout(() => attempt(tries + 1), 100);
            return;
          }
          frontStats.failed += 1;
          if (!outgoing.headersSent) outgoing.writeHead(503).end();
          else outgoing.destroy();
        });
        upstream.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Where a run that does not finish is stuck: batches with users left, leases still held. */
async function printStuck(runId: string): Promise<void> {
  const batches = await harness.db.collection(`runs/${runId}/batches`).get();
  const run = (await harness.db.doc(`runs/${runId}`).get()).data() as
    { status: string; batches: number } | undefined;
  console.log(`  run: ${JSON.stringify({ status: run?.status, batches: run?.batches })}`);
  console.log(`  front: ${JSON.stringify(frontStats)}`);
  console.log(
    `  batch summaries: ${batches.size} (${batches.docs.map((doc) => doc.id).join(' ')})`,
  );
  for (const doc of batches.docs) {
    const batch = doc.data() as { pending: number; attempt: number; outcomes: object };
    if (batch.pending > 0)
      console.log(`  ${doc.id}: pending ${batch.pending}, attempt ${batch.attempt}`);
  }
  const leased = await harness.db.collection('connections').where('refreshLease', '!=', null).get();
  console.log(`  connections with a lease held: ${leased.size}`);
}

function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['test/runs/worker-process.ts'], {
    env: { ...process.env, ...harness.env, PORT: String(workerPort) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (process.env.CHAOS_WORKER_LOG) appendFileSync(process.env.CHAOS_WORKER_LOG, chunk);
      if (chunk.toString().includes('worker ready')) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`worker exited: ${code ?? signal}`)));
  });
}

try {
  console.log('seeding…');
  const users = await harness.seedUsers(USERS, { concurrency: 32 });
  // Every user refreshes in this run: removed grants and token faults are met for real.
  await expireAccessTokens(
    harness.db,
    users.map((user) => user.sub),
  );
  const shuffled = [...users];
  for (let index = shuffled.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other]!, shuffled[index]!];
  }
  const share = (fraction: number) => Math.max(1, Math.round(USERS * fraction));
  const removed = shuffled.splice(0, share(0.05));
  const unsubscribed = shuffled.splice(0, share(0.03));
  const reconnected = shuffled.splice(0, share(0.03));
  const healthy = shuffled;
  type Action = { at: number; user: SeededUser; kind: 'remove' | 'unsubscribe' | 'reconnect' };
  const actions: Action[] = [
    ...removed.map((user) => ({ user, kind: 'remove' as const })),
    ...unsubscribed.map((user) => ({ user, kind: 'unsubscribe' as const })),
    ...reconnected.map((user) => ({ user, kind: 'reconnect' as const })),
  ]
    .map((action) => ({ ...action, at: random() * 0.8 }))
    .sort((a, b) => a.at - b.at);
  const kills = Array.from({ length: KILLS }, (_, index) => (index + 1) / (KILLS + 1))
    .map((at) => at + (random() - 0.5) * 0.1)
    .sort((a, b) => a - b);
  const acted = new Map<string, { kind: Action['kind']; at: number; token?: string }>();

  const revoke = revokeHandler(harness.runtime);
  const perform = async ({ user, kind }: Action) => {
    if (kind === 'remove') harness.standIn.control.revokeUserGrant(user.email);
    if (kind === 'unsubscribe') {
      const token = harness.standIn.control.mintServiceAccountIdToken({
        email: CALLER,
        audience: config.revokeUrl,
      });
      const answer = await revoke({
        method: 'POST',
        url: new URL(config.revokeUrl),
        headers: { authorization: `Bearer ${token}` },
        cookies: new Map(),
        form: undefined,
        json: { sub: user.sub },
      });
      check(answer.status === 200, `unsubscribe ${user.email} answered ${answer.status}`);
    }
    let token: string | undefined;
    if (kind === 'reconnect') {
      // The user's own consent meets the same faults; like a person, it tries again.
      const consent = await retried(() => harness.consentAtGoogle(user.email));
      const stored = await storeConsent(harness.runtime, {
        sub: consent.sub,
        email: user.email,
        grantedScopes: consent.scopes,
        refreshToken: consent.refreshToken,
        refreshTokenExpiresInSeconds: undefined,
        accessToken: consent.accessToken,
        accessTokenExpiresAt: Date.now() + consent.expiresIn * 1000,
      });
      check(stored.kind === 'written', `reconnect ${user.email} was not stored`);
      token = consent.refreshToken;
    }
    acted.set(user.sub, { kind, at: Date.now(), ...(token ? { token } : {}) });
  };

  harness.standIn.control.setLatency(Number(values.latency));
  harness.standIn.control.setFaultRate({
    rate: FAULT_RATE,
    endpoints: ['token', 'drive'],
    random: faultRandom,
  });
  worker = await startWorker();
  const started = Date.now();
  const publisher = pubsubPublisher(config);
  const scheduledAt = Date.parse('2026-11-22T06:00:00Z');
  const { runId } = await publishTick(publisher, config.pubsub.tickTopic, scheduledAt, 86400);
  // A duplicated tick (a retried Scheduler job): the same period, the same run.
  await publishTick(publisher, config.pubsub.tickTopic, scheduledAt + 1500, 86400);
  await publisher.close();
  const ledger = harness.db.collection(`runs/${runId}/ledger`);

  let killed = 0;
  let faultsOn = true;
  const until = started + Number(values['timeout-s']) * 1000;
  let finished: RunReport | undefined;
  for (;;) {
    const current = await readRunReport(harness.db, runId);
    if (current && isRunFinished(current)) {
      finished = current;
      break;
    }
    if (Date.now() > until) {
      await printStuck(runId);
      throw new Error(`run ${runId} did not finish in ${values['timeout-s']} s`);
    }
    const progress = (await ledger.count().get()).data().count / USERS;
    while (actions.length > 0 && actions[0]!.at <= progress) await perform(actions.shift()!);
    if (faultsOn && progress >= 0.4) {
      harness.standIn.control.setFaultRate(undefined);
      faultsOn = false;
    }
    if (killed < kills.length && progress >= kills[killed]!) {
      worker.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
      worker = await startWorker();
      killed += 1;
      console.log(`  worker killed at ${(progress * 100).toFixed(0)}% of users done, restarted`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (const action of actions) await perform(action);
  const wallMs = Date.now() - started;

  // ---- What really happened, from Firestore and the stand-in ----
  const entries = await readLedger(
    harness.db,
    runId,
    users.map((user) => user.sub),
  );
  const day = '2026-11-22';
  const exportsOf = (user: SeededUser) =>
    harness.standIn.control
      .driveFiles(user.email)
      .filter((file) => !file.trashed && file.name === `export-${day}.csv`);
  const keys = await harness.runtime.keys('token');
  const outcome = (user: SeededUser): LedgerEntry['outcome'] | undefined =>
    entries.get(user.sub)?.outcome;

  for (const user of healthy) {
    const stored = await harness.connection(user.sub);
    check(outcome(user) === 'ok', `healthy ${user.email}: ledger ${outcome(user)}`);
    check(exportsOf(user).length === 1, `healthy ${user.email}: ${exportsOf(user).length} exports`);
    check(stored.state === 'active', `healthy ${user.email}: ${stored.state}`);
    check(stored.refreshLease === null, `healthy ${user.email}: lease left held`);
  }
  for (const user of removed) {
    const stored = await harness.connection(user.sub);
    const at = acted.get(user.sub)!.at;
    // An export made before the user removed access stands (a later run finds the dead grant);
    // none may be made after it.
    const late = exportsOf(user).filter((file) => Date.parse(file.modifiedTime) > at);
    check(late.length === 0, `removed ${user.email}: exported after removing access`);
    check(exportsOf(user).length <= 1, `removed ${user.email}: ${exportsOf(user).length} exports`);
    if (outcome(user) !== 'ok') {
      check(stored.state === 'needs-reconnect', `removed ${user.email}: ${stored.state}`);
      check(stored.refreshToken === null, `removed ${user.email}: a dead token is still stored`);
    }
  }
  for (const user of unsubscribed) {
    const stored = await harness.connection(user.sub);
    const at = acted.get(user.sub)!.at;
    check(stored.state === 'revoked', `unsubscribed ${user.email}: ${stored.state}`);
    const late = exportsOf(user).filter((file) => Date.parse(file.modifiedTime) > at);
    check(late.length === 0, `unsubscribed ${user.email}: exported after unsubscribing`);
    const after = events.filter((event) => event.sub === user.sub && Number(event.seenAt) > at);
    check(
      after.every((event) => event.type === 'revoked'),
      `unsubscribed ${user.email}: events after unsubscribing: ${after.map((e) => String(e.type)).join()}`,
    );
    check(
      harness.standIn.control.grants(user.email).length === 0,
      `unsubscribed ${user.email}: grant alive`,
    );
  }
  for (const user of reconnected) {
    const stored = await harness.connection(user.sub);
    check(stored.state === 'active', `reconnected ${user.email}: ${stored.state}`);
    const token =
      stored.refreshToken === null
        ? null
        : openToken(keys, user.sub, 'refreshToken', stored.refreshToken);
    check(token === acted.get(user.sub)!.token, `reconnected ${user.email}: not their new token`);
    check(
      exportsOf(user).length <= 1,
      `reconnected ${user.email}: ${exportsOf(user).length} exports`,
    );
  }
  const fromLedger: Record<string, number> = {};
  for (const entry of entries.values())
    fromLedger[entry.outcome] = (fromLedger[entry.outcome] ?? 0) + 1;
  const sorted = (counts: Record<string, number>) =>
    JSON.stringify(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  check(finished.status === 'complete', `run ended ${finished.status}`);
  check(
    sorted(finished.outcomes) === sorted(fromLedger),
    `report ${sorted(finished.outcomes)} ≠ ledger ${sorted(fromLedger)}`,
  );
  check(entries.size === USERS, `${USERS - entries.size} users have no ledger entry`);
  const deadLetters = (await harness.db.collection('deadLetters').count().get()).data().count;
  check(deadLetters === 0, `${deadLetters} dead-lettered messages`);

  const stats = harness.standIn.control.stats();
  const injected = ['token', 'drive'].reduce(
    (sum, name) =>
      sum +
      (stats[name as 'token']?.byStatus['503'] ?? 0) +
      (stats[name as 'token']?.byStatus['429'] ?? 0),
    0,
  );
  console.log(`run ${runId}: ${finished.status} in ${(wallMs / 1000).toFixed(1)} s`);
  console.log(`  kills ${killed}, 503/429 answers injected ${injected}, duplicated tick`);
  console.log(
    `  worker front: ${frontStats.held} pushes held while restarting, ${frontStats.failed} lost with a killed instance`,
  );
  console.log(
    `  users: ${healthy.length} healthy, ${removed.length} removed access, ${unsubscribed.length} unsubscribed, ${reconnected.length} reconnected mid-run`,
  );
  console.log(`  ledger outcomes: ${sorted(fromLedger)}`);
  if (failures.length > 0) {
    console.log(`FAIL (seed ${SEED}): ${failures.length} problems`);
    for (const failure of failures.slice(0, 40)) console.log(`  - ${failure}`);
    process.exitCode = 1;
  } else console.log(`PASS (seed ${SEED})`);
} finally {
  if (worker) await stopChild(worker);
  await dispatcher.close();
  await front.close();
  await wiring.close();
  await harness.close();
  await stopOwnEmulators();
}
