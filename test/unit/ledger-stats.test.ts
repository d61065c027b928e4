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

function counter(values: readonly number[]) {
  let calls = 0;
  return {
    atMost: (limit: number) => {
      calls += 1;
      return Promise.resolve(values.filter((value) => value <= limit).length);
    },
    calls: () => calls,
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
    const { atMost } = counter(values);
    const max = Math.max(0, ...values);
    expect(await percentileByCounts(atMost, { total: values.length, max }, q)).toBe(expected);
  });

  it('equals the nearest rank of the sorted values, for any integer data', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 60 }),
        fc.constantFrom(0.01, 0.5, 0.9, 0.95, 0.99, 1),
        async (values, q) => {
          const { atMost } = counter(values);
          const max = Math.max(...values);
          expect(await percentileByCounts(atMost, { total: values.length, max }, q)).toBe(
            sorted(values, q),
          );
        },
      ),
    );
  });

  it('needs about log9(max) rounds of 8 counts, whatever the number of values', async () => {
    const values = Array.from({ length: 5000 }, (_, index) => (index * 7919) % 120_001);
    const { atMost, calls } = counter(values);
    await percentileByCounts(atMost, { total: values.length, max: 120_000 }, 0.95);
    // ceil(log9(120,001)) = 6 rounds.
    expect(calls()).toBeLessThanOrEqual(6 * 8);
  });
});
