// The report's percentiles come from counts alone (shared/runs/ledger-stats.ts): for any data the
// search must answer what sorting every value would (nearest rank), in few rounds of counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { percentileByCounts } from '../../shared/runs/ledger-stats.ts';

/** Nearest-rank percentile of the values, by sorting them all. */
function sorted(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const ordered = [...values].sort((a, b) => a - b);
  const rank = Math.min(ordered.length, Math.max(1, Math.ceil(q * ordered.length)));
  return ordered[rank - 1];
}

/** Counts values in (low, high], as count() with two range filters on one field would. */
function counter(values: readonly number[]) {
  let calls = 0;
  let matched = 0;
  return {
    between: (low: number, high: number) => {
      calls += 1;
      const count = values.filter((value) => value > low && value <= high).length;
      matched += count;
      return Promise.resolve(count);
    },
    calls: () => calls,
    matched: () => matched,
  };
}

describe('percentileByCounts', () => {
  it.each([
    [[], 0.5, undefined],
    [[0], 0.5, 0],
    [[7], 0.95, 7],
    [[1, 2, 3, 4], 0.5, 2],
    [[1, 2, 3, 4], 0.95, 4],
    [[5, 5, 5, 5, 900], 0.5, 5],
    [[0, 0, 0, 120_000], 0.95, 120_000],
  ])('%j at %d is %j', async (values, q, expected) => {
    const { between } = counter(values);
    const max = Math.max(0, ...values);
    expect(await percentileByCounts(between, { total: values.length, max }, q)).toBe(expected);
  });

  it('equals the nearest rank of the sorted values, for any integer data', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 60 }),
        fc.constantFrom(0.01, 0.5, 0.9, 0.95, 0.99, 1),
        async (values, q) => {
          const { between } = counter(values);
          const max = Math.max(...values);
          expect(await percentileByCounts(between, { total: values.length, max }, q)).toBe(
            sorted(values, q),
          );
        },
      ),
    );
  });

  it('needs about log9(max) rounds of 8 counts, each round matching at most the values left', async () => {
    const values = Array.from({ length: 5000 }, (_, index) => (index * 7919) % 120_001);
    const spread = counter(values);
    await percentileByCounts(spread.between, { total: values.length, max: 120_000 }, 0.95);
    // ceil(log9(120,001)) = 6 rounds.
    expect(spread.calls()).toBeLessThanOrEqual(6 * 8);
    // Spread values: the interval left holds about a ninth of them after each round.
    expect(spread.matched()).toBeLessThan(1.2 * values.length);
    // All alike: every round matches them all, never more.
    const alike = counter(values.map(() => 1500));
    await percentileByCounts(alike.between, { total: values.length, max: 120_000 }, 0.5);
    expect(alike.matched()).toBeLessThanOrEqual(6 * values.length);
  });
});
