// The lines the deploy's log-based metrics count (infra/monitoring/), from real work deliveries
// against the Firestore emulator and the stand-in: `users finished` counts each user once per
// run, whatever the redeliveries, with how far into the run; every dead-lettered work message
// logs one ERROR line with alert work_dead_lettered and its reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriveExportJob } from '../../shared/jobs/builtin/drive-export.ts';
import { connectionReportSource, type ExportSource } from '../../shared/jobs/export-source.ts';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { DEAD_LETTER_ALERT } from '../../shared/runs/dead-letter.ts';
import type { RunDeps } from '../../shared/runs/deps.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { workerHandler } from '../../shared/runs/handlers.ts';
import { readRunReport } from '../../shared/runs/report.ts';
import { USERS_FINISHED } from '../../shared/runs/users-finished.ts';
import {
  expireAccessTokens,
  startRunHarness,
  stopOwnEmulators,
  type RunHarness,
  type SeededUser,
} from './harness.ts';

let harness: RunHarness;
let users: SeededUser[];
/** Users whose export fails transiently for now: left for redelivery. */
const failing = new Set<string>();
let deps: RunDeps;
let published: ReturnType<typeof memoryPublisher>;

beforeAll(async () => {
  harness = await startRunHarness('signals', {
    RUN_BATCH_SIZE: '5',
    WORKER_CONCURRENCY: '4',
    USER_BUDGET_SECONDS: '2',
  });
  users = await harness.seedUsers(10);
  // One dead refresh token: needs-reconnect.
  const dead = users[9]!;
  await expireAccessTokens(harness.db, [dead.sub]);
  harness.standIn.control.requireReauth(dead.email);
  const source: ExportSource = {
    produce(input) {
      if (failing.has(input.connection.sub))
        throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
      return connectionReportSource.produce(input);
    },
  };
  published = memoryPublisher();
  deps = await harness.deps({ publisher: published, jobs: [createDriveExportJob({ source })] });
});

afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

const handle = () => workerHandler(() => Promise.resolve(deps));

/** Delivers a published work message as Pub/Sub would, with its delivery attempt. */
async function deliver(data: unknown, messageId: string, deliveryAttempt: number) {
  const message = { data: Buffer.from(JSON.stringify(data)).toString('base64'), messageId };
  return handle()({ data: { message, deliveryAttempt } }).catch((error: unknown) => error);
}

const lines = (message: string) => harness.logs.filter((line) => line.message === message);

describe('the dashboard signals of a run', () => {
  it('users finished: each user once per outcome, redelivered or delivered twice, with the time into the run', async () => {
    const scheduledAt = Date.parse('2026-12-10T03:00:00Z');
    const run = await dispatchRun(deps, { scheduledAt });
    expect(run).toMatchObject({ kind: 'dispatched', batches: 2, users: 10 });
    const batches = published.messages.map((m) => m.data as { batchId: string; subs: string[] });
    const [a, b] = batches;
    if (!a || !b) throw new Error('two batches expected');
    const victim = a.subs.find((sub) => sub !== users[9]!.sub)!;
    failing.add(victim);
    /** The users finished lines one delivery logs. */
    const delivered = async (batch: typeof a, id: string, attempt: number) => {
      const from = harness.logs.length;
      await deliver(batch, id, attempt);
      return harness.logs
        .slice(from)
        .filter((line) => line.message === USERS_FINISHED)
        .map((line) => [line.batchId, line.outcome, line.users]);
    };
    const sum = (found: unknown[][]) => found.reduce((n, [, , users]) => n + (users as number), 0);
    // The first batch leaves the victim for redelivery; the second finishes its five.
    expect(sum(await delivered(a, 'm0', 1))).toBe(4);
    expect(sum(await delivered(b, 'm1', 1))).toBe(5);
    failing.clear();
    expect(await delivered(a, 'm0', 2)).toEqual([[a.batchId, 'ok', 1]]);
    // A duplicate delivery of a finished batch finishes nobody.
    expect(await delivered(b, 'm1', 2)).toEqual([]);

    const finished = lines(USERS_FINISHED);
    const total: Record<string, number> = {};
    for (const line of finished) {
      expect(line).toMatchObject({ severity: 'INFO', runId: run.runId });
      expect([a.batchId, b.batchId]).toContain(line.batchId);
      expect(typeof line.runElapsedSeconds).toBe('number');
      expect(line.runElapsedSeconds as number).toBeGreaterThanOrEqual(0);
      total[line.outcome as string] = (total[line.outcome as string] ?? 0) + (line.users as number);
    }
    expect(total).toEqual({ ok: 9, 'needs-reconnect': 1 });
    const report = await readRunReport(harness.db, run.runId);
    expect(report?.outcomes).toEqual(total);
  });

  it('dead letters: one ERROR line with alert work_dead_lettered per message, with its reason', async () => {
    const scheduledAt = Date.parse('2026-12-11T03:00:00Z');
    const before = published.messages.length;
    const run = await dispatchRun(deps, { scheduledAt });
    const batch = published.messages[before]?.data as { batchId: string; subs: string[] };
    failing.add(batch.subs[0]!);
    // The last delivery: users still failing are dead-lettered with the message.
    await deliver(batch, 'm-last', deps.maxDeliveryAttempts);
    await deliver(batch, 'm-after', deps.maxDeliveryAttempts + 1);
    await deliver({ v: 1, runId: run.runId, batchId: 'b99', subs: batch.subs }, 'm-forged', 1);
    await deliver('not a batch', 'm-malformed', 1);
    failing.clear();

    const alerts = harness.logs.filter((line) => line.alert === DEAD_LETTER_ALERT);
    expect(alerts.map((line) => [line.severity, line.messageId, line.reason])).toEqual([
      ['ERROR', 'm-last', 'max_attempts'],
      ['ERROR', 'm-after', 'max_attempts'],
      ['ERROR', 'm-forged', 'forged'],
      ['ERROR', 'm-malformed', 'malformed'],
    ]);
    expect(alerts[0]).toMatchObject({ runId: run.runId, batchId: batch.batchId, users: 1 });
    expect(
      lines(USERS_FINISHED).filter((l) => l.runId === run.runId && l.outcome === 'dead-lettered'),
    ).toEqual([expect.objectContaining({ batchId: batch.batchId, users: 1 })]);
  });
});
