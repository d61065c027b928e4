// Which limit binds (docs/scale.md#the-binding-limit): each limit's bound, worked out from the
// inputs alone, next to what the simulated run met. Hard limits (a stalled dispatcher, dead
// letters, deliveries past their timeout) fail users and come first; of the rate limits, the one
// that allows the longest run is the bottleneck. Each names the levers that move it.
import type { PlanInputs } from './inputs.ts';
import type { PlanResult } from './model.ts';

export interface Limit {
  readonly name: string;
  /** The bound at these inputs, in words. */
  readonly bound: string;
  /** What the simulated run met. */
  readonly met: string;
  /** hard: users fail when it binds; rate: it bounds the run's length; check: a warning. */
  readonly kind: 'hard' | 'rate' | 'check';
  /** Met (hard, check); rate limits bind by being the slowest (bindingLimit). */
  readonly binds: boolean;
  /** For rate limits: the shortest run this limit allows. */
  readonly floorS?: number;
  readonly levers: string;
}

const count = (value: number) => Math.round(value).toLocaleString('en-US');
const s = (ms: number) => `${count(ms / 1000)} s`;

/** One user's time in a Google lane: CPU, the refresh (and a KMS sign), a read, the upload. */
export function laneMs(inputs: PlanInputs): number {
  return (
    inputs.cpuMsPerUser / inputs.vcpu +
    (inputs.dpop === 'kms' ? inputs.kmsMs : 0) +
    inputs.latency +
    inputs.firestoreMs +
    inputs.driveLatency
  );
}

/** Users per second one instance can run: its lanes, or its CPU, whichever is less. */
export function instanceRate(inputs: PlanInputs): number {
  return Math.min(
    (inputs.concurrency * 1000) / laneMs(inputs),
    (1000 * inputs.vcpu) / inputs.cpuMsPerUser,
  );
}

/**
 * One dispatcher page in the steady state: the dispatched record, the publish and the cursor,
 * with the next page's query read meanwhile (only what outlasts them waits).
 */
export function pageMs(inputs: PlanInputs): number {
  const writesMs = 2 * inputs.firestoreMs + inputs.publishMs;
  return (
    writesMs + Math.max(0, inputs.firestoreMs + inputs.queryMsPerDoc * inputs.batchSize - writesMs)
  );
}

export function limitsOf(result: PlanResult): Limit[] {
  const { inputs } = result;
  const n = inputs.users;
  const pagesPerShard = Math.ceil(Math.ceil(n / inputs.shards) / inputs.batchSize);
  const pagingMs = pagesPerShard * pageMs(inputs);
  const fleetRate = inputs.maxInstances * instanceRate(inputs);
  // One upload per user: an instance makes as many Drive calls per second as it runs users.
  const instancesForQuota =
    inputs.quotaPerSecond > 0 ? Math.ceil(inputs.quotaPerSecond / instanceRate(inputs)) : undefined;
  const slots = inputs.maxInstances * inputs.deliveries;
  const undispatched = n - Math.min(n, result.dispatch.dispatched);
  const refused = result.calls.drive.refused + result.calls.token.refused;
  return [
    {
      name: 'dispatcher timeout',
      bound: `${count(pagesPerShard)} pages × ${pageMs(inputs).toFixed(0)} ms = ${s(pagingMs)} of paging per dispatcher; --timeout ${inputs.dispatchTimeoutS} s, handed over every ${inputs.dispatchSliceS} s`,
      met:
        result.dispatch.stalled > 0
          ? `timed out; the redelivered tick found the lease held and was acknowledged: ${count(undispatched)} users never dispatched`
          : result.dispatch.timeouts > 0
            ? `timed out ${result.dispatch.timeouts}×, resumed`
            : `done in ${s(result.dispatch.doneMs)}${result.dispatch.handovers > 0 ? `, handed over ${result.dispatch.handovers}×` : ''}`,
      kind: 'hard',
      binds: undispatched > 0,
      levers:
        '--batch-size up to 500 (fewer pages); shard the run by sub hash; a shorter slice (DISPATCH_SLICE_MS) if a page ever nears the timeout',
    },
    {
      name: 'dead-letter policy',
      bound: `${inputs.maxDeliveryAttempts} delivery attempts per message, Cloud Run's 429s included`,
      met: `${count(result.push.deadLettered)} messages dead-lettered; ${count(result.deadLetteredUsers)} users; ${count(result.cloudRun.refused)} pushes refused (no instance within ${s(result.cloudRun.pendingTimeoutMs)})`,
      kind: 'hard',
      binds: result.deadLetteredUsers > 0,
      levers: 'more instances than the push window keeps busy; smaller batches; more attempts',
    },
    {
      name: 'worker timeout',
      bound: `--timeout ${inputs.workerTimeoutS} s per delivery`,
      met: `slowest delivery ${s(result.cloudRun.slowestDeliveryMs)}; ${count(result.cloudRun.timedOut)} past the timeout`,
      kind: 'hard',
      binds: result.cloudRun.timedOut > 0,
      levers:
        'smaller --batch-size; fewer --deliveries per instance; fewer instances waiting on a quota',
    },
    {
      name: 'Drive API quota',
      bound:
        inputs.quotaPerSecond > 0
          ? `${count(n)} uploads / ${inputs.quotaPerSecond} per s = ${s((n / inputs.quotaPerSecond) * 1000)}`
          : 'none set',
      met: `${count(result.calls.drive.refused)} calls answered 429; peak ${count(result.peakCallsPerSecond)} Google calls/s accepted, ${count(result.peakSentPerSecond)} sent`,
      kind: 'rate',
      binds: false,
      ...(inputs.quotaPerSecond > 0 ? { floorS: n / inputs.quotaPerSecond } : {}),
      levers:
        'a quota increase (console, Quotas page); one upload per user is already the floor; the run may spread over its period',
    },
    {
      name: 'token endpoint quota',
      bound:
        inputs.tokenQuotaPerSecond > 0
          ? `${count(n)} refreshes / ${inputs.tokenQuotaPerSecond} per s = ${s((n / inputs.tokenQuotaPerSecond) * 1000)}`
          : 'none published; none set',
      met: `${count(result.calls.token.refused)} refreshes answered 429`,
      kind: 'rate',
      binds: false,
      ...(inputs.tokenQuotaPerSecond > 0 ? { floorS: n / inputs.tokenQuotaPerSecond } : {}),
      levers:
        'reuse access tokens that outlive the run (a run more often than hourly refreshes less)',
    },
    {
      name: 'worker fleet',
      bound: `${inputs.maxInstances} instances × ${instanceRate(inputs).toFixed(0)} users/s (${inputs.concurrency} lanes of ${laneMs(inputs).toFixed(0)} ms, or ${inputs.vcpu} vCPU at ${inputs.cpuMsPerUser} ms per user) = ${count(fleetRate)} users/s`,
      met: `${result.cloudRun.peakInstances} instances at the peak, ${result.cloudRun.starts} started`,
      kind: 'rate',
      binds: false,
      floorS: n / fleetRate,
      levers: '--max-instances; --concurrency (lanes); more vCPU when the CPU is the bound',
    },
    {
      name: 'push window',
      bound: `${count(inputs.pushWindowFloor)} outstanding messages once pushes take over ${inputs.pushLatencyTargetMs} ms; the fleet takes ${count(slots)} at once`,
      met: `peak window ${result.push.peakWindow.toFixed(0)}, ${count(result.push.peakOutstanding)} outstanding`,
      kind: 'check',
      binds: slots > inputs.pushWindowFloor,
      levers: 'larger batches (more users per outstanding message)',
    },
    {
      name: 'quota vs fleet',
      bound:
        instancesForQuota === undefined
          ? 'no Drive quota set'
          : `${count(inputs.quotaPerSecond)} Drive calls/s are used up by ${instancesForQuota} instance(s) of ${instanceRate(inputs).toFixed(0)} users/s; --max-instances ${inputs.maxInstances}`,
      met: `${count(refused)} Google calls answered 429 (${((100 * refused) / Math.max(1, result.calls.drive.sent + result.calls.token.sent)).toFixed(0)}% of those sent); ${s(result.cloudRun.billableMs)} of billed instance time`,
      kind: 'check',
      binds: instancesForQuota !== undefined && inputs.maxInstances > instancesForQuota,
      levers: '--max-instances from the quota (issue 14 item 3); --lanes adaptive',
    },
    {
      name: 'Firestore ramp (500/50/5)',
      bound:
        '500 writes/s to start, 50% more every 5 minutes (writes in dispatch order: a narrow key range)',
      met:
        result.firestore.rampExceeded === undefined
          ? `peak ${count(result.firestore.peakWritesPerSecond)} writes/s, within the ramp`
          : `${count(result.firestore.rampExceeded.count)} writes in second ${result.firestore.rampExceeded.second}; peak ${count(result.firestore.peakWritesPerSecond)} writes/s`,
      kind: 'check',
      binds: result.firestore.rampExceeded !== undefined,
      levers: 'shard by sub hash (writes spread over the key range); fewer instances at the start',
    },
    {
      name: 'Drive per-user quota',
      bound: `${count(inputs.driveUserQuotaPerMinute)} calls per minute per user`,
      met: 'one upload per user per run',
      kind: 'check',
      binds: inputs.driveUserQuotaPerMinute < 1,
      levers: 'none needed',
    },
    {
      name: 'run period',
      bound: `a run must end before the next tick, ${s(inputs.periodS * 1000)}`,
      met: `the run took ${s(result.durationMs)}`,
      kind: 'hard',
      binds: result.durationMs > inputs.periodS * 1000,
      levers: 'everything above; shard the run over several projects (separate quotas)',
    },
  ];
}

/** The limit that binds first: a hard one that failed users, else the slowest rate limit. */
export function bindingLimit(limits: readonly Limit[]): Limit | undefined {
  const hard = limits.find((limit) => limit.kind === 'hard' && limit.binds);
  if (hard !== undefined) return hard;
  return limits
    .filter((limit) => limit.kind === 'rate' && limit.floorS !== undefined)
    .reduce<Limit | undefined>(
      (slowest, limit) =>
        slowest === undefined || (limit.floorS ?? 0) > (slowest.floorS ?? 0) ? limit : slowest,
      undefined,
    );
}
