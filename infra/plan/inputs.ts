// Every input of the capacity plan in one table: its flag, default, bounds, unit, meaning and
// where the default comes from (docs/scale.md#inputs). Defaults the code declares are read from
// it (the settings table, the deploy's function shapes and delivery policy), never copied; the
// rest are measured by the bench or documented by Google, and each names its source. Parsing is
// pure, argv in, inputs or every problem out, like infra/deploy/args.ts.
import { DELIVERY, FUNCTIONS, WORKER_DELIVERIES } from '../deploy/resources.ts';
import type { FunctionName } from '../../shared/settings/functions.ts';
import { RUNS_SETTINGS } from '../../shared/settings/table/runs.ts';
import { DISPATCH_SLICE_MS } from '../../shared/runs/deps.ts';

interface NumberInput {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly integer?: true;
  readonly unit: string;
  readonly doc: string;
  readonly source: string;
}

interface ChoiceInput<V extends string> {
  readonly default: V;
  readonly values: readonly V[];
  readonly doc: string;
  readonly source: string;
}

type RunsSettingName = (typeof RUNS_SETTINGS)[number]['name'];

/** A whole-number setting of the runs table, with its default and bounds. */
function runsSetting(name: RunsSettingName, input: Omit<NumberInput, 'default' | 'min' | 'max'>) {
  const spec = RUNS_SETTINGS.find((s) => s.name === name);
  if (spec?.kind !== 'integer') throw new Error(`${name} is not a whole-number runs setting`);
  return {
    ...input,
    default: Number(spec.default),
    min: spec.min,
    max: spec.max,
    integer: true,
  } as const;
}

/** A deployed function's size and limits, as the deploy sets them. */
export function functionShape(name: FunctionName) {
  const spec = FUNCTIONS.find((f) => f.name === name);
  if (spec === undefined) throw new Error(`no function ${name} in the deploy`);
  const memory = /^(\d+)(Mi|Gi)$/.exec(spec.memory);
  if (memory === null) throw new Error(`memory ${spec.memory} is not in Mi or Gi`);
  return {
    vcpu: Number(spec.cpu),
    memoryGib: Number(memory[1]) / (memory[2] === 'Mi' ? 1024 : 1),
    maxInstances: spec.maxInstances,
    timeoutSeconds: spec.timeoutSeconds,
  };
}

/** The delivery policy's durations ('10s') in seconds. */
function seconds(duration: string): number {
  const match = /^(\d+)s$/.exec(duration);
  if (match === null) throw new Error(`duration ${duration} is not in seconds`);
  return Number(match[1]);
}

// Bench figures (test/bench/README.md): `npm run bench:run` at N = 2,000, one worker, 50 ms of
// latency, C = 16, K = 4 measured, in the steady state, 2.00 Google calls per connection (one
// refresh, one upload), 4.02 Firestore reads and 3.03 writes per connection at 100 users per
// batch (4 and 3 per user, 2 and 3 per batch), 1.99 round trips per connection, and one Cloud
// KMS unwrap per process. `npm run bench:run -- --users 500 --naive-users 10` (2026-12-01, this
// repository's 2-core machine) measured the worker's CPU at 7.02 ms per user.
const BENCH = 'bench:run, N = 2,000 (test/bench/README.md)';
const WORKER = functionShape('worker');
const DISPATCHER = functionShape('dispatcher');
const PUSH_DOC = 'Pub/Sub push, delivery rate (https://cloud.google.com/pubsub/docs/push)';

export const INPUTS = {
  users: {
    default: 1_000_000,
    min: 1,
    max: 100_000_000,
    integer: true,
    unit: 'users',
    doc: 'connections in the daily run',
    source: 'the plan (issue 14)',
  },
  batchSize: runsSetting('RUN_BATCH_SIZE', {
    unit: 'users',
    doc: 'users per work message (RUN_BATCH_SIZE)',
    source: 'settings table default',
  }),
  concurrency: runsSetting('WORKER_CONCURRENCY', {
    unit: 'lanes',
    doc: 'users calling Google at once per instance (WORKER_CONCURRENCY)',
    source: 'settings table default',
  }),
  deliveries: {
    default: WORKER_DELIVERIES,
    min: 1,
    max: 1000,
    integer: true,
    unit: 'batches',
    doc: 'work messages one instance takes at once (its Cloud Run concurrency)',
    source: 'infra/deploy/resources.ts WORKER_DELIVERIES',
  },
  maxInstances: {
    default: WORKER.maxInstances,
    min: 1,
    max: 10_000,
    integer: true,
    unit: 'instances',
    doc: 'worker --max-instances',
    source: 'infra/deploy/resources.ts (worker)',
  },
  shards: {
    default: 1,
    min: 1,
    max: 1000,
    integer: true,
    unit: 'dispatchers',
    doc: 'what-if: the run split by sub hash over this many dispatchers paging in parallel',
    source: 'a lever (docs/scale.md#levers); the code has one dispatcher',
  },
  lanes: {
    default: 'adaptive',
    values: ['fixed', 'adaptive'],
    doc: 'lanes halved on 429 and earned back (the code), or fixed lanes (a what-if)',
    source: 'shared/runs/limiter.ts (docs/architecture.md#quota-aware-lanes)',
  } satisfies ChoiceInput<'fixed' | 'adaptive'>,
  dpop: {
    default: 'off',
    values: ['off', 'kms'],
    doc: 'kms: one Cloud KMS asymmetricSign per refresh, inside the lane',
    source: 'docs/deploy.md#dpop-keys-in-cloud-kms',
  } satisfies ChoiceInput<'off' | 'kms'>,
  seed: {
    default: 1,
    min: 0,
    max: 2 ** 31 - 1,
    integer: true,
    unit: '',
    doc: 'seed of every random draw (latency jitter, backoff jitter)',
    source: 'the plan',
  },
  cpuMsPerUser: {
    default: 7.02,
    min: 0,
    max: 10_000,
    unit: 'ms',
    doc: 'worker CPU per user (one vCPU runs one at a time)',
    source: 'bench:run --users 500 (2026-12-01); test/bench/README.md says about 7 ms',
  },
  readsPerUser: {
    default: 4,
    min: 0,
    max: 1000,
    unit: 'reads',
    doc: 'Firestore reads per user (page, lease bulk read, ledger, read before the job)',
    source: BENCH,
  },
  readsPerBatch: {
    default: 2,
    min: 0,
    max: 1000,
    unit: 'reads',
    doc: 'Firestore reads per batch delivery',
    source: BENCH,
  },
  writesPerUser: {
    default: 3,
    min: 0,
    max: 1000,
    unit: 'writes',
    doc: 'Firestore writes per user (lease; connection update with the ledger record)',
    source: BENCH,
  },
  writesPerBatch: {
    default: 3,
    min: 0,
    max: 1000,
    unit: 'writes',
    doc: 'Firestore writes per batch (dispatched record, run progress, batch summary)',
    source: BENCH,
  },
  deletesPerUser: {
    default: 1,
    min: 0,
    max: 1000,
    unit: 'deletes',
    doc: 'TTL deletes per user later on (the ledger record)',
    source: 'firestore.indexes.json TTL policies',
  },
  deletesPerBatch: {
    default: 2,
    min: 0,
    max: 1000,
    unit: 'deletes',
    doc: 'TTL deletes per batch later on (dispatched record, batch summary)',
    source: 'firestore.indexes.json TTL policies',
  },
  latency: {
    default: 50,
    min: 0,
    max: 60_000,
    unit: 'ms',
    doc: 'token endpoint call (mean; each draw is 0.5x to 1.5x)',
    source: BENCH,
  },
  driveLatency: {
    default: 50,
    min: 0,
    max: 60_000,
    unit: 'ms',
    doc: 'Drive upload call (mean; real uploads are often slower: try 300)',
    source: BENCH,
  },
  quotaPerSecond: {
    default: 200,
    min: 0,
    max: 1_000_000,
    unit: 'calls/s',
    doc: 'Drive API calls per second for the project (0: none)',
    source: 'Drive usage limits: 12,000 per 60 s per project (docs/scale.md#quotas)',
  },
  tokenQuotaPerSecond: {
    default: 0,
    min: 0,
    max: 1_000_000,
    unit: 'calls/s',
    doc: 'token endpoint refreshes per second for the project (0: none)',
    source: 'Google publishes none for refreshes (docs/scale.md#quotas)',
  },
  driveUserQuotaPerMinute: {
    default: 12_000,
    min: 1,
    max: 1_000_000,
    unit: 'calls/min',
    doc: 'Drive API calls per minute per user (checked against calls per user per run)',
    source: 'Drive usage limits (docs/scale.md#quotas)',
  },
  firestoreMs: {
    default: 15,
    min: 0,
    max: 10_000,
    unit: 'ms',
    doc: 'one Firestore round trip (a commit, a lookup) in the region',
    source: 'assumed; Google publishes none: measure in production',
  },
  queryMsPerDoc: {
    default: 0.1,
    min: 0,
    max: 100,
    unit: 'ms',
    doc: "each document of the dispatcher's page query, on top of a round trip",
    source: 'assumed',
  },
  publishMs: {
    default: 20,
    min: 0,
    max: 10_000,
    unit: 'ms',
    doc: 'one awaited publish (5 ms of client batching and a round trip)',
    source: 'shared/pubsub/publisher.ts batching; assumed round trip',
  },
  pushMs: {
    default: 10,
    min: 0,
    max: 10_000,
    unit: 'ms',
    doc: 'Pub/Sub to Cloud Run, one way',
    source: 'assumed',
  },
  kmsMs: {
    default: 10,
    min: 0,
    max: 10_000,
    unit: 'ms',
    doc: 'one Cloud KMS call (the unwrap at start-up, an asymmetricSign)',
    source: 'assumed',
  },
  coldStartMs: {
    default: 2500,
    min: 0,
    max: 600_000,
    unit: 'ms',
    doc: 'a new instance until it takes requests (platform, modules, keyset unwrap)',
    source: 'assumed; bench:coldstart measures the process part, ~0.4 s',
  },
  vcpu: {
    default: WORKER.vcpu,
    min: 0.08,
    max: 8,
    unit: 'vCPU',
    doc: 'worker CPU (what one instance runs at once)',
    source: 'infra/deploy/resources.ts (worker --cpu)',
  },
  memoryGib: {
    default: WORKER.memoryGib,
    min: 0.125,
    max: 32,
    unit: 'GiB',
    doc: 'worker memory (billed per GiB-second)',
    source: 'infra/deploy/resources.ts (worker --memory)',
  },
  autoscaleTarget: {
    default: 0.6,
    min: 0.01,
    max: 1,
    unit: '',
    doc: 'Cloud Run adds instances to keep requests at this share of their concurrency',
    source: 'https://cloud.google.com/run/docs/about-instance-autoscaling',
  },
  periodS: runsSetting('RUN_PERIOD_SECONDS', {
    unit: 's',
    doc: 'time between ticks (RUN_PERIOD_SECONDS): a run must end within it',
    source: 'settings table default',
  }),
  userBudgetS: runsSetting('USER_BUDGET_SECONDS', {
    unit: 's',
    doc: 'time per user per delivery, retries included (USER_BUDGET_SECONDS)',
    source: 'settings table default',
  }),
  maxDeliveryAttempts: {
    default: DELIVERY.maxDeliveryAttempts,
    min: 1,
    max: 100,
    integer: true,
    unit: 'attempts',
    doc: 'deliveries before Pub/Sub dead-letters a message (Cloud Run 429s count)',
    source: 'infra/deploy/resources.ts DELIVERY',
  },
  retryMinS: {
    default: seconds(DELIVERY.minimumBackoff),
    min: 0,
    max: 600,
    unit: 's',
    doc: "the subscriptions' retry policy, first wait (doubling)",
    source: 'infra/deploy/resources.ts DELIVERY',
  },
  retryMaxS: {
    default: seconds(DELIVERY.maximumBackoff),
    min: 0,
    max: 600,
    unit: 's',
    doc: "the subscriptions' retry policy, longest wait",
    source: 'infra/deploy/resources.ts DELIVERY',
  },
  leaseRenewS: {
    default: 2,
    min: 0.1,
    max: 3600,
    unit: 's',
    doc: 'a held user lease is renewed (one write) this often until the final write',
    source: 'shared/runs/user/lease-step.ts RENEW_EVERY_MS',
  },
  dispatchTimeoutS: {
    default: DISPATCHER.timeoutSeconds,
    min: 1,
    max: 3600,
    unit: 's',
    doc: 'dispatcher --timeout: one tick delivery is stopped after it',
    source: 'infra/deploy/resources.ts (dispatcher)',
  },
  dispatchSliceS: {
    default: DISPATCH_SLICE_MS / 1000,
    min: 1,
    max: 3600,
    unit: 's',
    doc: 'a dispatcher invocation pages this long, then hands the run over with a tick of its own',
    source: 'shared/runs/deps.ts DISPATCH_SLICE_MS',
  },
  dispatchLeaseS: {
    default: 120,
    min: 0,
    max: 3600,
    unit: 's',
    doc: "a redelivered tick resumes only once the dispatcher's lease has lapsed",
    source: 'shared/runs/dispatch.ts DISPATCH_LEASE_MS',
  },
  workerTimeoutS: {
    default: WORKER.timeoutSeconds,
    min: 1,
    max: 3600,
    unit: 's',
    doc: 'worker --timeout: a delivery is answered 504 (a retry) after it',
    source: 'infra/deploy/resources.ts (worker)',
  },
  pushWindowStart: {
    default: 3,
    min: 1,
    max: 1_000_000,
    unit: 'messages',
    doc: 'push window at the start (outstanding messages)',
    source: `${PUSH_DOC}: "a small single-digit window"`,
  },
  pushWindowFloor: {
    default: 3000,
    min: 1,
    max: 1_000_000,
    unit: 'messages',
    doc: 'push window: exponential below it; slow or failing acks bring it back to it',
    source: PUSH_DOC,
  },
  pushLatencyTargetMs: {
    default: 1000,
    min: 1,
    max: 600_000,
    unit: 'ms',
    doc: 'push latency above which the window grows no further',
    source: PUSH_DOC,
  },
  pushBackoffMinMs: {
    default: 100,
    min: 0,
    max: 600_000,
    unit: 'ms',
    doc: 'push backoff after a negative acknowledgement, first pause (doubling)',
    source: 'Pub/Sub push backoff (https://cloud.google.com/pubsub/docs/push#push_backoff)',
  },
  pushBackoffMaxMs: {
    default: 60_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    doc: 'push backoff, longest pause',
    source: 'Pub/Sub push backoff (https://cloud.google.com/pubsub/docs/push#push_backoff)',
  },
} as const;

type Inputs = typeof INPUTS;
export type InputName = keyof Inputs;

/** The inputs of one simulated run. */
export type PlanInputs = {
  readonly [K in InputName]: Inputs[K] extends { readonly values: readonly (infer V)[] }
    ? V
    : number;
};

export const INPUT_NAMES = Object.keys(INPUTS) as InputName[];

/** --batch-size for batchSize. */
export function flagOf(name: InputName): string {
  return `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

export function defaultInputs(overrides: Partial<PlanInputs> = {}): PlanInputs {
  const defaults = Object.fromEntries(INPUT_NAMES.map((name) => [name, INPUTS[name].default]));
  return { ...(defaults as PlanInputs), ...overrides };
}

export type ParseResult =
  | { readonly ok: true; readonly inputs: PlanInputs }
  | { readonly ok: false; readonly help: boolean; readonly problems: readonly string[] };

const NUMBER = /^-?(\d[\d_]*)(\.\d+)?$/;

/** One validator per input: a number within its bounds (whole if so declared), or one of its values. */
function parseValue(
  name: InputName,
  text: string,
): { value: number | string } | { problem: string } {
  const spec: NumberInput | ChoiceInput<string> = INPUTS[name];
  const flag = flagOf(name);
  if ('values' in spec)
    return spec.values.includes(text)
      ? { value: text }
      : { problem: `${flag} must be one of ${spec.values.join(', ')}` };
  const value = NUMBER.test(text) ? Number(text.replace(/_/g, '')) : Number.NaN;
  const kind = spec.integer ? 'a whole number' : 'a number';
  if (
    !Number.isFinite(value) ||
    (spec.integer && !Number.isInteger(value)) ||
    value < spec.min ||
    value > spec.max
  )
    return { problem: `${flag} must be ${kind} from ${spec.min} to ${spec.max}` };
  return { value };
}

export function parsePlanArgs(argv: readonly string[]): ParseResult {
  const problems: string[] = [];
  const values: Partial<Record<InputName, number | string>> = {};
  let help = false;
  const byFlag = new Map(INPUT_NAMES.map((name) => [flagOf(name), name]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const name = byFlag.get(flag);
    if (name === undefined) {
      problems.push(arg.startsWith('--') ? `unknown flag ${flag}` : `unexpected argument ${arg}`);
      continue;
    }
    const text = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (text === undefined || (eq === -1 && text.startsWith('--'))) {
      problems.push(`${flag} needs a value`);
      if (text !== undefined) i--;
      continue;
    }
    const parsed = parseValue(name, text);
    if ('problem' in parsed) problems.push(parsed.problem);
    else values[name] = parsed.value;
  }
  if (help || problems.length > 0) return { ok: false, help, problems };
  return { ok: true, inputs: defaultInputs(values as Partial<PlanInputs>) };
}

export function usage(): string {
  const rows = INPUT_NAMES.map((name) => {
    const spec: NumberInput | ChoiceInput<string> = INPUTS[name];
    const flag = 'values' in spec ? `${flagOf(name)} ${spec.values.join('|')}` : flagOf(name);
    const unit = 'unit' in spec && spec.unit !== '' ? ` ${spec.unit}` : '';
    return [flag, `${spec.doc} (default ${String(spec.default)}${unit})`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    'Usage: npm run simulate -- [--users N] [--flag value]...',
    '',
    ...rows.map(([flag, doc]) => `  ${flag.padEnd(width)}  ${doc}`),
    '',
    'The model, its inputs and their sources: docs/scale.md',
  ].join('\n');
}

/** Every input with its value, unit and source: printed with the results. */
export function describeInputs(inputs: PlanInputs): [string, string, string][] {
  return INPUT_NAMES.map((name) => {
    const spec: NumberInput | ChoiceInput<string> = INPUTS[name];
    const unit = 'unit' in spec && spec.unit !== '' ? ` ${spec.unit}` : '';
    const changed = inputs[name] === spec.default ? '' : ' (set)';
    return [flagOf(name), `${String(inputs[name])}${unit}${changed}`, spec.source];
  });
}
