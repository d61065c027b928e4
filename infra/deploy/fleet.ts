// The worker fleet sized from the Google call budget (docs/deploy.md#sizing-the-worker-fleet).
// Instances beyond what the budget can feed make no run shorter: the quota binds, their lanes
// halve on 429s (docs/architecture.md#quota-aware-lanes) and they add billed time, lease renewals
// and longer deliveries (docs/scale.md#levers). Pure arithmetic.

export interface FleetInputs {
  /** GOOGLE_CALL_BUDGET: Google calls per second the run may spend. */
  readonly budgetPerSecond: number;
  /** GOOGLE_CALL_LATENCY_MS: the expected latency of one Google call. */
  readonly latencyMs: number;
  /** WORKER_CONCURRENCY: the lanes of one instance, each making one call at a time. */
  readonly lanes: number;
  /** --worker-max-instances, which wins over the arithmetic. */
  readonly override: number | undefined;
}

export interface WorkerFleet {
  readonly maxInstances: number;
  /** How maxInstances was reached, for the deploy's summary. */
  readonly reason: string;
}

/** Calls per second one instance makes while every lane is busy. */
function callsPerSecondPerInstance({ lanes, latencyMs }: FleetInputs): number {
  return (lanes * 1000) / latencyMs;
}

/** max(1, floor(budget / per instance)), unless the operator named the number. */
export function sizeWorkerFleet(inputs: FleetInputs): WorkerFleet {
  const perInstance = callsPerSecondPerInstance(inputs);
  const arithmetic = `${inputs.budgetPerSecond} calls/s budget / (${inputs.lanes} lanes × 1000 / ${inputs.latencyMs} ms = ${rate(perInstance)} calls/s per instance)`;
  const fromBudget = derived(inputs);
  if (inputs.override !== undefined)
    return {
      maxInstances: inputs.override,
      reason: `given by --worker-max-instances (the call budget would give ${fromBudget}: ${arithmetic})`,
    };
  return { maxInstances: fromBudget, reason: arithmetic };
}

/** budget / (lanes × 1000 / latency), in whole numbers so the floor is exact (no 2.999…). */
function derived({ budgetPerSecond, latencyMs, lanes }: FleetInputs): number {
  return Math.max(1, Math.floor((budgetPerSecond * latencyMs) / (lanes * 1000)));
}

/** A rate as a whole number when it is one, else to one decimal. */
function rate(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The summary's line: `worker --max-instances N: how`. */
export function fleetLine(fleet: WorkerFleet): string {
  return `worker --max-instances ${fleet.maxInstances}: ${fleet.reason}`;
}
