// The dashboard and alerts of infra/monitoring/: the files are the shapes the APIs take, every
// metric reads a log line the code writes (the messages and alert values are the code's own
// constants, the fields those its lines carry), every name a chart or policy reads is defined
// once, and a broken file stops the deploy with a problem naming it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDeadlines, sameDefinition } from '../../infra/deploy/plan-monitoring.ts';
import { loadMonitoring, type Json } from '../../infra/monitoring/definitions.ts';
import { createLogger } from '../../shared/log.ts';
import {
  REVOKE_PENDING_LOG,
  REVOKE_REFUSED_ALERT,
} from '../../shared/revocation/revoke-connection.ts';
import { DEAD_LETTER_ALERT } from '../../shared/runs/dead-letter.ts';
import { CLIENT_CONFIG_ALERT, SIGNING_KEY_ALERT } from '../../shared/runs/halt.ts';
import { CONSENT_NEEDED_LOG, NEEDS_RECONNECT_LOG } from '../../shared/runs/user/outcome.ts';
import { logUsersFinished, USERS_FINISHED } from '../../shared/runs/users-finished.ts';
import { SETTING_SPECS } from '../../shared/settings/schema.ts';
import { ROOT } from './harness.ts';

const loaded = loadMonitoring(path.join(ROOT, 'infra/monitoring'));
if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
const { metrics, dashboard, policies } = loaded.definitions;
const all = [...metrics, dashboard, ...policies];
const policy = (file: string) => {
  const found = policies.find((p) => p.file.endsWith(`/policies/${file}`));
  if (found === undefined) throw new Error(`no policy ${file}`);
  return found;
};

/** Every filter of a definition: log filters of metrics and log-match conditions, metric filters. */
function filtersOf(body: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null)
      for (const [key, item] of Object.entries(value))
        if (key === 'filter' && typeof item === 'string') found.push(item);
        else walk(item);
  };
  walk(body);
  return found;
}

/** The string values a filter compares jsonPayload.FIELD with (`=` "a", or `=("a" OR "b")`). */
function valuesOf(filter: string, field: string): string[] {
  const values: string[] = [];
  const pattern = new RegExp(`jsonPayload\\.${field}=(\\("[^)]*\\)|"[^"]*")`, 'g');
  for (const [, compared = ''] of filter.matchAll(pattern))
    for (const [, value = ''] of compared.matchAll(/"([^"]*)"/g)) values.push(value);
  return values;
}

/** Every jsonPayload field a definition reads: in filters, value and label extractors. */
function fieldsOf(body: unknown): string[] {
  return [
    ...new Set([...JSON.stringify(body).matchAll(/jsonPayload\.(\w+)/g)].map((m) => m[1] ?? '')),
  ].sort();
}

/**
 * Where each other line the definitions read is logged, and the fields object of each such call:
 * a grep, for lines a unit test cannot make (the `users finished` line is made below, by the code).
 */
const SITES: readonly {
  readonly values: readonly string[];
  readonly file: string;
  readonly call: RegExp;
}[] = [
  {
    values: [NEEDS_RECONNECT_LOG],
    file: 'shared/runs/user/outcome.ts',
    call: /NEEDS_RECONNECT_LOG, \{([^}]*)\}/g,
  },
  {
    values: [CONSENT_NEEDED_LOG],
    file: 'shared/runs/user/outcome.ts',
    call: /CONSENT_NEEDED_LOG, \{([^}]*)\}/g,
  },
  {
    values: [REVOKE_PENDING_LOG],
    file: 'shared/revocation/revoke-connection.ts',
    call: /REVOKE_PENDING_LOG, \{([^}]*)\}/g,
  },
  {
    values: [REVOKE_REFUSED_ALERT],
    file: 'shared/revocation/revoke-connection.ts',
    call: /alert: REVOKE_REFUSED_ALERT,([^}]*)\}/g,
  },
  {
    values: [DEAD_LETTER_ALERT],
    file: 'shared/runs/worker.ts',
    call: /alert: DEAD_LETTER_ALERT,([^}]*)\}/g,
  },
  {
    values: [CLIENT_CONFIG_ALERT, SIGNING_KEY_ALERT],
    file: 'shared/runs/halt.ts',
    call: /alert: HALTS\[cause\]\.alert,([^}]*)\}/g,
  },
];

/** The fields every call at a site logs: the keys of its fields object, in each call. */
function fieldsAt(site: (typeof SITES)[number]): Set<string> {
  const source = readFileSync(path.join(ROOT, site.file), 'utf8');
  const calls = [...source.matchAll(site.call)].map(
    ([, fields = '']) =>
      new Set(
        fields
          .split(',')
          .map((part) => part.split(':')[0]?.trim() ?? '')
          .filter((key) => /^\w+$/.test(key)),
      ),
  );
  expect(calls.length, `${site.file} logs ${site.values.join(', ')}`).toBeGreaterThan(0);
  return new Set([...(calls[0] ?? [])].filter((key) => calls.every((call) => call.has(key))));
}

/** A real `users finished` line, as a worker delivery logs it. */
function usersFinishedLine(): Json {
  const lines: Json[] = [];
  const log = createLogger({ sink: (line) => lines.push(JSON.parse(line) as Json) }).child({
    runId: '2026-11-22_86400s',
    batchId: 'b7',
  });
  logUsersFinished(log, [{ outcome: 'needs-reconnect', users: 3 }], {
    runStartedAt: 0,
    now: 90_000,
  });
  return lines[0] ?? {};
}

describe('the dashboard and alerts of infra/monitoring/', () => {
  it('are the metrics, the dashboard and the four alerting policies the issue asks for', () => {
    expect(metrics.map((m) => m.name)).toEqual([
      'consent_vault_consent_needed',
      'consent_vault_dead_letters',
      'consent_vault_needs_reconnect',
      'consent_vault_revoke_pending',
      'consent_vault_run_elapsed',
      'consent_vault_users_finished',
    ]);
    expect(dashboard.displayName).toBe('consent-vault runs');
    expect(policies.map((p) => p.displayName).sort()).toEqual([
      'consent-vault: dead letters',
      'consent-vault: needs-reconnect rate above 5%',
      'consent-vault: run halted',
      'consent-vault: run not complete by its deadline',
    ]);
  });

  it('read only messages and alert values the code logs, named by its own constants', () => {
    const messages = new Set([
      USERS_FINISHED,
      NEEDS_RECONNECT_LOG,
      CONSENT_NEEDED_LOG,
      REVOKE_PENDING_LOG,
    ]);
    const alerts = new Set([
      DEAD_LETTER_ALERT,
      REVOKE_REFUSED_ALERT,
      CLIENT_CONFIG_ALERT,
      SIGNING_KEY_ALERT,
    ]);
    const read = { messages: new Set<string>(), alerts: new Set<string>() };
    for (const definition of all)
      for (const filter of filtersOf(definition.body)) {
        for (const value of valuesOf(filter, 'message')) {
          expect(messages, `${definition.file}: ${value}`).toContain(value);
          read.messages.add(value);
        }
        for (const value of valuesOf(filter, 'alert')) {
          expect(alerts, `${definition.file}: ${value}`).toContain(value);
          read.alerts.add(value);
        }
      }
    // And each of them is read by something.
    expect([...read.messages].sort()).toEqual([...messages].sort());
    expect([...read.alerts].sort()).toEqual([...alerts].sort());
  });

  it('read only fields the lines carry: the users finished line as the code logs it, the others at their call sites', () => {
    const line = usersFinishedLine();
    expect(line).toMatchObject({
      severity: 'INFO',
      message: USERS_FINISHED,
      runId: '2026-11-22_86400s',
      outcome: 'needs-reconnect',
      users: 3,
      runElapsedSeconds: 90,
    });
    const carried = new Map<string, Set<string>>([[USERS_FINISHED, new Set(Object.keys(line))]]);
    for (const site of SITES) for (const value of site.values) carried.set(value, fieldsAt(site));
    for (const definition of all) {
      const read = fieldsOf(definition.body).filter((f) => f !== 'message' && f !== 'alert');
      for (const filter of filtersOf(definition.body))
        for (const value of [...valuesOf(filter, 'message'), ...valuesOf(filter, 'alert')])
          for (const field of read)
            expect(carried.get(value), `${definition.file} reads ${field} of "${value}"`).toContain(
              field,
            );
    }
  });

  it('chart every metric on the dashboard, and read every label they group by', () => {
    expect(dashboard.metrics).toEqual(metrics.map((m) => m.name));
    const labels = new Map(
      metrics.map((m) => [
        m.name,
        new Set([
          ...((m.body.metricDescriptor as { labels?: { key: string }[] }).labels ?? []).map(
            (l) => l.key,
          ),
          'monitored_resource',
          'le',
        ]),
      ]),
    );
    for (const definition of [dashboard, ...policies]) {
      const text = JSON.stringify(definition.body);
      for (const [, name = '', selector = ''] of text.matchAll(
        /logging_googleapis_com:user_(\w+?)(?:_sum|_count|_bucket)?\{([^}]*)\}/g,
      ))
        for (const [, label = ''] of selector.matchAll(/(\w+)=/g))
          expect(labels.get(name), `${definition.file}: ${name} by ${label}`).toContain(label);
      for (const [, grouped = ''] of text.matchAll(/by \(([^)]*)\)/g))
        for (const label of grouped.split(',').map((l) => l.trim()))
          expect(
            [...labels.values()].some((set) => set.has(label)),
            `${definition.file} groups by ${label}`,
          ).toBe(true);
    }
  });

  it('say the deadline and the needs-reconnect threshold once each: the dashboard draws the policies', () => {
    const [deadline, ...others] = runDeadlines(policy('run-deadline.json').body);
    expect(others).toEqual([]);
    expect(deadline).toBe(21600);
    const period = SETTING_SPECS.find((spec) => spec.name === 'RUN_PERIOD_SECONDS')?.default;
    expect(deadline).toBeLessThan(Number(period));
    const query = JSON.stringify(policy('needs-reconnect-rate.json').body);
    const threshold = Number(/\) > ([\d.]+) and/.exec(query)?.[1]);
    expect(threshold).toBe(0.05);
    const thresholds = JSON.stringify(dashboard.body);
    expect(thresholds).toContain(`"label":"run deadline","value":${deadline}`);
    expect(thresholds).toContain(`"label":"alerting policy","value":${threshold}`);
  });

  it('are alerting policies the deploy can create before any channel: log-match ones rate-limit their notifications', () => {
    for (const { file, body } of policies) {
      const conditions = body.conditions as Json[];
      if (conditions.some((c) => 'conditionMatchedLog' in c)) {
        // https://cloud.google.com/monitoring/alerts/log-based-alerts: one condition only.
        expect(conditions, file).toHaveLength(1);
        expect(body.alertStrategy, file).toMatchObject({ notificationRateLimit: {} });
      }
      expect(body.enabled, file).toBe(true);
      expect(body.documentation, file).toMatchObject({ mimeType: 'text/markdown' });
      expect(JSON.stringify(body.documentation), file).toContain('docs/operations.md');
    }
  });
});

describe('loadMonitoring refuses a broken folder, naming the file', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the repository's folder with `change` applied to one file's JSON (or text). */
  function copyWith(file: string, change: (json: Json) => Json | string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'cv-monitoring-'));
    dirs.push(dir);
    for (const sub of ['metrics', 'policies']) mkdirSync(path.join(dir, sub));
    for (const definition of all) {
      const relative = path.relative(path.join(ROOT, 'infra/monitoring'), definition.file);
      const changed =
        relative === file ? change(structuredClone(definition.body)) : definition.body;
      writeFileSync(
        path.join(dir, relative),
        typeof changed === 'string' ? changed : JSON.stringify(changed),
      );
    }
    return dir;
  }

  const cases: [string, string, (json: Json) => Json | string, string][] = [
    [
      'policies/dead-letters.json',
      'a metric no file defines',
      (json) =>
        JSON.parse(
          JSON.stringify(json).replaceAll(
            'user/consent_vault_dead_letters',
            'user/consent_vault_dead_leters',
          ),
        ) as Json,
      'reads consent_vault_dead_leters, which no file in',
    ],
    [
      'policies/run-halted.json',
      'no display name',
      (json) => ({ ...json, displayName: undefined }),
      'needs a displayName',
    ],
    [
      'policies/run-halted.json',
      'the display name of another policy',
      (json) => ({ ...json, displayName: 'consent-vault: dead letters' }),
      'another policy is named consent-vault: dead letters',
    ],
    [
      'policies/run-halted.json',
      'channels of its own',
      (json) => ({ ...json, notificationChannels: ['x'] }),
      'no notificationChannels',
    ],
    ['dashboard.json', 'not JSON', () => '{ "displayName": ', 'not valid JSON'],
    [
      'metrics/consent_vault_users_finished.json',
      'a distribution without a value extractor',
      (json) => ({ ...json, valueExtractor: undefined }),
      'has a valueExtractor',
    ],
  ];
  it.each(cases)('%s: %s', (file, _, change, problem) => {
    const result = loadMonitoring(copyWith(file, change));
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.join('\n')).toContain(problem);
    expect(problems.join('\n')).toContain(file);
  });
});

describe('sameDefinition: what the project holds against a file', () => {
  it.each([
    [
      'the API adds names, etags and defaults',
      { a: 1, b: { c: 'x' } },
      { a: 1, b: { c: 'x', d: 2 }, etag: 'e' },
      true,
    ],
    [
      'a zero the API leaves out',
      { xPos: 0, ok: false, duration: '0s', list: [], o: {} },
      {},
      true,
    ],
    ['an int64 the API writes as a string', { count: 1 }, { count: '1' }, true],
    ['a changed value', { filter: 'a' }, { filter: 'b' }, false],
    ['a missing field that is not zero', { thresholdValue: 0.05 }, {}, false],
    ['an array of another length', { tiles: [{ w: 1 }] }, { tiles: [{ w: 1 }, { w: 2 }] }, false],
    ['array items compared in order', { bounds: [1, 2] }, { bounds: [2, 1] }, false],
  ])('%s', (_, wanted, found, same) => {
    expect(sameDefinition(wanted, found)).toBe(same);
  });
});
