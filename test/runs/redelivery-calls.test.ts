// A redelivered batch repeats the file lookup (docs/jobs.md#memory-and-retries) only for the users
// an earlier delivery of the run may have started: taking a user's lease is a write, so a
// connection not written since the run began was not started by anyone. A consent that took a
// dead delivery's lease away leaves no lease behind, but its write is seen, and that user is
// looked up. Drive calls counted at the stand-in; one export per user and period throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import type { RunDeps } from '../../shared/runs/deps.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { workerHandler } from '../../shared/runs/handlers.ts';
import { readRunReport } from '../../shared/runs/report.ts';
import { connectionRef } from '../support/connections.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

let harness: RunHarness;
let users: SeededUser[];
let deps: RunDeps;
let published: ReturnType<typeof memoryPublisher>;

beforeAll(async () => {
  harness = await startRunHarness('redelivery-calls', { WORKER_CONCURRENCY: '4' });
  users = await harness.seedUsers(4, { prefix: 'redelivery' });
  published = memoryPublisher();
  deps = await harness.deps({ publisher: published });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

/** Dispatches the day's run; `beforeDelivery` runs once it started; then one delivery, numbered `attempt`. */
async function runDay(
  day: number,
  attempt: number,
  beforeDelivery: () => Promise<void> = async () => {},
) {
  await expireAccessTokens(
    harness.db,
    users.map((user) => user.sub),
  );
  const from = published.messages.length;
  const run = await dispatchRun(deps, {
    scheduledAt: Date.parse('2026-12-20T05:00:00Z') + day * 86400e3,
  });
  expect(run).toMatchObject({ kind: 'dispatched', batches: 1, users: users.length });
  await beforeDelivery();
  harness.standIn.control.clearRequestLog();
  const batch = published.messages[from]!.data;
  const message = {
    data: Buffer.from(JSON.stringify(batch)).toString('base64'),
    messageId: `m${day}`,
  };
  await workerHandler(() => Promise.resolve(deps))({ data: { message, deliveryAttempt: attempt } });
  const report = await readRunReport(harness.db, run.runId);
  expect(report?.outcomes).toEqual({ ok: users.length });
  return harness.standIn.control
    .requestLog()
    .filter((entry) => entry.endpoint === 'drive')
    .map((entry) => `${entry.method} ${entry.status}`)
    .sort();
}

function exportsOf(user: SeededUser): string[] {
  return harness.standIn.control
    .driveFiles(user.email)
    .filter((file) => file.name.startsWith('export-') && !file.trashed)
    .map((file) => file.name);
}

describe('a redelivered batch', () => {
  it('looks up only the users written since the run began', async () => {
    // Day 1: the folders are made and remembered.
    await runDay(1, 1);
    const [reconnected] = users;
    // Day 2 comes as a second delivery: the first died after the consent below took its lease.
    const calls = await runDay(2, 2, async () => {
      const connection = connectionRef(harness.db, reconnected!.sub);
      await connection.update({
        refreshLease: { holder: 'a-dead-delivery', until: new Date(Date.now() + 6000) },
      });
      await connection.update({ refreshLease: null, updatedAt: new Date() });
    });
    // One lookup (the written user), one upload each.
    expect(calls).toEqual(
      ['GET 200', ...Array.from({ length: users.length }, () => 'POST 200')].sort(),
    );
    for (const user of users) expect(exportsOf(user)).toHaveLength(2);
  });

  it('a first delivery looks nobody up, written or not', async () => {
    const calls = await runDay(3, 1, async () => {
      await connectionRef(harness.db, users[0]!.sub).update({ updatedAt: new Date() });
    });
    expect(calls).toEqual(Array.from({ length: users.length }, () => 'POST 200'));
    for (const user of users) expect(exportsOf(user)).toHaveLength(3);
  });
});
