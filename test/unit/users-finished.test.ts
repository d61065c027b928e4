// The dashboard's `users finished` lines (shared/runs/users-finished.ts): a delivery counts only
// the users it finished itself, never those an earlier delivery of the batch finished, and says
// how far into the run it is.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import type { FinalOutcome } from '../../shared/runs/ledger.ts';
import {
  finishedByDelivery,
  logUsersFinished,
  USERS_FINISHED,
} from '../../shared/runs/users-finished.ts';

describe('finishedByDelivery', () => {
  it('a first delivery: every outcome of the batch', () => {
    expect(finishedByDelivery({ ok: 95, failed: 2, 'needs-reconnect': 1 }, [])).toEqual([
      { outcome: 'failed', users: 2 },
      { outcome: 'needs-reconnect', users: 1 },
      { outcome: 'ok', users: 95 },
    ]);
  });

  it('a redelivery: less the users the ledger had before it started; nothing when it finished none', () => {
    const before: { outcome: FinalOutcome }[] = [
      ...Array<{ outcome: FinalOutcome }>(95).fill({ outcome: 'ok' }),
      { outcome: 'failed' },
    ];
    expect(finishedByDelivery({ ok: 98, failed: 1, 'dead-lettered': 1 }, before)).toEqual([
      { outcome: 'dead-lettered', users: 1 },
      { outcome: 'ok', users: 3 },
    ]);
    expect(finishedByDelivery({ ok: 95, failed: 1 }, before)).toEqual([]);
  });
});

describe('logUsersFinished', () => {
  const lines = (timing: { runStartedAt: number | undefined; now: number }) => {
    const out: Record<string, unknown>[] = [];
    const log = createLogger({
      sink: (line) => out.push(JSON.parse(line) as Record<string, unknown>),
    }).child({ runId: '2026-11-22_86400s', batchId: 'b3' });
    logUsersFinished(
      log,
      [
        { outcome: 'ok', users: 40 },
        { outcome: 'skipped', users: 2 },
      ],
      timing,
    );
    return out.map(({ time: _time, ...rest }) => rest);
  };

  it('one INFO line per outcome, with the run, the batch and the seconds since the run started', () => {
    expect(lines({ runStartedAt: 1_000, now: 3_601_400 })).toEqual([
      {
        severity: 'INFO',
        message: USERS_FINISHED,
        runId: '2026-11-22_86400s',
        batchId: 'b3',
        outcome: 'ok',
        users: 40,
        runElapsedSeconds: 3600,
      },
      {
        severity: 'INFO',
        message: USERS_FINISHED,
        runId: '2026-11-22_86400s',
        batchId: 'b3',
        outcome: 'skipped',
        users: 2,
        runElapsedSeconds: 3600,
      },
    ]);
  });

  it('no elapsed time without a run document, or with a clock behind its start', () => {
    for (const timing of [
      { runStartedAt: undefined, now: 5_000 },
      { runStartedAt: 9_000, now: 5_000 },
    ])
      for (const line of lines(timing)) expect(line).not.toHaveProperty('runElapsedSeconds');
  });
});
