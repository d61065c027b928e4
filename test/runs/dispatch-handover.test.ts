// A run of many pages outlasts one dispatcher invocation (540 s at most): past its slice the
// dispatcher records where it is, lets its lease go and publishes a tick for the same period, and
// the next invocation resumes from the cursor. Every user is dispatched exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPublisher } from '../../shared/pubsub/publisher.ts';
import { dispatchRun } from '../../shared/runs/dispatch.ts';
import { DISPATCHED } from '../../shared/runs/dispatched.ts';
import { runRef } from '../../shared/runs/ledger.ts';
import { startRunHarness, stopOwnEmulators, type RunHarness } from './harness.ts';

let harness: RunHarness;
beforeAll(async () => {
  harness = await startRunHarness('handover', { RUN_BATCH_SIZE: '3' });
});
afterAll(async () => {
  await harness?.close();
  await stopOwnEmulators();
});

describe('a dispatcher past its slice', () => {
  it('hands the run over page by page; the last invocation finishes it, each user once', async () => {
    const users = await harness.seedUsers(10, { prefix: 'handover' });
    const publisher = memoryPublisher();
    // A slice of zero: every invocation dispatches one page, then hands over.
    const deps = await harness.deps({ publisher, dispatchSliceMs: 0 });
    const { config } = harness.runtime;
    const scheduledAt = Date.parse('2027-03-01T05:00:00Z');
    const kinds: string[] = [];
    for (let invocation = 0; invocation < 10; invocation += 1) {
      const result = await dispatchRun(deps, { scheduledAt });
      kinds.push(result.kind);
      if (result.kind !== 'handed-over') break;
      const ticks = publisher.messages.filter(
        (message) => message.topic === config.pubsub.tickTopic,
      );
      expect(ticks).toHaveLength(kinds.length);
      expect(ticks.at(-1)?.data).toEqual({ scheduledTime: new Date(scheduledAt).toISOString() });
    }
    expect(kinds).toEqual(['handed-over', 'handed-over', 'handed-over', 'dispatched']);
    const runId = '2027-03-01_86400s';
    const run = (await runRef(harness.db, runId).get()).data()!;
    expect(run).toMatchObject({ status: 'dispatched', batches: 4, users: 10 });
    const records = await runRef(harness.db, runId).collection(DISPATCHED).get();
    const dispatched = records.docs.flatMap((doc) => doc.get('subs') as string[]);
    expect([...dispatched].sort()).toEqual(users.map((user) => user.sub).sort());
    const work = publisher.messages.filter((message) => message.topic === config.pubsub.workTopic);
    expect(work.flatMap((message) => (message.data as { subs: string[] }).subs)).toHaveLength(10);
  });
});
