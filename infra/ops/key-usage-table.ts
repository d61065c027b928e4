// The table `rotate-keys` and `security-status` print: each key id, its role in the keyset, and
// how many stored values it still seals (ids found only in stored values are flagged).
import type { Keyset } from '../../shared/crypto/keyset.ts';
import { table } from '../../shared/runs/report.ts';

export function keyUsageTable(
  keyset: Keyset | undefined,
  usage: ReadonlyMap<string, number>,
): string {
  const ids = [...new Set([...(keyset?.keyIds ?? []), ...usage.keys()])];
  const role = (id: string) =>
    keyset === undefined
      ? '?'
      : id === keyset.primaryId
        ? 'primary'
        : keyset.keyIds.includes(id)
          ? 'old'
          : 'NOT IN KEYSET';
  return table(
    ['key id', 'role', 'sealed values'],
    ids.map((id) => [id, role(id), String(usage.get(id) ?? 0)]),
  );
}
