// A bounded pool: at most `concurrency` calls in flight, results in input order. Each item's
// failure is the caller's to catch inside `work` (one user's failure never affects another's).
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from(
    { length: Math.min(Math.max(1, concurrency), items.length) },
    async () => {
      while (next < items.length) {
        const index = next;
        next += 1;
        results[index] = await work(items[index] as T, index);
      }
    },
  );
  await Promise.all(lanes);
  return results;
}
