// Counting a run's ledger without reading its entries: Firestore count() aggregations, each billed
// one document read per batch of up to 1,000 index entries it matches
// (https://firebase.google.com/docs/firestore/query-data/aggregation-queries#pricing). Every
// query filters one field only, so the automatic single-field indexes serve it and no composite
// index is needed. A report of a 10,000-user run costs about 160 reads, not 10,000.
import type { FieldPath, Query } from '@google-cloud/firestore';

/** How many documents of `query` hold each value in `field`; values counted zero are left out. */
export async function countByValue(
  query: Query,
  field: string | FieldPath,
  values: readonly string[],
): Promise<Record<string, number>> {
  const counts = await Promise.all(
    values.map(async (value) => (await query.where(field, '==', value).count().get()).data().count),
  );
  const found: Record<string, number> = {};
  values.forEach((value, index) => {
    const count = counts[index] ?? 0;
    if (count > 0) found[value] = count;
  });
  return found;
}

export async function countAll(query: Query): Promise<number> {
  return (await query.count().get()).data().count;
}

/** The largest value of a numeric field, by its index (one document read); undefined: none. */
export async function largest(query: Query, field: string): Promise<unknown> {
  const top = await query.orderBy(field, 'desc').limit(1).select(field).get();
  return top.docs[0]?.get(field);
}

/** Probes per round of the search below: the rounds run one after the other, probes in parallel. */
const FANOUT = 8;

/**
 * The nearest-rank percentile `q` of `total` non-negative values, found from counts alone:
 * `between(low, high)` says how many values are in (low, high]. The answer is the least integer
 * `t` in [0, max] with at least ceil(q · total) values at most `t` (the value itself for integer
 * data). Each round cuts the interval left into FANOUT + 1 parts and counts the values in the
 * FANOUT slices below the last cut, which are disjoint: a round's counts together match at most
 * the values still in the interval (count() is billed by the index entries it matches), and
 * there are about log9(max) rounds.
 */
export async function percentileByCounts(
  between: (low: number, high: number) => Promise<number>,
  population: { readonly total: number; readonly max: number },
  q: number,
): Promise<number | undefined> {
  const { total, max } = population;
  if (total === 0) return undefined;
  const rank = Math.min(total, Math.max(1, Math.ceil(q * total)));
  // Invariant: `atBelow` (< rank) values are at most `below`; at least `rank` are at most `hi`.
  let below = -1;
  let atBelow = 0;
  let hi = Math.max(0, Math.ceil(max));
  while (hi - below > 1) {
    const gap = hi - below;
    const parts = Math.min(FANOUT, gap - 1) + 1;
    const probes = Array.from({ length: parts - 1 }, (_, index) =>
      Math.floor(below + ((index + 1) * gap) / parts),
    );
    const slices = await Promise.all(
      probes.map((probe, index) => between(index === 0 ? below : probes[index - 1]!, probe)),
    );
    for (const [index, probe] of probes.entries()) {
      const atMost = atBelow + (slices[index] ?? 0);
      if (atMost >= rank) {
        hi = probe;
        break;
      }
      atBelow = atMost;
      below = probe;
    }
  }
  return hi;
}
