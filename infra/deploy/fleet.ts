// The worker fleet sized from the Google call budgets (docs/deploy.md#sizing-the-worker-fleet).
// Instances beyond what the budgets can feed make no run shorter: a quota binds, their lanes
// halve on 429s (docs/architecture.md#quota-aware-lanes) and they add billed time, lease renewals
// and longer deliveries (docs/scale.md#levers). Pure arithmetic.

/** The token endpoint's service: the runner refreshes each user once per run. */
const TOKEN_API = 'oauth2.googleapis.com';

export interface FleetInputs {
  /** GOOGLE_CALL_BUDGET: calls per second the run may spend on an API without its own budget. */
  readonly budgetPerSecond: number;
  /** GOOGLE_API_BUDGETS: calls per second of the APIs whose quota differs. */
  readonly apiBudgets: ReadonlyMap<string, number>;
  /** Google calls per user and run, by API: the refresh and every enabled job's (`calls`). */
  readonly callsPerUser: ReadonlyMap<string, number>;
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

interface Binding {
  readonly api: string;
  readonly budget: number;
  readonly calls: number;
  readonly instances: number;
}

/**
 * One instance finishes lanes × 1000 / latency / (calls per user) users a second; the API whose
 * budget / (its calls per user) allows the fewest users a second binds. The instances are
 * max(1, floor(that / per instance)), unless the operator named the number.
 */
export function sizeWorkerFleet(inputs: FleetInputs): WorkerFleet {
  const perUser = [...inputs.callsPerUser.values()].reduce((sum, calls) => sum + calls, 0) || 1;
  const bindings = [...inputs.callsPerUser]
    .filter(([, calls]) => calls > 0)
    .map(([api, calls]): Binding => {
      const budget = inputs.apiBudgets.get(api) ?? inputs.budgetPerSecond;
      // In whole numbers, so the floor is exact (no 2.999…).
      const instances = Math.floor(
        (budget * inputs.latencyMs * perUser) / (calls * inputs.lanes * 1000),
      );
      return { api, budget, calls, instances: Math.max(1, instances) };
    });
  const binding = bindings.reduce<Binding | undefined>(
    (least, one) => (least === undefined || one.instances < least.instances ? one : least),
    undefined,
  );
  const perInstance = (inputs.lanes * 1000) / inputs.latencyMs / perUser;
  const fromBudget = binding?.instances ?? 1;
  const arithmetic =
    binding === undefined
      ? 'no Google calls'
      : `${binding.api} binds first: ${binding.budget} calls/s / ${binding.calls} per user = ${rate(
          binding.budget / binding.calls,
        )} users/s, over (${inputs.lanes} lanes × 1000 / ${inputs.latencyMs} ms / ${perUser} calls per user = ${rate(
          perInstance,
        )} users/s per instance)`;
  if (inputs.override !== undefined)
    return {
      maxInstances: inputs.override,
      reason: `given by --worker-max-instances (the call budgets would give ${fromBudget}: ${arithmetic})`,
    };
  return { maxInstances: fromBudget, reason: arithmetic };
}

/**
 * The Google calls of one user's run, by API: its refresh, then the enabled jobs' calls. A DPoP
 * proof's Cloud KMS signature is left to the operator (docs/deploy.md#sizing-the-worker-fleet).
 */
export function callsPerUser(jobCalls: ReadonlyMap<string, number>): Map<string, number> {
  const calls = new Map([[TOKEN_API, 1]]);
  for (const [api, count] of jobCalls) calls.set(api, (calls.get(api) ?? 0) + count);
  return calls;
}

/** GOOGLE_API_BUDGETS' `service=calls` items, validated by the settings schema. */
export function parseApiBudgets(items: readonly string[]): Map<string, number> {
  return new Map(
    items.map((item) => {
      const [api, calls] = item.split('=');
      return [api!, Number(calls)];
    }),
  );
}

/** A rate as a whole number when it is one, else to one decimal. */
function rate(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The summary's line: `worker --max-instances N: how`. */
export function fleetLine(fleet: WorkerFleet): string {
  return `worker --max-instances ${fleet.maxInstances}: ${fleet.reason}`;
}
