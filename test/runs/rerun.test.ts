// Re-running a period (docs/operations.md#re-running-a-run), over Pub/Sub with the real
// functions-framework: a tick for a settled run redoes the users whose outcome is not done
// (dead-lettered, failed, none), each with exactly one export, and leaves done users alone (no
// Google call, no write). A tick while the run's deliveries are still at work does nothing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionReportSource, type ExportSource } from '../../shared/jobs/export-source.ts';
import { createDriveExportJob } from '../../shared/jobs/builtin/drive-export.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import type { RunDeps } from '../../shared/runs/deps.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import type { WorkBatch } from '../../shared/runs/messages.ts';
import { readRunReport } from '../../shared/runs/report.ts';
import { RERUN_QUIET_MS } from '../../shared/runs/rerun.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { waitForRunReport } from '../../shared/runs/trigger.ts';
import {
  CLIENT_ID,
  REDIRECT_URI,
  expireAccessTokens,
  serveRunFunctions,
  startRunHarness,
  stopOwnEmulators,
  wirePubSub,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let harness: RunHarness;
let functions: Awaited<ReturnType<typeof serveRunFunctions>>;
let wiring: Awaited<ReturnType<typeof wirePubSub>>;
/** Users whose export source fails for good (their drive-export job is `failed`). */
const failing = new Set<string>();
const source: ExportSource = {
  produce(input) {
    if (failing.has(input.connection.sub)) throw new Error('export source broken');
    return connectionReportSource.produce(input);
  },
};
const jobs = [createDriveExportJob({ source })];

beforeAll(async () => {
  harness = await startRunHarness('rerun', {
    RUN_BATCH_SIZE: '4',
    WORKER_CONCURRENCY: '4',
    USER_BUDGET_SECONDS: '1',
  });
  // One delivery per work message: a user still failing transiently is dead-lettered at once.
  functions = await serveRunFunctions(harness, { maxDeliveryAttempts: 1, jobs });
  wiring = await wirePubSub(harness, {
    dispatcher: functions.dispatcher.url,
    worker: functions.worker.url,
  });
});

afterAll(async () => {
  await functions?.close();
  await wiring?.close();
  await harness?.close();
  await stopOwnEmulators();
});

function exportsOf(user: SeededUser, runId: string): number {
  const name = `export-${runId.slice(0, 10)}.csv`;
  return harness.standIn.control
    .driveFiles(user.email)
    .filter((file) => file.name === name && !file.trashed).length;
}

function googleCalls(endpoint: 'token' | 'drive', status?: number): number {
  return harness.standIn.control
    .requestLog()
    .filter(
      (entry) => entry.endpoint === endpoint && (status === undefined || entry.status === status),
    ).length;
}

/** `npm run rerun -- <args>` against this harness's emulators (async: the functions run here). */
function rerunCli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { env } = harness;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'infra/node24.mjs'), 'infra/ops/rerun.ts', ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          GOOGLE_CLOUD_PROJECT: env.GOOGLE_CLOUD_PROJECT,
          FIRESTORE_EMULATOR_HOST: env.FIRESTORE_EMULATOR_HOST,
          PUBSUB_EMULATOR_HOST: env.PUBSUB_EMULATOR_HOST,
          TICK_TOPIC: env.TICK_TOPIC,
          RUN_PERIOD_SECONDS: '86400',
        },
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('re-running a run', () => {
  it('redoes dead-lettered and failed users once each, and leaves done users alone', async () => {
    const users = await harness.seedUsers(10, { prefix: 'rerun' });
    // Only these need a refresh, and the token endpoint is down: dead-lettered (one delivery).
    const deadLettered = [users[1]!, users[5]!, users[9]!];
    const failed = users[6]!;
    const redo = [...deadLettered, failed];
    const done = users.filter((user) => !redo.includes(user));
    await expireAccessTokens(
      harness.db,
      deadLettered.map((user) => user.sub),
    );
    failing.add(failed.sub);
    harness.standIn.control.injectFault('token', { kind: 'status', status: 503, count: 10_000 });
    harness.standIn.control.clearRequestLog();
    const runId = await harness.tick('2026-10-05T03:00:00Z');
    const first = await waitForRunReport(harness.db, runId, { timeoutMs: 60_000 });
    expect(first.status).toBe('complete');
    expect(first.outcomes).toEqual({ ok: 6, 'dead-lettered': 3, failed: 1 });
    expect(first.repairs).toEqual([]);
    // Drive calls of a user's first export, measured on the users who were done.
    const firstDrive = googleCalls('drive');
    expect(firstDrive % done.length).toBe(0);
    const perUser = firstDrive / done.length;
    const subs = users.map((user) => user.sub);
    const before = await readLedger(harness.db, runId, subs);
    const connectionsBefore = await Promise.all(done.map((user) => harness.connection(user.sub)));

    harness.standIn.control.clearFaults('token');
    failing.clear();
    harness.standIn.control.clearRequestLog();
    const cli = await rerunCli(runId, '--wait');
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('re-run attempt 1, 4 users to redo');
    expect(cli.stdout).toMatch(/repaired \(attempt 1\) +4 users, re-dispatched 3 batches/);

    const report = await readRunReport(harness.db, runId);
    expect(report?.status).toBe('complete');
    expect(report?.outcomes).toEqual({ ok: 10 });
    expect(report?.jobs).toEqual({ 'drive-export': { ok: 10 } });
    expect(report?.repairs).toMatchObject([
      { attempt: 1, users: 4, batches: 3, replaced: { 'dead-lettered': 3, failed: 1 } },
    ]);
    for (const user of users) expect(exportsOf(user, runId)).toBe(1);
    // Google saw the redone users only: their refreshes and their exports' calls.
    expect(googleCalls('token', 200)).toBe(deadLettered.length);
    expect(googleCalls('drive')).toBe(redo.length * perUser);
    const after = await readLedger(harness.db, runId, subs);
    for (const [index, user] of done.entries()) {
      expect(after.get(user.sub)).toEqual(before.get(user.sub));
      expect(await harness.connection(user.sub)).toEqual(connectionsBefore[index]);
    }
    for (const user of redo) {
      expect(after.get(user.sub)).toMatchObject({ outcome: 'ok', effect: 'drive-export:created' });
      expect(after.get(user.sub)?.at.toMillis()).toBeGreaterThan(
        before.get(user.sub)!.at.toMillis(),
      );
    }

    // Nothing left to redo: the command says so and publishes nothing.
    const again = await rerunCli(runId);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to redo');
    expect((await readRunReport(harness.db, runId))?.repairs).toHaveLength(1);
    // Bad input: a clear message, nothing published.
    const bad = await rerunCli('yesterday');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('usage: npm run rerun -- <run-id>');
    const unknown = await rerunCli('2001-01-01_86400s');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('run 2001-01-01_86400s not found');
  }, 90_000);

  it('a run halted before its fan-out is dispatched in full by its re-run, once the client works again', async () => {
    const users = await harness.seedUsers(3, { prefix: 'halted' });
    harness.standIn.control.deleteClient(CLIENT_ID);
    const runId = await harness.tick('2026-10-06T03:00:00Z');
    const halted = await waitForRunReport(harness.db, runId, { timeoutMs: 60_000 });
    expect(halted).toMatchObject({ status: 'halted', haltReason: 'deleted_client', users: 0 });
    harness.standIn.control.registerClient({
      clientId: CLIENT_ID,
      clientSecret: harness.env.OAUTH_CLIENT_SECRET!,
      redirectUris: [REDIRECT_URI],
    });
    await harness.tick('2026-10-06T03:00:00Z');
    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 60_000, repairs: 1 });
    expect(report.status).toBe('complete');
    expect(report.haltReason).toBeUndefined();
    expect(report.outcomes.ok).toBeGreaterThanOrEqual(users.length);
    expect(report.repairs).toMatchObject([{ attempt: 1, replaced: { unrecorded: report.users } }]);
    for (const user of users) expect(exportsOf(user, runId)).toBe(1);
  }, 90_000);
});

describe('a tick for a run still at work', () => {
  it('does nothing while deliveries may be at work; after the quiet time it re-runs the rest', async () => {
    const users = await harness.seedUsers(6, { prefix: 'busy' });
    const publisher = memoryPublisher();
    const deps = await harness.deps({ publisher, jobs });
    const scheduledAt = Date.parse('2026-10-07T03:00:00Z');
    const runId = runPeriodFor(scheduledAt, 86400).runId;
    expect(await dispatchRun(deps, { scheduledAt })).toMatchObject({ kind: 'dispatched' });
    const batches = publisher.messages.map((message) => message.data as WorkBatch);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    // One batch delivered, the others still queued (as if at work elsewhere).
    await processBatch(deps, batches[0]!, { attempt: 1, final: false });
    const subs = batches.flatMap((batch) => batch.subs);
    expect(subs).toEqual(expect.arrayContaining(users.map((user) => user.sub)));
    const recorded = await readLedger(harness.db, runId, subs);
    expect(recorded.size).toBeGreaterThan(0);

    const duplicate = await dispatchRun(deps, { scheduledAt });
    expect(duplicate).toMatchObject({ kind: 'duplicate', status: 'dispatched' });
    expect(publisher.messages).toHaveLength(batches.length);
    expect(await readLedger(harness.db, runId, subs)).toEqual(recorded);
    expect((await readRunReport(harness.db, runId))?.repairs).toEqual([]);
    expect(harness.logs).toContainEqual(
      expect.objectContaining({
        message: 'tick for a run already started; ignored',
        runId,
        verdict: 'in-progress',
      }),
    );

    // Nothing recorded for longer than any delivery can last: the same tick re-runs the run,
    // re-publishing the undelivered batches as they were, and nothing of the delivered one.
    const later: RunDeps = {
      ...deps,
      runtime: { ...deps.runtime, clock: { now: () => Date.now() + RERUN_QUIET_MS + 60_000 } },
    };
    const rerun = await dispatchRun(later, { scheduledAt });
    const pendingSubs = subs.filter((sub) => !recorded.has(sub));
    expect(rerun).toMatchObject({
      kind: 'repaired',
      attempt: 1,
      users: pendingSubs.length,
      batches: batches.length - 1,
    });
    const republished = publisher.messages.slice(batches.length).map((m) => m.data as WorkBatch);
    expect(republished).toEqual(batches.slice(1));
    expect(await readLedger(harness.db, runId, subs)).toEqual(recorded);
  });
});
