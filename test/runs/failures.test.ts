// Failure classes of a run, each against the real Firestore emulator and the stand-in. The run
// goes through dispatchRun with RUN_INLINE (the dispatcher processes the batches itself, through
// the very same batch code the worker uses); Pub/Sub delivery is covered by the other files.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectionReportSource, type ExportSource } from '../../shared/jobs/export-source.ts';
import { createDriveExportJob, DRIVE_FILE_SCOPE } from '../../shared/jobs/builtin/drive-export.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { processBatch } from '../../shared/runs/batch.ts';
import type { RunDeps } from '../../shared/runs/deps.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { CLIENT_CONFIG_ALERT } from '../../shared/runs/halt.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { readRunReport, type RunReport } from '../../shared/runs/report.ts';
import { runPeriodFor } from '../../shared/runs/run-id.ts';
import { type StoredConnection } from '../../shared/store/connection/document.ts';
import { connectionRef } from '../support/connections.ts';
import {
  CLIENT_ID,
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

let harness: RunHarness;
let day = 0;

beforeEach(async () => {
  harness = await startRunHarness('fail', {
    RUN_INLINE: 'true',
    RUN_BATCH_SIZE: '4',
    WORKER_CONCURRENCY: '4',
  });
});
afterEach(async () => {
  await harness.close();
});
afterAll(async () => {
  await stopOwnEmulators();
});

async function run(deps?: RunDeps): Promise<RunReport> {
  day += 1;
  const scheduledAt = Date.parse('2026-12-01T05:00:00Z') + day * 86400e3;
  const result = await dispatchRun(deps ?? (await harness.deps({ publisher: memoryPublisher() })), {
    scheduledAt,
  });
  const report = await readRunReport(harness.db, result.runId);
  if (!report) throw new Error('no report');
  return report;
}

function exportsOf(user: SeededUser): number {
  return harness.standIn.control
    .driveFiles(user.email)
    .filter((file) => file.name.startsWith('export-') && !file.trashed).length;
}

function tokenCalls(): number {
  return harness.standIn.control.stats().token?.requests ?? 0;
}

describe('classified failures', () => {
  it('a grant revoked at Google mid-run: that user needs reconnect, its token is destroyed, others finish', async () => {
    const users = await harness.seedUsers(6);
    const victim = users[2]!;
    // Revoke the victim's grant while the run is already working on them (after their access
    // token was chosen, before the Drive calls).
    const source: ExportSource = {
      async produce(input) {
        if (input.connection.sub === victim.sub)
          harness.standIn.control.revokeUserGrant(victim.email, CLIENT_ID);
        return connectionReportSource.produce(input);
      },
    };
    harness.standIn.control.clearRequestLog();
    const report = await run(
      await harness.deps({
        publisher: memoryPublisher(),
        jobs: [createDriveExportJob({ source })],
      }),
    );
    expect(report.outcomes).toEqual({ ok: 5, 'needs-reconnect': 1 });
    expect(report.failures).toEqual({ invalid_grant: 1 });
    const connection = await harness.connection(victim.sub);
    expect(connection.state).toBe('needs-reconnect');
    expect(connection.reconnectReason).toBe('invalid_grant');
    expect(connection.refreshToken).toBeNull();
    expect(connection.accessToken).toBeNull();
    expect(connection.refreshLease).toBeNull();
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({
        type: 'needs-reconnect',
        sub: victim.sub,
        reason: 'invalid_grant',
      }),
    );
    // Drive refused the access token; one refresh said invalid_grant; never retried.
    const victimRefreshes = harness.standIn.control
      .requestLog()
      .filter((entry) => entry.endpoint === 'token' && entry.status === 400);
    expect(victimRefreshes.length).toBe(2); // the pre-flight's probe and the victim's refresh
    expect(exportsOf(victim)).toBe(0);
    for (const user of users) if (user !== victim) expect(exportsOf(user)).toBe(1);

    // The next run does not touch the victim again.
    const next = await run();
    expect(next.users).toBe(5);
  });

  it('a refresh answering invalid_grant marks the user at once', async () => {
    const users = await harness.seedUsers(3);
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    harness.standIn.control.requireReauth(users[0]!.email);
    const report = await run();
    expect(report.outcomes).toEqual({ ok: 2, 'needs-reconnect': 1 });
    const connection = await harness.connection(users[0]!.sub);
    expect(connection.state).toBe('needs-reconnect');
    expect(connection.refreshToken).toBeNull();
  });

  it('a user who unchecked the Drive scope: only that job waits for consent; no Google call for it', async () => {
    const [full] = await harness.seedUsers(1, { prefix: 'full' });
    const [partial] = await harness.seedUsers(1, { prefix: 'partial', grant: 'openid email' });
    harness.standIn.control.clearRequestLog();
    const report = await run();
    expect(report.outcomes).toEqual({ ok: 1, 'needs-consent': 1 });
    const connection = await harness.connection(partial!.sub);
    // The connection stays active with its grant: an incremental consent adds the scope.
    expect(connection.state).toBe('active');
    expect(connection.refreshToken).not.toBeNull();
    expect(connection.jobs['drive-export']).toMatchObject({
      status: 'needs-consent',
      missingScopes: [DRIVE_FILE_SCOPE],
    });
    expect(exportsOf(full!)).toBe(1);
    expect(exportsOf(partial!)).toBe(0);
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({
        type: 'consent-needed',
        sub: partial!.sub,
        job: 'drive-export',
        scopes: [DRIVE_FILE_SCOPE],
      }),
    );
    // Nothing at Google for the partial user: its stored scopes already tell.
    const googleCalls = harness.standIn.control
      .requestLog()
      .filter((entry) => entry.endpoint === 'token' && entry.status === 200);
    expect(googleCalls.length).toBeLessThanOrEqual(1);
  });

  it('Drive 403 insufficientPermissions marks only that job for the Drive scope', async () => {
    const [user] = await harness.seedUsers(1, { grant: 'openid email' });
    // Our record claims the scope; Google knows better.
    await connectionRef(harness.db, user!.sub).update({
      scopes: ['openid', DRIVE_FILE_SCOPE],
    });
    const report = await run();
    expect(report.outcomes).toEqual({ 'needs-consent': 1 });
    const connection = await harness.connection(user!.sub);
    expect(connection.state).toBe('active');
    expect(connection.jobs['drive-export']).toMatchObject({
      status: 'needs-consent',
      missingScopes: [DRIVE_FILE_SCOPE],
      reason: 'insufficientPermissions',
    });
    expect(connection.refreshToken).not.toBeNull();
  });

  it('429 storms and 5xx bursts from the token endpoint are absorbed by backoff', async () => {
    const users = await harness.seedUsers(6);
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    harness.standIn.control.clearRequestLog();
    harness.standIn.control.injectFault('token', {
      kind: 'rateLimit',
      retryAfterSeconds: 1,
      count: 8,
    });
    harness.standIn.control.injectFault('token', { kind: 'status', status: 503, count: 6 });
    const report = await run();
    expect(report.outcomes).toEqual({ ok: 6 });
    expect(report.pending).toBe(0);
    // Every fault was met and retried; each user was refreshed exactly once successfully.
    const log = harness.standIn.control.requestLog().filter((entry) => entry.endpoint === 'token');
    expect(log.filter((entry) => entry.status === 429)).toHaveLength(8);
    expect(log.filter((entry) => entry.status === 503)).toHaveLength(6);
    expect(log.filter((entry) => entry.status === 200)).toHaveLength(6);
    for (const user of users) expect(exportsOf(user)).toBe(1);
  });

  it('429 storms and 5xx bursts from Drive never duplicate an export', async () => {
    const users = await harness.seedUsers(6);
    harness.standIn.control.injectFault('drive', {
      kind: 'rateLimit',
      retryAfterSeconds: 1,
      count: 6,
    });
    harness.standIn.control.injectFault('drive', { kind: 'status', status: 500, count: 6 });
    harness.standIn.control.injectFault('drive', { kind: 'status', status: 503, count: 4 });
    const report = await run();
    expect(report.outcomes).toEqual({ ok: 6 });
    for (const user of users) expect(exportsOf(user)).toBe(1);
    // A second run in the same period (e.g. a retried batch) updates, never duplicates.
    day -= 1;
    const deps = await harness.deps({ publisher: memoryPublisher() });
    const runId = runPeriodFor(
      Date.parse('2026-12-01T05:00:00Z') + (day + 1) * 86400e3,
      86400,
    ).runId;
    await harness.db.recursiveDelete(harness.db.collection('runs').doc(runId));
    await run(deps);
    for (const user of users) expect(exportsOf(user)).toBe(1);
  });

  it('transient failures beyond the user budget leave the user for redelivery, not failed', async () => {
    harness = await swapHarness({ USER_BUDGET_SECONDS: '1' });
    const users = await harness.seedUsers(2);
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    const deps = await harness.deps({ publisher: memoryPublisher() });
    harness.standIn.control.injectFault('token', {
      kind: 'rateLimit',
      retryAfterSeconds: 5,
      count: 50,
    });
    const summary = await processBatch(
      deps,
      { v: 1, runId: '2026-12-20_86400s', batchId: 'b0', subs: users.map((user) => user.sub) },
      { attempt: 1, final: false },
    );
    expect(summary.pending).toBe(2);
    const ledger = await readLedger(
      harness.db,
      '2026-12-20_86400s',
      users.map((user) => user.sub),
    );
    expect(ledger.size).toBe(0);
    const connection = await harness.connection(users[0]!.sub);
    expect(connection.state).toBe('active');
    expect(connection.refreshToken).not.toBeNull();
    expect(connection.refreshLease).toBeNull();
  });

  it('an invalid_client stops the run before any user is touched, and alerts', async () => {
    const users = await harness.seedUsers(3);
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    const before = await snapshotConnections(users);
    harness.standIn.control.deleteClient(CLIENT_ID);
    const report = await run();
    expect(report.status).toBe('halted');
    expect(report.haltReason).toBe('deleted_client');
    expect(report.users).toBe(0);
    expect(await snapshotConnections(users)).toEqual(before);
    const alerts = harness.logs.filter((line) => line.alert === CLIENT_CONFIG_ALERT);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.severity).toBe('ERROR');
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({ type: 'run-halted', reason: 'deleted_client' }),
    );
  });

  it('an invalid_client met by a worker mid-run halts every batch and marks no user', async () => {
    const users = await harness.seedUsers(6);
    await expireAccessTokens(
      harness.db,
      users.map((user) => user.sub),
    );
    const before = await snapshotConnections(users);
    harness.standIn.control.deleteClient(CLIENT_ID);
    const deps = await harness.deps({ publisher: memoryPublisher() });
    const runId = '2026-12-21_86400s';
    const subs = users.map((user) => user.sub);
    const first = await processBatch(
      deps,
      { v: 1, runId, batchId: 'b0', subs: subs.slice(0, 3) },
      { attempt: 1, final: false },
    );
    const second = await processBatch(
      deps,
      { v: 1, runId, batchId: 'b1', subs: subs.slice(3) },
      { attempt: 1, final: false },
    );
    expect(first.pending + second.pending).toBe(0);
    expect(first.halted + second.halted).toBe(6);
    expect(await snapshotConnections(users)).toEqual(before);
    expect((await readLedger(harness.db, runId, subs)).size).toBe(0);
    expect(harness.logs.filter((line) => line.alert === CLIENT_CONFIG_ALERT)).toHaveLength(1);
    // At most one refresh per concurrent lane was attempted before the halt was seen.
    expect(tokenCalls()).toBeLessThanOrEqual(6 + 4);
  });

  it('revoke-pending connections are revoked by the next run', async () => {
    const users = await harness.seedUsers(2);
    await connectionRef(harness.db, users[0]!.sub).update({ state: 'revoke-pending' });
    const report = await run();
    expect(report.outcomes).toEqual({ ok: 1, revoked: 1 });
    const connection = await harness.connection(users[0]!.sub);
    expect(connection.state).toBe('revoked');
    expect(connection.refreshToken ?? null).toBeNull();
    expect(harness.standIn.control.grants(users[0]!.email)).toHaveLength(0);
    const records = await harness.db
      .collection('revocations')
      .where('sub', '==', users[0]!.sub)
      .get();
    expect(records.size).toBeGreaterThan(0);
    for (const record of records.docs)
      expect(JSON.stringify(record.data())).not.toMatch(/1\/\/|ya29\./);
    expect(harness.events.events).toContainEqual(
      expect.objectContaining({ type: 'revoked', sub: users[0]!.sub }),
    );
  });
});

async function swapHarness(overrides: Record<string, string>): Promise<RunHarness> {
  await harness.close();
  return startRunHarness('fail', { RUN_INLINE: 'true', RUN_BATCH_SIZE: '4', ...overrides });
}

async function snapshotConnections(users: readonly SeededUser[]): Promise<StoredConnection[]> {
  return Promise.all(users.map((user) => harness.connection(user.sub)));
}
