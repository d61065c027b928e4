// npm run bench:run [-- --users 2000 --workers 1 --concurrency 16 --deliveries 4 --latency 50
//                       --naive-users 100 --batch-size 100 --heap-mb 128 --semi-mb 8 --cpu-prof DIR
//                       --dpop off|secret|kms --kms-latency 30 --quota Q --kills K]
// A full scheduled run on the local stack: real Firestore and Pub/Sub emulators, the dispatcher
// and --workers worker processes each under the functions-framework (push subscriptions; the
// workers behind one endpoint that routes like Cloud Run's front end), and the Google stand-in
// adding --latency ms to every Google call. A first run reaches the steady state; the next day's
// run is measured. Prints wall time against the ideal at the job's floor (users × 2 calls ×
// latency / (workers × concurrency)) and against the calls made, Firestore reads and writes per
// connection, secret-store reads, CPU per user, and peak RSS of each function. Then runs the same
// per-user code one user at a time on a sample and prints the speed-up. With --dpop, every
// refresh token is bound to a DPoP key (RFC 9449) and every refresh carries a proof: signed in
// process (secret) or by Cloud KMS's asymmetricSign (kms, the KMS stand-in adding --kms-latency ms
// to each call); the ideal then counts the signing time in each lane too.
import { fork, type ChildProcess } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { memoryPublisher, pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { createDriveExportJob } from '../../shared/jobs/builtin/drive-export.ts';
import { processUser } from '../../shared/runs/process-user.ts';
import { grpcConnectionBackend } from '../../shared/store/connection/grpc-backend.ts';
import { createConnectionRepository } from '../../shared/store/connection/repository.ts';
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import { runRef } from '../../shared/runs/ledger.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { formatRunReport } from '../../shared/runs/report.ts';
import { publishTick, waitForRunReport } from '../../shared/runs/trigger.ts';
import { WORKER_DELIVERIES } from '../../infra/deploy/resources.ts';
import { GOOGLE_ENDPOINT_NAMES } from '../standin/types.ts';
import { freePort, stopChild } from '../support/emulators.ts';
import { startInstanceRouter } from '../support/instance-router.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  wirePubSub,
} from '../runs/harness.ts';
import { startFakeKms, type FakeKms } from '../fakes/kms-server.ts';
import { purposeKeysetJson } from '../../shared/crypto/keyset.ts';
import { wrapKeyset } from '../../shared/crypto/wrapped-keyset.ts';
import { kmsKeyWrapper } from '../../shared/secrets/kms.ts';
import { generateDpopKeysJson } from '../../infra/deploy/dpop-keys.ts';
import { bundle, jobsPlugin } from '../../infra/build.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    /** Work messages the worker instance accepts at once (its Cloud Run concurrency). */
    deliveries: { type: 'string', default: String(WORKER_DELIVERIES) },
    latency: { type: 'string', default: '50' },
    'naive-users': { type: 'string', default: '100' },
    'batch-size': { type: 'string', default: '100' },
    /** V8 old-space cap of the dispatcher and worker processes (MB), as NODE_OPTIONS would set. */
    'heap-mb': { type: 'string', default: '128' },
    /** V8 young-generation semi-space (MB): 8 keeps the worker under 256 MB at N=10,000 (16 does not) at a small GC cost; much smaller makes GC dominate. */
    'semi-mb': { type: 'string', default: '8' },
    /** Writes V8 CPU profiles of the dispatcher and worker processes into DIR. */
    'cpu-prof': { type: 'string' },
    /** DPoP-bound refresh tokens: off, keys in a secret, or keys in Cloud KMS. */
    dpop: { type: 'string', default: 'off' },
    /** Latency of each Cloud KMS call (ms), as the KMS stand-in models it. */
    'kms-latency': { type: 'string', default: '30' },
    /** Worker processes (instances) behind the push subscription, as Cloud Run scales out. */
    workers: { type: 'string', default: '1' },
    /** A project-wide Google quota (calls per second over the token endpoint and Drive). */
    quota: { type: 'string' },
    /** Then one more run with this many worker kills (SIGKILL, restarted), against the same N. */
    kills: { type: 'string', default: '0' },
    /**
     * Who pushes work messages: a relay with a window of workers × deliveries, as Pub/Sub's push
     * window would allow, or the emulator's own push (two at a time).
     */
    push: { type: 'string', default: 'relay' },
    /** Runs the functions from their TypeScript sources rather than from a bundle as deployed. */
    sources: { type: 'boolean', default: false },
  },
});
const users = Number(values.users);
const concurrency = Number(values.concurrency);
const deliveries = Number(values.deliveries);
const latencyMs = Number(values.latency);
const naiveUsers = Math.min(users, Number(values['naive-users']));
const dpopMode = values.dpop;
if (dpopMode !== 'off' && dpopMode !== 'secret' && dpopMode !== 'kms')
  throw new Error(`--dpop must be off, secret or kms (got ${dpopMode})`);
const kmsLatencyMs = Number(values['kms-latency']);
const workerCount = Math.max(1, Number(values.workers));
const quota = values.quota === undefined ? undefined : Number(values.quota);
const kills = Math.max(0, Number(values.kills));
if (values.push !== 'relay' && values.push !== 'emulator')
  throw new Error('--push must be relay or emulator');
if (quota !== undefined && !(quota > 0)) throw new Error('--quota must be calls per second > 0');
/** The run's floor per user: the refresh, and drive-export's steady-state calls (docs/jobs.md#calls). */
const FLOOR_CALLS_PER_USER =
  1 + Object.values(createDriveExportJob().calls).reduce((sum, calls) => sum + calls, 0);
const ms = (value: number) => `${value.toFixed(0)} ms`;
const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const RUN_FUNCTION = path.resolve('test/bench/run-function.ts');
const BUNDLE_LOADER = path.resolve('test/bench/bundled-function.ts');
/** Under dist/ so that the external functions-framework resolves from the project's node_modules. */
const BUNDLED_RUN_FUNCTION = path.resolve('dist/bench/run-function.js');
const DPOP_KMS_VERSION =
  'projects/demo-bench/locations/global/keyRings/consent-vault/cryptoKeys/consent-vault-dpop/cryptoKeyVersions/1';

const dir = await mkdtemp(path.join(tmpdir(), 'cv-bench-'));
const kms: FakeKms = await startFakeKms({ latencyMs: kmsLatencyMs });
// The DPoP keys the functions (and the seeding and naive runs here) read.
const dpopFile = path.join(dir, 'dpop-keys.json');
const dpopEnv: Record<string, string> =
  dpopMode === 'secret'
    ? { DPOP_KEYS_FILE: dpopFile }
    : dpopMode === 'kms'
      ? { DPOP_KMS_KEYS: DPOP_KMS_VERSION }
      : {};
if (dpopMode === 'secret') await writeFile(dpopFile, generateDpopKeysJson(), { mode: 0o600 });
const harness = await startRunHarness('bench', {
  ...dpopEnv,
  KMS_ENDPOINT: kms.url,
  WORKER_CONCURRENCY: String(concurrency),
  RUN_BATCH_SIZE: values['batch-size'],
  USER_BUDGET_SECONDS: '300',
  LOG_LEVEL: 'WARNING',
});
const children: ChildProcess[] = [];
try {
  const dpop = await harness.runtime.dpopKeys();
  console.log(
    `seeding ${users} connections through scripted consent + code exchange${dpop ? ' (DPoP-bound)' : ''}…`,
  );
  const seedStart = Date.now();
  const seeded = await harness.seedUsers(users, { concurrency: 64, ...(dpop ? { dpop } : {}) });
  await expireAccessTokens(
    harness.db,
    seeded.map((user) => user.sub),
  );
  console.log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  // Secrets from files, so the secret store's backend reads are counted. The token keyset is
  // the deployed kind: the token purpose's keys, wrapped by (a local) Cloud KMS.
  const keysetFile = path.join(dir, 'keyset.json');
  const secretFile = path.join(dir, 'client-secret');
  await writeFile(
    keysetFile,
    await wrapKeyset(await kmsKeyWrapper(kms.url), {
      keysetJson: purposeKeysetJson(harness.env.TOKEN_KEYSET ?? '', 'token'),
      kmsKey: 'projects/demo-bench/locations/global/keyRings/consent-vault/cryptoKeys/token-keyset',
    }),
    { mode: 0o600 },
  );
  const kmsAtStart = kms.calls();
  const signsAtStart = kms.calls('asymmetricSign');
  await writeFile(secretFile, harness.env.OAUTH_CLIENT_SECRET ?? '', { mode: 0o600 });
  const base = { ...harness.env };
  delete base.TOKEN_KEYSET;
  delete base.OAUTH_CLIENT_SECRET;
  const env = {
    ...process.env,
    ...base,
    TOKEN_KEYSET_FILE: keysetFile,
    KMS_ENDPOINT: kms.url,
    OAUTH_CLIENT_SECRET_FILE: secretFile,
    ...dpopEnv,
  };
  if (!values.sources) {
    await bundle(RUN_FUNCTION, BUNDLED_RUN_FUNCTION, await jobsPlugin());
    await rm(`${BUNDLED_RUN_FUNCTION}.v8cache`, { force: true });
  }
  const dispatcherPort = await freePort();
  const dispatcher = await startFunction('dispatcher', dispatcherPort, env);
  const workerPorts = await Promise.all(Array.from({ length: workerCount }, () => freePort()));
  const workers = await Promise.all(
    workerPorts.map((port) => startFunction('worker', port, env, [String(deliveries)])),
  );
  // Cloud Run's front end: the push endpoint spreads deliveries over the instances.
  const router = await startInstanceRouter(
    workerPorts.map((port) => `http://127.0.0.1:${port}`),
    { concurrency: deliveries },
  );
  const wiring = await wirePubSub(
    harness,
    { dispatcher: `http://127.0.0.1:${dispatcherPort}`, worker: router.url },
    {
      // Long enough that a batch pending in the router (Cloud Run's queue) is not redelivered.
      ackDeadlineSeconds: 600,
      ...(values.push === 'emulator' ? {} : { pushWindow: workerCount * deliveries }),
    },
  );

  harness.standIn.control.setLatency(latencyMs);
  const { config } = harness.runtime;
  const subs = seeded.map((user) => user.sub);
  /** One daily run, every access token expired first (a daily run refreshes each user). */
  const runOnce = async (scheduledAt: number, onTick: () => void = () => undefined) => {
    await expireAccessTokens(harness.db, subs);
    harness.standIn.control.clearRequestLog();
    const before = harness.standIn.control.stats();
    const publisher = pubsubPublisher(config);
    const started = Date.now();
    const { runId } = await publishTick(publisher, config.pubsub.tickTopic, scheduledAt, 86400);
    onTick();
    await publisher.close();
    const report = await waitForRunReport(harness.db, runId, {
      timeoutMs: 3_600_000,
      pollMs: 100,
    });
    // The run ends when its last user is recorded (the ledger's time); the poll that notices it,
    // and the report read after it, are the observer's and are not counted.
    const seenMs = Date.now() - started;
    const wallMs = report.endedAt ? report.endedAt.getTime() - started : seenMs;
    const after = harness.standIn.control.stats();
    const calls = GOOGLE_ENDPOINT_NAMES.reduce(
      (sum, name) => sum + (after[name]?.requests ?? 0) - (before[name]?.requests ?? 0),
      0,
    );
    return { report, wallMs, seenMs, calls, started };
  };
  // A first run reaches the steady state (the export folder made and remembered per user);
  // the measured run is the next day's.
  const scheduledAt = Date.parse('2026-11-22T06:00:00Z');
  console.log('first run (the steady state starts after it)…');
  const warmUp = await runOnce(scheduledAt - 86400e3);
  // What the deploy ships beside its bundle, made here from the code that ran: the kills'
  // replacements start with it (bundled-function.ts).
  const codeCache = values.sources ? undefined : await makeCodeCache(workers[0]!);
  const servedBefore = workers.map(() => 0);
  router.served().forEach((count, index) => (servedBefore[index] = count));
  const [d0, ...w0] = await Promise.all([dispatcher, ...workers].map(figures));
  const cpuBefore = await cpuByRole(dispatcher, workers);
  const signsBefore = kms.calls('asymmetricSign');
  if (quota !== undefined)
    harness.standIn.control.setProjectQuota({
      callsPerSecond: quota,
      endpoints: ['token', 'drive'],
    });
  const {
    report,
    wallMs,
    seenMs,
    calls: googleCalls,
    started: measuredAt,
  } = await runOnce(scheduledAt);
  const cpuAfter = await cpuByRole(dispatcher, workers);
  const refusedByQuota = harness.standIn.control.quotaRefusals();
  harness.standIn.control.setProjectQuota(undefined);
  const served = servedTimes(harness.standIn.control.requestLog());
  const lanesBusy = laneOccupancy(harness.standIn.control.requestLog(), {
    tickAt: measuredAt,
    recordedAt: measuredAt + wallMs,
    lanes: workerCount * concurrency,
  });
  const batchesPerWorker = router.served().map((count, index) => count - servedBefore[index]!);
  // W worker instances: each takes up to `deliveries` batches at once, `concurrency` users in
  // flight across all of them (the instance's process-wide limiter); run-function.ts holds
  // further pushes until a slot is free, as Cloud Run's concurrency does.
  const workerInstances = workerCount;
  const lanes = workerInstances * concurrency;
  const kmsSigns = kms.calls('asymmetricSign') - signsBefore;
  const proofs = harness.standIn.control.requestLog().filter((entry) => entry.dpop).length;
  // A proof signed in KMS holds its user's lane for one KMS round trip before the refresh.
  const signMs = kmsSigns * kmsLatencyMs;
  const floorCalls = FLOOR_CALLS_PER_USER * users;
  // With a quota, the floor's calls cannot go faster than it allows either.
  const idealMs = Math.max(
    (floorCalls * latencyMs + signMs) / lanes,
    quota === undefined ? 0 : (floorCalls / quota) * 1000,
  );
  const callsIdealMs = (googleCalls * latencyMs + signMs) / lanes;
  const [d1, ...w1] = await Promise.all([dispatcher, ...workers].map(figures));
  const d = delta(d0!, d1!);
  const perWorker = w1.map((after, index) => delta(w0[index]!, after));
  const w = perWorker.reduce(sum);
  // With --kills: the next day's run again, its worker instances killed (SIGKILL) at evenly
  // spaced moments of the fault-free run's duration and restarted on the same port, as Cloud
  // Run replaces a lost instance; side by side with the fault-free run.
  let killed:
    | {
        wallMs: number;
        ok: number;
        exportsOnce: number;
        restartMs: readonly number[];
        calls: number;
        timeline: string;
        silencesMs: readonly number[];
        lastReplacement: Figures['startup'];
      }
    | undefined;
  if (kills > 0) {
    const day = scheduledAt + 86400e3;
    const label = new Date(day).toISOString().slice(0, 10);
    const restartMs: number[] = [];
    const killedAt: number[] = [];
    // The kills are timed from the tick, not from before it (the run first expires the tokens).
    let ticked: () => void = () => undefined;
    const tick = new Promise<void>((resolve) => (ticked = resolve));
    const killer = (async () => {
      await tick;
      const start = Date.now();
      for (let kill = 1; kill <= kills; kill += 1) {
        const at = start + (kill / (kills + 1)) * wallMs;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
        killedAt.push(Date.now());
        const index = (kill - 1) % workers.length;
        const victim = workers[index]!;
        victim.kill('SIGKILL');
        await new Promise((resolve) => victim.once('exit', resolve));
        const restarting = Date.now();
        workers[index] = await startFunction('worker', workerPorts[index]!, env, [
          String(deliveries),
        ]);
        restartMs.push(Date.now() - restarting);
      }
    })();
    const chaos = await runOnce(day, () => ticked());
    await killer;
    const lastReplacement = (await figures(workers[(kills - 1) % workers.length]!)).startup;
    killed = {
      wallMs: chaos.wallMs,
      calls: chaos.calls,
      ok: chaos.report.outcomes.ok ?? 0,
      exportsOnce: seeded.filter(
        (user) =>
          harness.standIn.control
            .driveFiles(user.email)
            .filter((file) => file.name === `export-${label}.csv` && !file.trashed).length === 1,
      ).length,
      restartMs,
      lastReplacement,
      ...(await recordedPerSecond(harness.db, chaos.report.runId, chaos.started, killedAt)),
    };
  }
  await wiring.close();
  await router.close();
  for (const one of perWorker)
    if (one.peakUsers > concurrency)
      throw new Error(`a worker had ${one.peakUsers} users calling Google, above ${concurrency}`);
  // Everything runs on this machine (emulators, stand-in, functions): the run cannot end before
  // the CPU they used is spent, however many lanes there are.
  const cores = availableParallelism();
  const machineFloorMs =
    [...cpuAfter.keys()].reduce(
      (total, role) => total + (cpuAfter.get(role) ?? 0) - (cpuBefore.get(role) ?? 0),
      0,
    ) / cores;
  const workerCpuMs = [...cpuAfter.keys()]
    .filter((role) => role.startsWith('worker'))
    .reduce((total, role) => total + (cpuAfter.get(role) ?? 0) - (cpuBefore.get(role) ?? 0), 0);

  console.log(`\n${formatRunReport(report)}\n`);
  const rows: [string, string][] = [
    ['connections', String(users)],
    [
      'model',
      `${workerInstances} worker process(es), 1 instance each, behind one push endpoint; each takes up to ${deliveries} batches at once, ${concurrency} users calling Google in all`,
    ],
    [
      'work messages pushed by',
      wiring.pushPeak
        ? `a relay from a pull subscription, up to ${workerCount * deliveries} at once (peak ${wiring.pushPeak()}); --push emulator for the emulator's own push`
        : "the emulator's own push, two at a time",
    ],
    ['batch size', String(values['batch-size'])],
    ['worker concurrency (users calling Google at once)', String(concurrency)],
    ['worker deliveries at once (K)', String(deliveries)],
    [
      'observed peak per worker',
      perWorker.map((one) => `${one.peakDeliveries} batch(es), ${one.peakUsers} users`).join('; ') +
        ` (limit ${concurrency} users each)`,
    ],
    [
      'batches per worker',
      `${batchesPerWorker.join(', ')} (spread: most/least ${(
        Math.max(...batchesPerWorker) / Math.max(1, Math.min(...batchesPerWorker))
      ).toFixed(2)})`,
    ],
    ['Google latency', `${latencyMs} ms per call`],
    [
      'wall time (tick → last user recorded)',
      `${(wallMs / 1000).toFixed(2)} s (the report poll saw it complete at ${(seenMs / 1000).toFixed(2)} s)`,
    ],
    [
      'Google calls made',
      `${googleCalls} (${(googleCalls / users).toFixed(2)} per connection; the first run made ${(warmUp.calls / users).toFixed(2)})`,
    ],
    [
      'DPoP',
      dpopMode === 'off'
        ? 'off'
        : `${dpopMode}: ${proofs} proofs sent, ${kmsSigns} Cloud KMS asymmetricSign calls${dpopMode === 'kms' ? ` (${kmsLatencyMs} ms each)` : ''}`,
    ],
    [
      'ideal (the job floor)',
      `${(idealMs / 1000).toFixed(2)} s (users × ${FLOOR_CALLS_PER_USER} calls × ${latencyMs} ms${kmsSigns > 0 ? ` + KMS signs × ${kmsLatencyMs} ms` : ''} / (${workerInstances} × ${concurrency} lanes)${quota === undefined ? '' : `, or users × ${FLOOR_CALLS_PER_USER} calls / ${quota} per s, whichever is longer`})`,
    ],
    ...(quota === undefined
      ? []
      : ([
          [
            'project quota',
            `${quota} calls/s over token + Drive: ${refusedByQuota} calls refused (429); ran at ${(
              (googleCalls - refusedByQuota) /
              (wallMs / 1000)
            ).toFixed(0)} accepted calls/s = ${(
              ((googleCalls - refusedByQuota) / (wallMs / 1000) / quota) *
              100
            ).toFixed(0)}% of the quota; users not ok: ${users - (report.outcomes.ok ?? 0)}`,
          ],
        ] as [string, string][])),
    ['ratio wall / ideal', (wallMs / idealMs).toFixed(3)],
    [
      "this machine's floor",
      `${(machineFloorMs / 1000).toFixed(2)} s: the CPU every process used (below) / ${cores} cores; wall / the larger of it and the ideal ${(
        wallMs / Math.max(idealMs, machineFloorMs)
      ).toFixed(3)}`,
    ],
    [
      'old definition (calls made)',
      `ideal ${(callsIdealMs / 1000).toFixed(2)} s, ratio ${(wallMs / callsIdealMs).toFixed(3)}`,
    ],
    // The stand-in's own share of each call (latency + handling), as measured where it serves:
    // what is left of the ratio is the caller's side (client CPU, event-loop queueing, Firestore).
    ['Google call as served (stand-in, mean)', served],
    ['where the wall time went', lanesBusy],
    ['Firestore reads per connection', ((d.reads + w.reads) / users).toFixed(2)],
    [
      'Firestore writes per connection',
      `${((d.writes + w.writes) / users).toFixed(2)} (per-user docs ${(
        (d.writes + w.writes - d.batchWrites - w.batchWrites) /
        users
      ).toFixed(2)}, run/batch overhead ${d.batchWrites + w.batchWrites} in all)`,
    ],
    [
      'Firestore round trips (RPCs) per connection',
      `${((d.roundTrips + w.roundTrips) / users).toFixed(2)} (dispatcher ${d.roundTrips}, workers ${w.roundTrips})`,
    ],
    [
      'Cloud KMS calls per run',
      `${kms.calls() - kmsAtStart - (kms.calls('asymmetricSign') - signsAtStart)} besides signing, over both runs (one unwrap of the token keyset per process${dpopMode === 'kms' ? ', one DPoP public key read' : ''}, whatever the number of users)`,
    ],
    [
      'secret-store backend reads per run',
      `${d.secretReads + w.secretReads} (dispatcher ${d.secretReads}, workers ${w.secretReads})`,
    ],
    [
      'CPU used during the run',
      [...cpuAfter.keys()]
        .map(
          (role) =>
            `${role} ${(((cpuAfter.get(role) ?? 0) - (cpuBefore.get(role) ?? 0)) / 1000).toFixed(1)} s`,
        )
        .join(', '),
    ],
    ['worker CPU per user', `${(workerCpuMs / users).toFixed(2)} ms`],
    [
      'functions run from',
      codeCache === undefined
        ? 'their TypeScript sources (--sources)'
        : `a bundle as deployed; replacements start with its ${(codeCache / 2 ** 20).toFixed(1)} MiB V8 code cache, made after the first run`,
    ],
    [
      'V8 heap settings per function',
      `--max-old-space-size=${values['heap-mb']} --max-semi-space-size=${values['semi-mb']}`,
    ],
    [
      'heap used after the run (after a full GC)',
      `dispatcher ${d1!.heapUsedMb.toFixed(0)} MB, workers ${w1.map((one) => one.heapUsedMb.toFixed(0)).join(', ')} MB`,
    ],
    ['peak RSS dispatcher', `${(d1!.maxRssKb / 1024).toFixed(0)} MB`],
    ['peak RSS workers', `${w1.map((one) => (one.maxRssKb / 1024).toFixed(0)).join(', ')} MB`],
    ...(killed === undefined
      ? []
      : ([
          [
            `with ${kills} worker kill(s)`,
            `${(killed.wallMs / 1000).toFixed(2)} s = ${(killed.wallMs / wallMs).toFixed(2)}× the fault-free run; users ok ${killed.ok}/${users}, with exactly one export ${killed.exportsOnce}/${users}; each instance replaced in ${killed.restartMs.map(seconds).join(', ')} (a new process to listening; with one worker, time nobody works)`,
          ],
          [
            'Google calls made in the killed run',
            `${killed.calls} (${(killed.calls / users).toFixed(2)} per connection; above the floor's ${FLOOR_CALLS_PER_USER}, the lookups for the users the dead instances had started)`,
          ],
          ['users recorded per second, with kills', killed.timeline],
          ['from each kill to the next user recorded', killed.silencesMs.map(seconds).join(', ')],
          [
            'the last replacement, from its process start',
            killed.lastReplacement
              ? `listening ${ms(killed.lastReplacement.listeningMs)}, clients built ${ms(killed.lastReplacement.depsReadyMs)}, first delivery ${ms(killed.lastReplacement.firstDeliveryMs)}`
              : '–',
          ],
        ] as [string, string][])),
  ];

  // Naive: the same per-user code, one user at a time, on a sample (a full naive run of N users
  // would take N × per-user time; the sample's mean stands for it).
  const sample = seeded.slice(0, naiveUsers);
  await expireAccessTokens(
    harness.db,
    sample.map((user) => user.sub),
  );
  const deps = await harness.deps({ publisher: memoryPublisher() });
  const period = runPeriodFor(scheduledAt + 86400e3, 86400);
  const context = {
    period,
    batchId: 'b0',
    halt: { halted: false, reason: undefined },
    log: harness.runtime.log,
    connections: createConnectionRepository(grpcConnectionBackend(harness.db)),
    jobSettings: () => Promise.resolve({}),
    attempt: 1,
  };
  const naiveStart = Date.now();
  for (const user of sample) await processUser(deps, context, user.sub);
  const naivePerUser = (Date.now() - naiveStart) / sample.length;
  const naiveEstimateMs = naivePerUser * users;
  rows.push(
    ['naive one-at-a-time, per user', `${naivePerUser.toFixed(1)} ms (sample of ${sample.length})`],
    ['naive estimate for all', `${(naiveEstimateMs / 1000).toFixed(1)} s`],
    ['speed-up', `${(naiveEstimateMs / wallMs).toFixed(1)}×`],
  );
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
} finally {
  await Promise.all(children.map((child) => stopChild(child)));
  await kms.close();
  await harness.close();
  await stopOwnEmulators();
  await rm(dir, { recursive: true, force: true });
}

/**
 * CPU time (ms) of this process (harness, Google stand-in) and its descendants, by role. Linux
 * /proc only; on other systems just this process.
 */
async function cpuByRole(
  dispatcher: ChildProcess,
  workers: readonly ChildProcess[],
): Promise<Map<string, number>> {
  const own = process.cpuUsage();
  const byRole = new Map<string, number>([['bench+stand-in', (own.user + own.system) / 1000]]);
  const procs = new Map<number, { ppid: number; ms: number; cmd: string }>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      procs.set(Number(entry), {
        ppid: Number(fields[1]),
        // utime + stime, in clock ticks of 10 ms
        ms: (Number(fields[11]) + Number(fields[12])) * 10,
        cmd,
      });
    } catch {
      // gone meanwhile
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let current = procs.get(pid)?.ppid; current !== undefined && current > 1;)
      if (current === process.pid) return true;
      else current = procs.get(current)?.ppid;
    return false;
  };
  for (const [pid, info] of procs) {
    if (!isDescendant(pid)) continue;
    const workerIndex = workers.findIndex((worker) => worker.pid === pid);
    const role =
      workerIndex >= 0
        ? `worker ${workerIndex + 1}`
        : pid === dispatcher.pid
          ? 'dispatcher'
          : info.cmd.includes('firestore-emulator')
            ? 'Firestore emulator'
            : info.cmd.includes('pubsub-emulator')
              ? 'Pub/Sub emulator'
              : 'other';
    byRole.set(role, (byRole.get(role) ?? 0) + info.ms);
  }
  return byRole;
}

/**
 * The wall time in three parts: before the first Google call (tick, dispatch, the first batch's
 * reads and leases), while Google is called (and how full the lanes were: time in calls over
 * lanes × that span), and after the last call (the last users' final writes).
 */
function laneOccupancy(
  log: readonly { at: string; durationMs: number }[],
  run: { readonly tickAt: number; readonly recordedAt: number; readonly lanes: number },
): string {
  if (log.length === 0) return 'no Google call';
  const first = Math.min(...log.map((entry) => Date.parse(entry.at)));
  const last = Math.max(...log.map((entry) => Date.parse(entry.at) + entry.durationMs));
  const inCalls = log.reduce((total, entry) => total + entry.durationMs, 0);
  return `${seconds(first - run.tickAt)} to the first call, ${seconds(last - first)} calling (lanes ${(
    (inCalls / ((last - first) * run.lanes)) *
    100
  ).toFixed(0)}% in a call), ${seconds(run.recordedAt - last)} after the last`;
}

/** Users recorded in each second of a run from `startedAt`, a `✕` where a worker was killed. */
async function recordedPerSecond(
  db: Firestore,
  runId: string,
  startedAt: number,
  killedAt: readonly number[],
): Promise<{ timeline: string; silencesMs: number[] }> {
  const ledger = await runRef(db, runId).collection('ledger').select('at').get();
  const times = ledger.docs
    .map((doc) => (doc.get('at') as Timestamp).toMillis())
    .sort((a, b) => a - b);
  const seconds: number[] = [];
  for (const at of times) {
    const second = Math.floor((at - startedAt) / 1000);
    seconds[second] = (seconds[second] ?? 0) + 1;
  }
  const kills = new Set(killedAt.map((at) => Math.floor((at - startedAt) / 1000)));
  return {
    timeline: Array.from(
      seconds,
      (count, second) => `${kills.has(second) ? '✕' : ''}${count ?? 0}`,
    ).join(' '),
    // From each kill to the next user recorded by anyone: with one worker, the whole outage.
    silencesMs: killedAt.map((kill) => (times.find((at) => at >= kill) ?? kill) - kill),
  };
}

/** Mean time from request arrival to response written, per Google endpoint. */
function servedTimes(log: readonly { endpoint: string; durationMs: number }[]): string {
  const byEndpoint = new Map<string, { sum: number; count: number }>();
  for (const entry of log) {
    const total = byEndpoint.get(entry.endpoint) ?? { sum: 0, count: 0 };
    total.sum += entry.durationMs;
    total.count += 1;
    byEndpoint.set(entry.endpoint, total);
  }
  return [...byEndpoint]
    .map(([endpoint, { sum, count }]) => `${endpoint} ${(sum / count).toFixed(1)} ms`)
    .join(', ');
}

interface Figures {
  maxRssKb: number;
  reads: number;
  writes: number;
  secretReads: number;
  batchWrites: number;
  peakDeliveries: number;
  peakUsers: number;
  heapUsedMb: number;
  roundTrips: number;
  /** ms from the process's start: its server listening, its dependencies built, its first delivery. */
  startup?: { listeningMs: number; depsReadyMs: number; firstDeliveryMs: number };
}

function startFunction(
  role: string,
  port: number,
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<ChildProcess> {
  const profile = values['cpu-prof'];
  const child = fork(
    values.sources ? RUN_FUNCTION : BUNDLE_LOADER,
    [...(values.sources ? [] : [BUNDLED_RUN_FUNCTION]), role, ...args],
    {
      env: { ...env, PORT: String(port) },
      execArgv: [
        ...process.execArgv,
        `--max-old-space-size=${values['heap-mb']}`,
        `--max-semi-space-size=${values['semi-mb']}`,
        '--expose-gc',
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : []),
      ],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${role} exited (${code})`)));
  });
}

/** What a process counted between two readings (peaks and gauges as of the second). */
function delta(before: Figures, after: Figures): Figures {
  return {
    ...after,
    reads: after.reads - before.reads,
    writes: after.writes - before.writes,
    batchWrites: after.batchWrites - before.batchWrites,
    roundTrips: after.roundTrips - before.roundTrips,
    secretReads: after.secretReads - before.secretReads,
  };
}

function sum(a: Figures, b: Figures): Figures {
  return {
    maxRssKb: Math.max(a.maxRssKb, b.maxRssKb),
    reads: a.reads + b.reads,
    writes: a.writes + b.writes,
    secretReads: a.secretReads + b.secretReads,
    batchWrites: a.batchWrites + b.batchWrites,
    peakDeliveries: Math.max(a.peakDeliveries, b.peakDeliveries),
    peakUsers: Math.max(a.peakUsers, b.peakUsers),
    heapUsedMb: Math.max(a.heapUsedMb, b.heapUsedMb),
    roundTrips: a.roundTrips + b.roundTrips,
  };
}

/** Has the process write the V8 code cache of the bundle it runs; its size in bytes. */
function makeCodeCache(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (message) =>
      resolve((message as { codeCacheBytes: number }).codeCacheBytes),
    );
    child.send('code-cache');
  });
}

function figures(child: ChildProcess): Promise<Figures> {
  return new Promise((resolve) => {
    child.once('message', (message) => resolve(message as Figures));
    child.send('stats');
  });
}
