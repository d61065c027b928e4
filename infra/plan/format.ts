// The plan as text: the run's figures, the limits and which one binds, the cost estimate with the
// price table it used and its date, and every input with its source (docs/scale.md#output).
import { describeInputs } from './inputs.ts';
import { bindingLimit, limitsOf } from './limits.ts';
import type { PlanResult } from './model.ts';
import { costOf, PRICES, PRICES_AS_OF } from './prices.ts';

const count = (value: number) => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits = 2) => value.toFixed(digits);

function duration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${count(total)} s (${h} h ${String(m).padStart(2, '0')} min)`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('  '),
    )
    .join('\n');
}

export function formatPlan(result: PlanResult): string {
  const { inputs, calls, cloudRun, push, firestore, dispatch } = result;
  const n = inputs.users;
  const seconds = result.durationMs / 1000;
  const googleAccepted = calls.token.accepted + calls.drive.accepted;
  const summary: string[][] = [
    ['connections', count(n)],
    [
      'users run exactly once',
      `${count(result.once)} (more than once: ${count(result.twice)}; never: ${count(result.never)})`,
    ],
    ['run duration (tick → last user)', duration(result.durationMs)],
    ['quota floor (Drive calls / quota)', duration(result.quotaFloorMs)],
    [
      'dispatcher',
      `${count(dispatch.pages)} pages; ${dispatch.stalled > 0 ? `stalled after its timeout, ${count(n - Math.min(n, dispatch.dispatched))} users never dispatched` : `all published after ${duration(dispatch.doneMs)}`}; ${dispatch.ticks} tick deliveries (${dispatch.handovers} hand-overs)`,
    ],
    [
      'worker instances',
      `peak ${count(cloudRun.peakInstances)} (--max-instances ${inputs.maxInstances}); billed ${count(cloudRun.billableMs / 1000)} instance-s; CPU busy ${fixed((100 * cloudRun.cpuBusyMs) / Math.max(1, cloudRun.billableMs), 0)}% of it`,
    ],
    [
      'Google calls per second',
      `peak ${count(result.peakCallsPerSecond)}, mean ${count(googleAccepted / Math.max(1, seconds))} (accepted); peak ${count(result.peakSentPerSecond)} sent, 429s included`,
    ],
    [
      'Google calls',
      `token ${count(calls.token.accepted)} + drive ${count(calls.drive.accepted)} = ${fixed(googleAccepted / n)} per connection; answered 429: token ${count(calls.token.refused)}, drive ${count(calls.drive.refused)}`,
    ],
    [
      'Pub/Sub push',
      `${count(push.pushes)} pushes: ${count(push.acks)} acked, ${count(cloudRun.redelivered)} retried by the worker, ${count(cloudRun.refused)} refused by Cloud Run (429), ${count(cloudRun.timedOut)} past the worker timeout; peak window ${count(push.peakWindow)}; paused ${count(push.pausedMs / 1000)} s by push backoff; ${count(push.deadLettered)} dead-lettered`,
    ],
    ['slowest delivery', duration(cloudRun.slowestDeliveryMs)],
    [
      'Firestore per connection',
      `${fixed(firestore.reads / n)} reads, ${fixed(firestore.writes / n)} writes, ${fixed(firestore.deletes / n)} TTL deletes; peak ${count(firestore.peakWritesPerSecond)} writes/s`,
    ],
    ['Cloud KMS calls', count(result.kmsCalls)],
    ['Secret Manager accesses', count(result.secretAccesses)],
  ];

  const limits = limitsOf(result);
  const binding = bindingLimit(limits);
  const limitRows = [
    ['limit', 'bound at these inputs', 'this run'],
    ...limits.map((limit) => [
      `${limit === binding ? '▶ ' : limit.binds ? '! ' : '  '}${limit.name}`,
      limit.bound,
      limit.met,
    ]),
  ];

  const costs = costOf(result);
  const total = costs.reduce((sum, line) => sum + line.usd, 0);
  const costRows = [
    ['item', 'quantity', 'USD'],
    ...costs.map((line) => [line.item, count(line.quantity), fixed(line.usd)]),
    ['total per run', '', fixed(total)],
    ['per 30 daily runs', '', fixed(total * 30)],
    ['per 1,000 users per run', '', fixed((total * 1000) / n, 4)],
  ];
  const priceRows = [
    ['price', 'USD', 'per', 'source'],
    ...Object.values(PRICES).map((price) => [
      price.what,
      String(price.usd),
      price.per,
      price.source,
    ]),
  ];

  return [
    `consent-vault: one daily run of ${count(n)} users, simulated (seed ${inputs.seed})`,
    '',
    table(summary),
    '',
    `binding limit: ${binding === undefined ? 'none' : `${binding.name}: ${binding.bound}`}`,
    binding === undefined ? '' : `levers: ${binding.levers}`,
    '',
    table(limitRows),
    '',
    `cost estimate (list prices as published on ${PRICES_AS_OF}, before free tiers; check before relying)`,
    table(costRows),
    '',
    `price table (${PRICES_AS_OF})`,
    table(priceRows),
    '',
    'inputs',
    table([['flag', 'value', 'source'], ...describeInputs(inputs)]),
  ].join('\n');
}
