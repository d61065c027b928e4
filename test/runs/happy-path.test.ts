// End to end over Pub/Sub: a tick published to the emulator's tick topic is pushed to the
// dispatcher (real functions-framework), which publishes work batches, pushed to the worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPublisher } from '../../shared/pubsub/publisher.ts';
import { readLedger } from '../../shared/runs/ledger.ts';
import { formatRunReport } from '../../shared/runs/report.ts';
import { publishTick, waitForRunReport } from '../../shared/runs/trigger.ts';
import { openToken } from '../../shared/store/connection/document.ts';
import {
  expireAccessTokens,
  serveRunFunctions,
  startRunHarness,
  stopOwnEmulators,
  wirePubSub,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

const USERS = 60;
let harness: RunHarness;
let functions: Awaited<ReturnType<typeof serveRunFunctions>>;
let wiring: Awaited<ReturnType<typeof wirePubSub>>;
let users: SeededUser[];

beforeAll(async () => {
  harness = await startRunHarness('happy', { RUN_BATCH_SIZE: '25', WORKER_CONCURRENCY: '8' });
  functions = await serveRunFunctions(harness);
  wiring = await wirePubSub(harness, {
    dispatcher: functions.dispatcher.url,
    worker: functions.worker.url,
  });
  users = await harness.seedUsers(USERS);
  harness.standIn.control.clearRequestLog();
});

afterAll(async () => {
  await functions?.close();
  await wiring?.close();
  await harness?.close();
  await stopOwnEmulators();
});

describe('a scheduled run over Pub/Sub', () => {
  it('exports once for every connected user and reports the run', async () => {
    const { config } = harness.runtime;
    // Half the users need a refresh, half still have a fresh access token.
    await expireAccessTokens(
      harness.db,
      users.slice(0, USERS / 2).map((user) => user.sub),
    );
    const publisher = pubsubPublisher(config);
    const scheduledAt = Date.parse('2026-11-22T06:00:00Z');
    const { runId } = await publishTick(publisher, config.pubsub.tickTopic, scheduledAt, 86400);
    await publisher.close();
    expect(runId).toBe('2026-11-22_86400s');

    const report = await waitForRunReport(harness.db, runId, { timeoutMs: 90_000 });
    expect(report.status).toBe('complete');
    expect(report.users).toBe(USERS);
    expect(report.batches).toBe(3);
    expect(report.outcomes).toEqual({ ok: USERS });
    expect(report.p50Ms).toBeGreaterThan(0);
    expect(report.jobs).toEqual({ 'drive-export': { ok: USERS } });
    expect(formatRunReport(report)).toMatch(new RegExp(`drive-export +ok ${USERS}`));

    for (const user of users) {
      const files = harness.standIn.control.driveFiles(user.email).filter((file) => !file.trashed);
      const exports = files.filter((file) => file.name === 'export-2026-11-22.csv');
      expect(exports).toHaveLength(1);
      expect(exports[0]?.path).toBe(`/${config.runs.exportFolderName}/export-2026-11-22.csv`);
      expect(exports[0]?.content).toContain(user.email);
      const connection = await harness.connection(user.sub);
      expect(connection.lastRun?.runId).toBe(runId);
      expect(connection.lastRun?.outcome).toBe('ok');
      expect(connection.refreshLease).toBeNull();
      expect(connection.refreshToken).not.toBe('');
    }
    const ledger = await readLedger(
      harness.db,
      runId,
      users.map((user) => user.sub),
    );
    expect(ledger.size).toBe(USERS);

    // Refreshed users got a new access token, persisted encrypted with its expiry.
    const keys = await harness.runtime.keys('token');
    const refreshed = await harness.connection(users[0]!.sub);
    expect(refreshed.accessTokenExpiresAt!.toMillis()).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect(openToken(keys, refreshed.sub, 'accessToken', refreshed.accessToken!)).toMatch(
      /^ya29\./,
    );
    const stats = harness.standIn.control.stats();
    // One refresh per expired user plus the dispatcher's client pre-flight, nothing more.
    expect(stats.token?.requests).toBe(USERS / 2 + 1);
  });

  it('a duplicated tick for the same period starts no second run', async () => {
    const { config } = harness.runtime;
    const before = harness.standIn.control.stats().drive?.requests ?? 0;
    const publisher = pubsubPublisher(config);
    // Same period, different time of day, published twice.
    await publishTick(
      publisher,
      config.pubsub.tickTopic,
      Date.parse('2026-11-22T18:00:00Z'),
      86400,
    );
    await publishTick(
      publisher,
      config.pubsub.tickTopic,
      Date.parse('2026-11-22T06:00:00Z'),
      86400,
    );
    await publisher.close();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const duplicates = harness.logs.filter(
        (line) => line.message === 'tick for a run already started; ignored',
      );
      if (duplicates.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(
      harness.logs.filter((line) => line.message === 'tick for a run already started; ignored'),
    ).toHaveLength(2);
    expect(harness.standIn.control.stats().drive?.requests ?? 0).toBe(before);
    const runs = await harness.db.collection('runs').get();
    expect(runs.size).toBe(1);
  });
});
