// The operator's dashboard, its alerting policies and the log-based metrics they read, as files in
// this folder, in the API's own JSON shapes: metrics/NAME.json is the log-based metric NAME
// (https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics#LogMetric),
// dashboard.json the dashboard
// (https://cloud.google.com/monitoring/api/ref_v3/rest/v1/projects.dashboards#Dashboard), and
// each policies/*.json an alerting policy
// (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#AlertPolicy).
// The deploy hands the files to gcloud as they are (infra/deploy/plan-monitoring.ts); this module
// reads and checks them. What each one means: docs/operations.md#dashboard-and-alerts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type Json = Record<string, unknown>;

/** A log-based metric: its name is its file's name. */
export interface MetricDefinition {
  readonly name: string;
  readonly file: string;
  readonly body: Json;
}

/** The dashboard or an alerting policy: found again in the project by its display name. */
export interface MonitoringDefinition {
  readonly file: string;
  readonly displayName: string;
  readonly body: Json;
  /** The log-based metrics it reads (names), each defined in metrics/. */
  readonly metrics: readonly string[];
}

export interface MonitoringDefinitions {
  readonly metrics: readonly MetricDefinition[];
  readonly dashboard: MonitoringDefinition;
  readonly policies: readonly MonitoringDefinition[];
}

export type LoadResult =
  | { readonly ok: true; readonly definitions: MonitoringDefinitions }
  | { readonly ok: false; readonly problems: readonly string[] };

/** The folder `npm run deploy` reads unless --monitoring names another. */
export const MONITORING_DIR = 'infra/monitoring';

/**
 * A metric name that reads the same in a filter and in PromQL, where every character but letters,
 * digits and `_` becomes `_`; the API allows more
 * (https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics#LogMetric).
 */
const METRIC_NAME = /^[a-z][a-z0-9_]{0,99}$/;

/** PromQL names of a distribution metric's parts. */
const PROMQL_SUFFIXES = ['', '_sum', '_count', '_bucket'];

export function loadMonitoring(dir: string): LoadResult {
  const problems: string[] = [];
  const where = (file: string): string => path.relative(process.cwd(), file) || file;
  const read = (file: string): Json | undefined => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      problems.push(
        existsSync(file)
          ? `${where(file)}: not valid JSON (${(error as Error).message})`
          : `${where(file)} not found`,
      );
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`${where(file)}: not a JSON object`);
      return undefined;
    }
    return parsed as Json;
  };
  const files = (folder: string): string[] => {
    const full = path.join(dir, folder);
    if (!existsSync(full)) {
      problems.push(`${where(full)} not found`);
      return [];
    }
    return readdirSync(full)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => path.join(full, name));
  };

  const metrics: MetricDefinition[] = [];
  for (const file of files('metrics')) {
    const name = path.basename(file, '.json');
    const body = read(file);
    if (body === undefined) continue;
    if (!METRIC_NAME.test(name))
      problems.push(
        `${where(file)}: the metric name ${name} must be lowercase letters, digits and _`,
      );
    const descriptor = body.metricDescriptor as Json | undefined;
    if (typeof body.filter !== 'string' || typeof body.description !== 'string')
      problems.push(`${where(file)}: needs a filter and a description`);
    if (typeof descriptor?.metricKind !== 'string' || typeof descriptor.valueType !== 'string')
      problems.push(`${where(file)}: needs metricDescriptor.metricKind and valueType`);
    else if (
      (descriptor.valueType === 'DISTRIBUTION') !==
      (typeof body.valueExtractor === 'string')
    )
      problems.push(`${where(file)}: a DISTRIBUTION metric, and only one, has a valueExtractor`);
    metrics.push({ name, file, body });
  }
  const defined = new Set(metrics.map((metric) => metric.name));

  const definition = (file: string): MonitoringDefinition | undefined => {
    const body = read(file);
    if (body === undefined) return undefined;
    if (typeof body.displayName !== 'string' || body.displayName === '') {
      problems.push(`${where(file)}: needs a displayName (the deploy finds it again by it)`);
      return undefined;
    }
    for (const key of ['name', 'etag'])
      if (key in body) problems.push(`${where(file)}: no ${key}: the project gives it`);
    const used = userMetricsIn(body, defined);
    for (const unknown of used.unknown)
      problems.push(
        `${where(file)}: reads ${unknown}, which no file in ${where(path.join(dir, 'metrics'))} defines`,
      );
    return { file, displayName: body.displayName, body, metrics: used.known };
  };

  const dashboard = definition(path.join(dir, 'dashboard.json'));
  const policies: MonitoringDefinition[] = [];
  for (const file of files('policies')) {
    const policy = definition(file);
    if (policy === undefined) continue;
    if (!Array.isArray(policy.body.conditions) || policy.body.conditions.length === 0)
      problems.push(`${where(file)}: needs conditions`);
    if ('notificationChannels' in policy.body)
      problems.push(`${where(file)}: no notificationChannels: --alert-email sets them`);
    if (policies.some((other) => other.displayName === policy.displayName))
      problems.push(`${where(file)}: another policy is named ${policy.displayName}`);
    policies.push(policy);
  }
  if (problems.length > 0 || dashboard === undefined) return { ok: false, problems };
  return { ok: true, definitions: { metrics, dashboard, policies } };
}

/**
 * The log-based metrics a definition reads, in filters (`logging.googleapis.com/user/NAME`) and in
 * PromQL (`logging_googleapis_com:user_NAME`, with `_sum`, `_count` or `_bucket` for the parts of
 * a distribution): those among `defined`, and the names of the others.
 */
export function userMetricsIn(
  body: unknown,
  defined: ReadonlySet<string>,
): { known: string[]; unknown: string[] } {
  const text = JSON.stringify(body);
  const known = new Set<string>();
  const unknown = new Set<string>();
  for (const match of text.matchAll(/logging\.googleapis\.com\/user\/([\w.-]+)/g)) {
    const name = match[1] ?? '';
    (defined.has(name) ? known : unknown).add(name);
  }
  for (const match of text.matchAll(/logging_googleapis_com:user_(\w+)/g)) {
    const name = match[1] ?? '';
    const base = PROMQL_SUFFIXES.map((suffix) =>
      name.endsWith(suffix) ? name.slice(0, name.length - suffix.length) : undefined,
    ).find((candidate) => candidate !== undefined && defined.has(candidate));
    if (base === undefined) unknown.add(name);
    else known.add(base);
  }
  return { known: [...known].sort(), unknown: [...unknown].sort() };
}
