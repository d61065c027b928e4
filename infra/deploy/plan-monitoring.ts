// The operator's dashboard and alerts in the plan: the log-based metrics, the dashboard and the
// alerting policies of infra/monitoring/ (infra/monitoring/definitions.ts), and with
// --alert-email the email notification channel they notify. Each file goes to gcloud as it is:
// `logging metrics create|update NAME --config-from-file`, `monitoring dashboards create|update
// --config-from-file`, and `alpha monitoring policies create|update --policy-from-file` (gcloud
// has alerting policies in alpha only; channels in beta). A resource is created when missing and
// updated only when a field its file sets differs from what the project holds (sameDefinition).
import type { PlanContext } from './plan.ts';

export function planMonitoring(ctx: PlanContext): void {
  const { monitoring, runPeriodSeconds } = ctx.desired;
  const observed = ctx.state.monitoring;

  for (const metric of monitoring.metrics) {
    const found = observed.metrics[metric.name];
    const args = [`--config-from-file=${metric.file}`];
    if (found === undefined)
      ctx.gcloud(`Create log-based metric ${metric.name}`, [
        'logging',
        'metrics',
        'create',
        metric.name,
        ...args,
      ]);
    else if (!sameDefinition(metric.body, found))
      ctx.gcloud(`Update log-based metric ${metric.name} (its definition changed)`, [
        'logging',
        'metrics',
        'update',
        metric.name,
        ...args,
      ]);
  }

  const { dashboard } = monitoring;
  const dashboards = observed.dashboards.filter((d) => d.displayName === dashboard.displayName);
  const shown = dashboards[0];
  if (shown === undefined)
    ctx.gcloud(`Create dashboard "${dashboard.displayName}"`, [
      'monitoring',
      'dashboards',
      'create',
      `--config-from-file=${dashboard.file}`,
    ]);
  else if (!sameDefinition(dashboard.body, shown.body))
    ctx.gcloud(`Update dashboard "${dashboard.displayName}" (its definition changed)`, [
      'monitoring',
      'dashboards',
      'update',
      shown.id,
      `--config-from-file=${dashboard.file}`,
    ]);
  if (dashboards.length > 1)
    ctx.note(
      `${dashboards.length} dashboards are named "${dashboard.displayName}": the deploy keeps ${shown?.id ?? ''} and leaves the others alone`,
    );

  const email = monitoring.alertEmail;
  const channel =
    email === undefined ? undefined : observed.emailChannels.find((c) => c.email === email);
  if (email !== undefined && channel === undefined)
    ctx.gcloud(`Create the email notification channel for ${email}`, [
      'beta',
      'monitoring',
      'channels',
      'create',
      '--type=email',
      `--display-name=consent-vault alerts: ${email}`,
      `--channel-labels=email_address=${email}`,
    ]);
  const ours =
    email === undefined ? [] : [channel?.id ?? `<the notification channel for ${email}>`];

  for (const policy of monitoring.policies) {
    const all = observed.policies.filter((p) => p.displayName === policy.displayName);
    const found = all[0];
    // The operator's own channels stay: a policy is replaced whole from its file.
    const channels = [...new Set([...(found?.channels ?? []), ...ours])];
    const pending =
      email !== undefined && channel === undefined
        ? { pending: `the notification channel for ${email}` }
        : policy.metrics.some((name) => observed.metrics[name] === undefined)
          ? { pending: 'each log-based metric it reads' }
          : {};
    // Monitoring may answer NOT_FOUND for a log-based metric created moments before.
    const extra = { ...pending, retriable: true };
    const file = `--policy-from-file=${policy.file}`;
    if (found === undefined)
      ctx.gcloud(
        `Create alerting policy "${policy.displayName}"`,
        [
          'alpha',
          'monitoring',
          'policies',
          'create',
          file,
          ...(channels.length > 0 ? [`--notification-channels=${channels.join(',')}`] : []),
        ],
        extra,
      );
    else if (
      !sameDefinition(policy.body, found.body) ||
      ours.some((id) => !found.channels.includes(id))
    )
      ctx.gcloud(
        `Update alerting policy "${policy.displayName}" (${sameDefinition(policy.body, found.body) ? `notify ${email ?? ''}` : 'its definition changed'})`,
        [
          'alpha',
          'monitoring',
          'policies',
          'update',
          found.id,
          file,
          ...(channels.length > 0 ? [`--set-notification-channels=${channels.join(',')}`] : []),
        ],
        extra,
      );
    if (all.length > 1)
      ctx.note(
        `${all.length} alerting policies are named "${policy.displayName}": the deploy keeps ${found?.id ?? ''} and leaves the others alone`,
      );
    for (const deadline of runDeadlines(policy.body))
      if (deadline >= runPeriodSeconds)
        ctx.note(
          `${policy.file}: its deadline of ${deadline} s is not shorter than RUN_PERIOD_SECONDS=${runPeriodSeconds}: shorten it in the file`,
        );
  }
}

/** Deadlines a policy checks, in seconds since a run started (`runElapsedSeconds>N`). */
export function runDeadlines(body: unknown): number[] {
  return [...JSON.stringify(body).matchAll(/runElapsedSeconds\s*>\s*(\d+)/g)].map((m) =>
    Number(m[1]),
  );
}

/**
 * Whether what the project holds has every field a definition sets, with the same value: the API
 * adds names, etags, timestamps and defaults of its own (the dashboards API, for one, fills in
 * chart defaults and leaves out zero tile positions), so the comparison goes one way. A value of
 * the kind proto3 leaves out when it is zero (0, false, '', '0s', [] or {}) matches a missing one.
 * Numbers match their decimal strings (int64 fields are strings in JSON).
 */
export function sameDefinition(wanted: unknown, found: unknown): boolean {
  if (found === undefined || found === null) return isZero(wanted);
  if (Array.isArray(wanted))
    return (
      Array.isArray(found) &&
      found.length === wanted.length &&
      wanted.every((item, i) => sameDefinition(item, found[i]))
    );
  if (typeof wanted === 'object' && wanted !== null)
    return (
      typeof found === 'object' &&
      !Array.isArray(found) &&
      Object.entries(wanted).every(([key, value]) =>
        sameDefinition(value, (found as Record<string, unknown>)[key]),
      )
    );
  if (typeof wanted === 'number' && typeof found === 'string') return String(wanted) === found;
  return wanted === found;
}

function isZero(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value).every(isZero);
  return value === 0 || value === false || value === '' || value === '0s';
}
