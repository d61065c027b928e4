// The capacity plan's simulator (infra/plan/, docs/scale.md): the invariants any faithful model of
// a run must keep, whatever its inputs, on small runs. Counts and simulated time only: no
// wall-clock figure is asserted.
import { describe, expect, it } from 'vitest';
import { formatPlan } from '../../infra/plan/format.ts';
import { defaultInputs, parsePlanArgs, type PlanInputs } from '../../infra/plan/inputs.ts';
import { bindingLimit, limitsOf } from '../../infra/plan/limits.ts';
import { simulateRun } from '../../infra/plan/model.ts';

const small = (overrides: Partial<PlanInputs> = {}) =>
  simulateRun(defaultInputs({ users: 3000, ...overrides }));

/** Inputs that make users meet 429s, budgets run out and batches come back for redelivery. */
const SCENARIOS: Partial<PlanInputs>[] = [
  {},
  { quotaPerSecond: 50, maxInstances: 1 },
  { quotaPerSecond: 100, maxInstances: 20, lanes: 'adaptive' },
  { quotaPerSecond: 50, userBudgetS: 2 },
  { quotaPerSecond: 0, batchSize: 37, deliveries: 1, concurrency: 3 },
  { tokenQuotaPerSecond: 40, quotaPerSecond: 0, dpop: 'kms' },
  { shards: 4, batchSize: 500 },
];

describe('the simulated run', () => {
  it.each(SCENARIOS)('runs every user exactly once: %j', (scenario) => {
    const result = small(scenario);
    expect(result.deadLetteredUsers).toBe(0);
    expect(result.once).toBe(3000);
    expect(result.twice).toBe(0);
    expect(result.never).toBe(0);
  });

  it('keeps users exactly once through redeliveries (users left pending when their budget ran out)', () => {
    const result = small({ quotaPerSecond: 50, userBudgetS: 2 });
    expect(result.cloudRun.redelivered).toBeGreaterThan(0);
    expect(result.calls.drive.refused).toBeGreaterThan(0);
    expect(result.once).toBe(3000);
  });

  it.each(SCENARIOS)('lasts at least the quota-bound floor (calls / quota): %j', (scenario) => {
    const result = small(scenario);
    const { quotaPerSecond: drive, tokenQuotaPerSecond: token } = result.inputs;
    // A bucket holds one second's worth: it hands that out at once, the rest at the quota's rate.
    if (drive > 0)
      expect(result.durationMs).toBeGreaterThanOrEqual(((3000 - drive) / drive) * 1000);
    if (token > 0)
      expect(result.durationMs).toBeGreaterThanOrEqual(((3000 - token) / token) * 1000);
    expect(result.durationMs).toBeGreaterThanOrEqual(result.quotaFloorMs);
    expect(result.calls.drive.accepted).toBe(3000);
    // Each dispatcher also refreshes a token that cannot exist, once (the OAuth client check).
    expect(result.calls.token.accepted).toBe(3000 + result.inputs.shards);
  });

  it.each([1, 2, 3])(
    'is never slower with more instances while no quota binds (seed %i)',
    (seed) => {
      const durations = [1, 2, 3, 4, 8, 16].map(
        (maxInstances) => small({ seed, maxInstances, quotaPerSecond: 0 }).durationMs,
      );
      for (let i = 1; i < durations.length; i++)
        expect(durations[i]).toBeLessThanOrEqual(durations[i - 1]!);
      expect(durations.at(-1)).toBeLessThan(durations[0]!);
    },
  );

  it.each([
    ['fixed', 1],
    ['adaptive', 2],
  ] as const)('is never faster with a smaller quota (%s lanes, seed %i)', (lanes, seed) => {
    const durations = [800, 400, 200, 100, 50, 25].map(
      (quotaPerSecond) => small({ seed, lanes, quotaPerSecond }).durationMs,
    );
    for (let i = 1; i < durations.length; i++)
      expect(durations[i]).toBeGreaterThanOrEqual(durations[i - 1]!);
    expect(durations.at(-1)).toBeGreaterThan(durations[0]!);
  });

  it('is the same run, figure for figure, for the same seed', () => {
    const inputs = { quotaPerSecond: 100, lanes: 'adaptive', seed: 7 } as const;
    const first = small(inputs);
    expect(small(inputs)).toEqual(first);
    expect(formatPlan(small(inputs))).toBe(formatPlan(first));
    expect(small({ ...inputs, seed: 8 }).durationMs).not.toBe(first.durationMs);
  });

  it("costs the bench's Firestore reads and writes per connection", () => {
    // bench:run, one worker, no quota, 100 users per batch: 4.02 reads and 3.03 writes each.
    const result = small({ maxInstances: 1, quotaPerSecond: 0 });
    expect(result.firestore.reads / 3000).toBeCloseTo(4.02, 2);
    expect(result.firestore.writes / 3000).toBeCloseTo(3.03, 2);
    expect((result.calls.token.accepted + result.calls.drive.accepted) / 3000).toBeCloseTo(2, 2);
  });

  it('names the dispatcher timeout when paging outlasts it: a redelivered tick finds the lease held', () => {
    const result = small({ dispatchTimeoutS: 1 });
    expect(result.dispatch.timeouts).toBe(1);
    expect(result.dispatch.stalled).toBe(1);
    expect(result.never).toBe(3000 - result.dispatch.dispatched);
    expect(result.never).toBeGreaterThan(0);
    expect(result.twice).toBe(0);
    expect(bindingLimit(limitsOf(result))?.name).toBe('dispatcher timeout');
  });

  it('names the Drive quota when it is the slowest limit and nothing failed', () => {
    const result = small({ quotaPerSecond: 50, maxInstances: 2 });
    expect(bindingLimit(limitsOf(result))?.name).toBe('Drive API quota');
  });
});

describe('parsePlanArgs', () => {
  it('takes the documented flags, both spellings, and fills in every default', () => {
    const parsed = parsePlanArgs([
      '--users',
      '1_000_000',
      '--batch-size=500',
      '--latency',
      '80',
      '--max-instances',
      '3',
      '--quota-per-second',
      '150.5',
      '--lanes',
      'adaptive',
    ]);
    expect(parsed).toEqual({
      ok: true,
      inputs: defaultInputs({
        users: 1_000_000,
        batchSize: 500,
        latency: 80,
        maxInstances: 3,
        quotaPerSecond: 150.5,
        lanes: 'adaptive',
      }),
    });
  });

  it.each([
    [['--users', '0'], '--users must be a whole number from 1 to 100000000'],
    [['--users', '1.5'], '--users must be a whole number from 1 to 100000000'],
    [['--batch-size', '501'], '--batch-size must be a whole number from 1 to 500'],
    [['--latency', 'fast'], '--latency must be a number from 0 to 60000'],
    [['--lanes', 'many'], '--lanes must be one of fixed, adaptive'],
    [['--quota-per-second'], '--quota-per-second needs a value'],
    [['--users', '--latency', '5'], '--users needs a value'],
    [['--bogus', '1'], 'unknown flag --bogus'],
    [['stray'], 'unexpected argument stray'],
  ])('refuses %j: %s', (argv, problem) => {
    const parsed = parsePlanArgs(argv);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems).toContain(problem);
  });

  it('answers --help with no problems', () => {
    expect(parsePlanArgs(['--help'])).toEqual({ ok: false, help: true, problems: [] });
  });
});
